"""EC2 describe filters that moto 5.2.5 drops, applied as AWS applies them.

moto's DescribeVpcPeeringConnections ignores ``Filters`` and returns every peering
connection, so a lab looking for its own by tag would find a stranger's too.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.responses.vpc_peering_connections import VPCPeeringConnections


def _peering_values(pcx, name: str) -> list[str]:
    if name.startswith("tag:"):
        key = name[4:]
        return [t["value"] for t in pcx.get_tags() if t["key"] == key]
    return {
        "status-code": [pcx._status.code],
        "vpc-peering-connection-id": [pcx.id],
        "requester-vpc-info.vpc-id": [pcx.vpc.id],
        "accepter-vpc-info.vpc-id": [pcx.peer_vpc.id],
    }.get(name, [])


def _matches(pcx, filters: dict) -> bool:
    # AWS: every filter must match; within one filter, any of its values.
    return all(set(_peering_values(pcx, name)) & set(values) for name, values in filters.items())


def install() -> None:
    original = VPCPeeringConnections.describe_vpc_peering_connections

    def describe_with_filters(self):
        result = original(self)
        filters = self._filters_from_querystring()
        if not filters:
            return result
        found = result.result["VpcPeeringConnections"]
        return ActionResult({"VpcPeeringConnections": [p for p in found if _matches(p, filters)]})

    VPCPeeringConnections.describe_vpc_peering_connections = describe_with_filters
