"""Step 1: two VPCs whose address ranges do not overlap, so that they can be peered."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.lab.names import VPC_CIDRS
from labkit.lab.steps.common import check, find_or_create, say
from labkit.lab.steps.once import once_per_build
from labkit.lab.tags import lab_filter, tag_spec


@dataclass(frozen=True)
class Vpc:
    """One lab VPC: its role (vpc1 or vpc2), id and address range."""

    role: str
    id: str
    cidr: str


@dataclass(frozen=True)
class Vpcs:
    """The lab's two VPCs."""

    vpc1: Vpc
    vpc2: Vpc


def ensure_vpc(lab, role: str, quiet: bool = False) -> Vpc:
    ec2 = lab.client("ec2")
    cidr = VPC_CIDRS[role]
    vpc, created = find_or_create(
        lab, f"VPC {role}",
        find=lambda: ec2.describe_vpcs(Filters=lab_filter(lab.name, role))["Vpcs"],
        create=lambda: ec2.create_vpc(
            CidrBlock=cidr, TagSpecifications=tag_spec("vpc", lab.name, role))["Vpc"],
    )
    if created:
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]])
    # Instances need DNS hostnames for SSM's endpoints to resolve in a custom VPC; a VPC made in
    # the notebook (or by hand) without them is adopted and given them here.
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
    if not hostnames["EnableDnsHostnames"]["Value"]:
        ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True})
    check(vpc["CidrBlock"] == cidr,
          f"{vpc['VpcId']} has CIDR {vpc['CidrBlock']}, expected {cidr}")
    say(quiet, f"VPC {role[-1]}", vpc["VpcId"], cidr, created)
    return Vpc(role, vpc["VpcId"], cidr)


@once_per_build
def ensure_vpcs(lab, quiet: bool = False) -> Vpcs:
    """VPC 1 10.0.0.0/16 and VPC 2 192.168.0.0/16, found by tag or created."""
    return Vpcs(ensure_vpc(lab, "vpc1", quiet), ensure_vpc(lab, "vpc2", quiet))
