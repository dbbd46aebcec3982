"""EC2 Describe filters as AWS applies them: unknown names refused, peering filters honoured.

Every EC2 ``Describe*`` call that moto answers checks its filter names against the list the EC2 API
reference documents for it (botocore's model carries that text): an unknown name is refused with
``InvalidParameterValue`` "The filter '<name>' is invalid", AWS's answer (e.g. boto3 issue #1299,
``public-ip`` on DescribeInstances). ``tag:<key>`` is valid wherever ``tag`` is documented.

moto 5.2.5's DescribeVpcPeeringConnections ignores ``Filters`` and returns every peering connection,
so a lab looking for its own by tag would find a stranger's too. An ``after`` hook removes from moto's
XML answer the connections the filters exclude, for every filter the reference lists.
"""

from __future__ import annotations

import functools
import html
import re
import xml.etree.ElementTree as ET

from labkit.emulator import moto_adapter
from labkit.emulator.awsproto import AwsError, Call
from labkit.emulator.hooks import after, before

_NS = "http://ec2.amazonaws.com/doc/2016-11-15"
_FILTER_NAME = re.compile(r"^Filter\.(\d+)\.Name$")
_DOCUMENTED = re.compile(r"<li>\s*<p>\s*<code>([^<]+)</code>")
_TAG = "tag:<key>"
# filter name -> paths of its values inside one <item> of vpcPeeringConnectionSet
_PEERING_PATHS = {
    "status-code": ("status/code",),
    "status-message": ("status/message",),
    "expiration-time": ("expirationTime",),
    "vpc-peering-connection-id": ("vpcPeeringConnectionId",),
    "requester-vpc-info.vpc-id": ("requesterVpcInfo/vpcId",),
    "requester-vpc-info.cidr-block": ("requesterVpcInfo/cidrBlock",
                                      "requesterVpcInfo/cidrBlockSet/item/cidrBlock"),
    "requester-vpc-info.owner-id": ("requesterVpcInfo/ownerId",),
    "accepter-vpc-info.vpc-id": ("accepterVpcInfo/vpcId",),
    "accepter-vpc-info.cidr-block": ("accepterVpcInfo/cidrBlock",
                                     "accepterVpcInfo/cidrBlockSet/item/cidrBlock"),
    "accepter-vpc-info.owner-id": ("accepterVpcInfo/ownerId",),
}


def filters_of(params: dict) -> dict[str, set[str]]:
    """``Filter.N.Name`` / ``Filter.N.Value.M`` query parameters -> {name: values}."""
    found: dict[str, set[str]] = {}
    for key, name in params.items():
        m = _FILTER_NAME.match(key)
        if m:
            prefix = f"Filter.{m.group(1)}.Value."
            found.setdefault(name, set()).update(v for k, v in params.items() if k.startswith(prefix))
    return found


@functools.cache
def documented_filters(operation: str) -> frozenset[str]:
    """The filter names the EC2 API reference lists for ``operation`` (empty when it lists none)."""
    shape = _ec2_model().operation_model(operation).input_shape
    member = next((shape.members[m] for m in ("Filters", "Filter") if shape and m in shape.members), None)
    if member is None:
        return frozenset()
    # The reference lists the tag filter as "tag" or "tag:<key>": either way its name is "tag:<key>".
    names = {html.unescape(n).strip() for n in _DOCUMENTED.findall(member.documentation or "")}
    return frozenset(_TAG if n == "tag" or n.startswith("tag:") else n for n in names)


def is_documented(operation: str, name: str) -> bool:
    known = documented_filters(operation)
    if name.startswith("tag:") and len(name) > 4:
        return _TAG in known
    return name in known and name != _TAG


def check_filter_names(call: Call) -> None:
    """Refuse, as AWS does, a filter name the reference does not list for this call."""
    for name in filters_of(call.params):
        if not is_documented(call.operation, name):
            raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")


@functools.cache
def _ec2_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("ec2")


def _register_filter_checks() -> None:
    for operation in _ec2_model().operation_names:
        if operation.startswith("Describe") and documented_filters(operation) \
                and moto_adapter.implements("ec2", operation):
            before("ec2", operation)(_refuse_unknown_filters)


def _refuse_unknown_filters(call: Call) -> None:
    check_filter_names(call)


def _q(path: str) -> str:
    return "/".join(f"{{{_NS}}}{step}" for step in path.split("/"))


def _values(item: ET.Element, name: str) -> set[str]:
    if name.startswith("tag:"):
        key = name[4:]
        return {tag.findtext(_q("value"), "") for tag in item.iterfind(_q("tagSet/item"))
                if tag.findtext(_q("key")) == key}
    if name == "tag-key":
        return {tag.findtext(_q("key"), "") for tag in item.iterfind(_q("tagSet/item"))}
    return {found.text or "" for path in _PEERING_PATHS[name] for found in item.iterfind(_q(path))}


@after("ec2", "DescribeVpcPeeringConnections")
def filter_peering_connections(call: Call, body: bytes) -> bytes | None:
    # AWS: every filter must match; within one filter, any of its values. Names were checked before.
    filters = filters_of(call.params)
    if not filters:
        return None
    ET.register_namespace("", _NS)
    root = ET.fromstring(body)
    found = root.find(_q("vpcPeeringConnectionSet"))
    if found is None:
        return None
    for item in list(found):
        if not all(_values(item, name) & values for name, values in filters.items()):
            found.remove(item)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


_register_filter_checks()
