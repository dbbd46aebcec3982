"""IAM ``ListInstanceProfileTags``, which moto 5.2.5 lacks (it has TagInstanceProfile and
UntagInstanceProfile, and keeps the tags that CreateInstanceProfile is given).

As the IAM API reference says: "The returned list of tags is sorted by tag key", pages follow
``MaxItems`` (100 by default) and ``Marker``, and an unknown profile is ``NoSuchEntity``
("Instance Profile <name> cannot be found.", IAM's wording). The answer is IAM's query-protocol XML.
"""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from labkit.emulator import moto_adapter, paging
from labkit.emulator.awsproto import AwsError, Call
from labkit.emulator.hooks import before

_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


@before("iam", "ListInstanceProfileTags")
def list_instance_profile_tags(call: Call):
    name = call.params.get("InstanceProfileName", "")
    tags = moto_adapter.instance_profile_tags(name)
    if tags is None:
        raise AwsError("NoSuchEntity", f"Instance Profile {name} cannot be found.", 404)
    ordered = sorted(tags, key=lambda tag: tag["Key"])
    shown, marker = paging.page(ordered, call.params.get("Marker"), int(call.params.get("MaxItems") or 100),
                                code="InvalidInput")
    members = "".join(f"<member><Key>{escape(t['Key'])}</Key><Value>{escape(t['Value'])}</Value></member>"
                      for t in shown)
    more = f"<Marker>{marker}</Marker>" if marker else ""
    request_id = str(uuid.uuid4())
    body = (
        f'<ListInstanceProfileTagsResponse xmlns="{_NS}"><ListInstanceProfileTagsResult>'
        f"<IsTruncated>{'true' if marker else 'false'}</IsTruncated>{more}<Tags>{members}</Tags>"
        f"</ListInstanceProfileTagsResult><ResponseMetadata><RequestId>{request_id}</RequestId>"
        "</ResponseMetadata></ListInstanceProfileTagsResponse>"
    ).encode()
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id),
               ("Content-Length", str(len(body)))]
    return "200 OK", headers, body
