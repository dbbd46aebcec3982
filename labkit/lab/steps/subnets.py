"""Step 2: a public subnet in each VPC, an internet gateway, and a route table sending 0.0.0.0/0 to it."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.lab.names import SUBNET_CIDRS
from labkit.lab.steps.common import check, find_or_create, say
from labkit.lab.steps.once import once_per_build
from labkit.lab.steps.vpcs import Vpc, ensure_vpcs
from labkit.lab.tags import lab_filter, tag_spec


@dataclass(frozen=True)
class PublicSubnet:
    """A public subnet with its internet gateway and the route table sending 0.0.0.0/0 there."""

    role: str
    vpc: Vpc
    subnet_id: str
    cidr: str
    az: str
    igw_id: str
    route_table_id: str


@dataclass(frozen=True)
class PublicSubnets:
    """The public subnet of each VPC."""

    subnet1: PublicSubnet
    subnet2: PublicSubnet


def _first_zone(lab) -> str:
    zones = lab.client("ec2").describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
    return sorted(z["ZoneName"] for z in zones)[0]


def ensure_public_subnet(lab, vpc: Vpc, quiet: bool = False) -> PublicSubnet:
    ec2 = lab.client("ec2")
    n = vpc.role[-1]
    cidr = SUBNET_CIDRS[vpc.role]

    subnet, created = find_or_create(
        lab, f"subnet{n}",
        find=lambda: ec2.describe_subnets(Filters=lab_filter(lab.name, f"subnet{n}"))["Subnets"],
        create=lambda: ec2.create_subnet(
            VpcId=vpc.id, CidrBlock=cidr, AvailabilityZone=_first_zone(lab),
            TagSpecifications=tag_spec("subnet", lab.name, f"subnet{n}"))["Subnet"],
    )
    if not subnet.get("MapPublicIpOnLaunch"):
        ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    say(quiet, f"subnet {n} (public)", subnet["SubnetId"], f"{cidr} in {subnet['AvailabilityZone']}",
        created)

    igw, created = find_or_create(
        lab, f"igw{n}",
        find=lambda: ec2.describe_internet_gateways(
            Filters=lab_filter(lab.name, f"igw{n}"))["InternetGateways"],
        create=lambda: ec2.create_internet_gateway(
            TagSpecifications=tag_spec("internet-gateway", lab.name, f"igw{n}"))["InternetGateway"],
    )
    igw_id = igw["InternetGatewayId"]
    if not any(a.get("VpcId") == vpc.id for a in igw.get("Attachments", [])):
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc.id)
    say(quiet, f"internet gateway {n}", igw_id, f"attached to {vpc.id}", created)

    table, created = find_or_create(
        lab, f"rtb{n}",
        find=lambda: ec2.describe_route_tables(Filters=lab_filter(lab.name, f"rtb{n}"))["RouteTables"],
        create=lambda: ec2.create_route_table(
            VpcId=vpc.id, TagSpecifications=tag_spec("route-table", lab.name, f"rtb{n}"))["RouteTable"],
    )
    rtb_id = table["RouteTableId"]
    if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table.get("Routes", [])):
        ec2.create_route(RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    if not any(a.get("SubnetId") == subnet["SubnetId"] for a in table.get("Associations", [])):
        ec2.associate_route_table(RouteTableId=rtb_id, SubnetId=subnet["SubnetId"])
    say(quiet, f"route table {n}", rtb_id, f"0.0.0.0/0 -> {igw_id}", created)

    _on_default_network_acl(lab, vpc.id, subnet["SubnetId"])
    _check_routes(lab, rtb_id, subnet["SubnetId"], igw_id)
    return PublicSubnet(f"subnet{n}", vpc, subnet["SubnetId"], cidr, subnet["AvailabilityZone"],
                        igw_id, rtb_id)


def _on_default_network_acl(lab, vpc_id: str, subnet_id: str) -> None:
    """The lab's subnets use their VPC's default network ACL (allow all), so a custom ACL planted
    while troubleshooting is undone by running this step again."""
    ec2 = lab.client("ec2")
    current = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"]
    if current and current[0].get("IsDefault"):
        return
    default = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                 {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    check(bool(default), f"{vpc_id} has no default network ACL")
    association = next(a["NetworkAclAssociationId"] for a in current[0]["Associations"]
                       if a["SubnetId"] == subnet_id)
    lab.require_write(f"putting {subnet_id} back on its VPC's default network ACL")
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=default[0]["NetworkAclId"])


def _check_routes(lab, rtb_id: str, subnet_id: str, igw_id: str) -> None:
    table = lab.client("ec2").describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]
    default = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    check(bool(default) and default[0].get("GatewayId") == igw_id,
          f"{rtb_id} has no route 0.0.0.0/0 -> {igw_id}")
    check(any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])),
          f"{rtb_id} is not associated with {subnet_id}")


@once_per_build
def ensure_public_subnets(lab, quiet: bool = False) -> PublicSubnets:
    """A public subnet, internet gateway and route table in each VPC, found by tag or created."""
    vpcs = ensure_vpcs(lab, quiet=True)
    return PublicSubnets(ensure_public_subnet(lab, vpcs.vpc1, quiet),
                         ensure_public_subnet(lab, vpcs.vpc2, quiet))
