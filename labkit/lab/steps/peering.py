"""Step 4: peer the two VPCs, accept, and route each VPC's traffic for the other through the pcx-."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.errors import LabError
from labkit.lab.steps.common import check, find_or_create, say
from labkit.lab.steps.once import once_per_build
from labkit.lab.steps.subnets import ensure_public_subnets
from labkit.lab.tags import lab_filter, tag_spec
from labkit.lab.wait import Pace, Pending, wait_until

USABLE = ["pending-acceptance", "active", "provisioning", "initiating-request"]
ACTIVE_PACE = Pace(timeout_s=120, interval_s=0.05, live_interval_s=2)


@dataclass(frozen=True)
class Peering:
    """The peering connection between the two VPCs, and its status."""

    id: str
    status: str
    requester_vpc: str
    accepter_vpc: str


@once_per_build
def ensure_peering(lab, quiet: bool = False) -> Peering:
    """The peering connection, found by tag or requested and accepted, and a route to it each way."""
    ec2 = lab.client("ec2")
    subnets = ensure_public_subnets(lab, quiet=True)
    vpc1, vpc2 = subnets.subnet1.vpc, subnets.subnet2.vpc

    def find():
        filters = [*lab_filter(lab.name, "pcx"), {"Name": "status-code", "Values": USABLE}]
        return ec2.describe_vpc_peering_connections(Filters=filters)["VpcPeeringConnections"]

    pcx, created = find_or_create(
        lab, "peering", find,
        create=lambda: ec2.create_vpc_peering_connection(
            VpcId=vpc1.id, PeerVpcId=vpc2.id,
            TagSpecifications=tag_spec("vpc-peering-connection", lab.name, "pcx"),
        )["VpcPeeringConnection"],
    )
    pcx_id = pcx["VpcPeeringConnectionId"]
    status = wait_for_peering(lab, pcx_id, quiet=quiet)
    say(quiet, "peering", pcx_id, f"{vpc1.id} <-> {vpc2.id} {status}", created)

    for subnet, peer in ((subnets.subnet1, vpc2), (subnets.subnet2, vpc1)):
        routes = ec2.describe_route_tables(RouteTableIds=[subnet.route_table_id])["RouteTables"][0]
        to_peer = [r for r in routes["Routes"] if r.get("DestinationCidrBlock") == peer.cidr]
        if not to_peer:
            ec2.create_route(RouteTableId=subnet.route_table_id, DestinationCidrBlock=peer.cidr,
                             VpcPeeringConnectionId=pcx_id)
        elif to_peer[0].get("VpcPeeringConnectionId") != pcx_id:
            # A route left pointing at an older (deleted) peering: a black hole until replaced.
            ec2.replace_route(RouteTableId=subnet.route_table_id, DestinationCidrBlock=peer.cidr,
                              VpcPeeringConnectionId=pcx_id)
        say(quiet, f"route in {subnet.route_table_id[:12]}", f"{peer.cidr}", f"-> {pcx_id}", None)
        after = ec2.describe_route_tables(RouteTableIds=[subnet.route_table_id])["RouteTables"][0]
        check(any(r.get("DestinationCidrBlock") == peer.cidr
                  and r.get("VpcPeeringConnectionId") == pcx_id for r in after["Routes"]),
              f"{subnet.route_table_id} has no route {peer.cidr} -> {pcx_id}")
    return Peering(pcx_id, status, vpc1.id, vpc2.id)


def wait_for_peering(lab, pcx_id: str, timeout_s: float | None = None, quiet: bool = False) -> str:
    """Accept the request if it is pending, and wait (with progress) until it is active."""
    ec2 = lab.client("ec2")

    def active():
        found = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])
        status = found["VpcPeeringConnections"][0]["Status"]
        code = status["Code"]
        if code == "active":
            return code
        if code == "pending-acceptance":
            ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
        elif code not in USABLE:
            raise LabError(f"peering {pcx_id} is {code}: {status.get('Message', '')}")
        return Pending(code)

    return wait_until(active, mode=lab.mode, pace=ACTIVE_PACE, timeout_s=timeout_s, progress=not quiet,
                      done="active", what=f"peering {pcx_id}",
                      advice="see its status message (DescribeVpcPeeringConnections)")
