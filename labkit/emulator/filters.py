"""EC2 describe filters that moto 5.2.5 drops, applied to its answer as AWS applies them.

moto's DescribeVpcPeeringConnections ignores ``Filters`` and returns every peering
connection, so a lab looking for its own by tag would find a stranger's too. An
``after`` hook removes from moto's XML answer the connections the filters exclude.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from labkit.emulator.awsproto import Call
from labkit.emulator.hooks import after

_NS = "http://ec2.amazonaws.com/doc/2016-11-15"
_FILTER_NAME = re.compile(r"^Filter\.(\d+)\.Name$")
# filter name -> path of its value inside one <item> of vpcPeeringConnectionSet
_PEERING_PATHS = {
    "status-code": "status/code",
    "vpc-peering-connection-id": "vpcPeeringConnectionId",
    "requester-vpc-info.vpc-id": "requesterVpcInfo/vpcId",
    "requester-vpc-info.cidr-block": "requesterVpcInfo/cidrBlock",
    "requester-vpc-info.owner-id": "requesterVpcInfo/ownerId",
    "accepter-vpc-info.vpc-id": "accepterVpcInfo/vpcId",
    "accepter-vpc-info.cidr-block": "accepterVpcInfo/cidrBlock",
    "accepter-vpc-info.owner-id": "accepterVpcInfo/ownerId",
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


def _q(path: str) -> str:
    return "/".join(f"{{{_NS}}}{step}" for step in path.split("/"))


def _values(item: ET.Element, name: str) -> set[str]:
    if name.startswith("tag:"):
        key = name[4:]
        return {tag.findtext(_q("value"), "") for tag in item.iterfind(_q("tagSet/item"))
                if tag.findtext(_q("key")) == key}
    if name == "tag-key":
        return {tag.findtext(_q("key"), "") for tag in item.iterfind(_q("tagSet/item"))}
    path = _PEERING_PATHS.get(name)
    return {item.findtext(_q(path), "")} if path else set()


@after("ec2", "DescribeVpcPeeringConnections")
def filter_peering_connections(call: Call, body: bytes) -> bytes | None:
    # AWS: every filter must match; within one filter, any of its values.
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
