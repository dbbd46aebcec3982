"""The lab's real topology, built in moto, as plain describe-response dicts.

``lab_describe()`` creates what notebooks 1-5 create (two VPCs, a public
subnet and an internet gateway each, security groups allowing ICMP from the
peer CIDR, one instance each with a public IP, an accepted peering with routes
both ways) and returns the boto3 ``Describe*`` responses the network model
reads, plus the ids, so tests can prove the model on real response shapes.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

OPERATIONS = {
    "DescribeVpcs": "describe_vpcs",
    "DescribeSubnets": "describe_subnets",
    "DescribeRouteTables": "describe_route_tables",
    "DescribeInternetGateways": "describe_internet_gateways",
    "DescribeVpcPeeringConnections": "describe_vpc_peering_connections",
    "DescribeSecurityGroups": "describe_security_groups",
    "DescribeNetworkAcls": "describe_network_acls",
    "DescribeNetworkInterfaces": "describe_network_interfaces",
    "DescribeInstances": "describe_instances",
}

IP1, IP2 = "10.0.1.10", "192.168.1.20"


@dataclass(frozen=True)
class LabFixture:
    responses: dict
    ids: dict  # vpc1, vpc2, subnet1, subnet2, igw1, igw2, rtb1, rtb2, sg1, sg2, pcx, i1, i2


def lab_describe(*, accept_peering: bool = True, peer_route_sides: tuple = (1, 2)) -> LabFixture:
    """A fresh copy of the lab's describe responses (built once per argument set)."""
    built = _build(accept_peering, tuple(peer_route_sides))
    return LabFixture(copy.deepcopy(built.responses), dict(built.ids))


@functools.lru_cache(maxsize=8)
def _build(accept_peering: bool, peer_route_sides: tuple) -> LabFixture:
    import boto3
    from moto import mock_aws

    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ids: dict[str, str] = {}
        sides = {
            1: ("10.0.0.0/16", "10.0.1.0/24", IP1),
            2: ("192.168.0.0/16", "192.168.1.0/24", IP2),
        }
        for n, (cidr, subnet_cidr, _ip) in sides.items():
            vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
            igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
            rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
            ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
            ids.update({f"vpc{n}": vpc, f"subnet{n}": subnet, f"igw{n}": igw, f"rtb{n}": rtb})
        for n, other in ((1, 2), (2, 1)):
            sg = ec2.create_security_group(
                GroupName=f"lab-vpc{n}-sg",
                Description="ICMP from the peer VPC",
                VpcId=ids[f"vpc{n}"],
            )["GroupId"]
            ec2.authorize_security_group_ingress(
                GroupId=sg,
                IpPermissions=[
                    {
                        "IpProtocol": "icmp",
                        "FromPort": -1,
                        "ToPort": -1,
                        "IpRanges": [{"CidrIp": sides[other][0], "Description": "peer VPC"}],
                    }
                ],
            )
            ids[f"sg{n}"] = sg
        for n, (_cidr, _subnet, ip) in sides.items():
            reservation = ec2.run_instances(
                ImageId="ami-12345678",
                MinCount=1,
                MaxCount=1,
                InstanceType="t3.micro",
                NetworkInterfaces=[
                    {
                        "DeviceIndex": 0,
                        "SubnetId": ids[f"subnet{n}"],
                        "Groups": [ids[f"sg{n}"]],
                        "PrivateIpAddress": ip,
                        "AssociatePublicIpAddress": True,
                    }
                ],
            )
            ids[f"i{n}"] = reservation["Instances"][0]["InstanceId"]
            ids[f"eni{n}"] = reservation["Instances"][0]["NetworkInterfaces"][0][
                "NetworkInterfaceId"
            ]
        pcx = ec2.create_vpc_peering_connection(VpcId=ids["vpc1"], PeerVpcId=ids["vpc2"])
        ids["pcx"] = pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        if accept_peering:
            ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=ids["pcx"])
        for n, other in ((1, 2), (2, 1)):
            if n in peer_route_sides:
                ec2.create_route(
                    RouteTableId=ids[f"rtb{n}"],
                    DestinationCidrBlock=sides[other][0],
                    VpcPeeringConnectionId=ids["pcx"],
                )
        responses = {}
        for op, method in OPERATIONS.items():
            response = getattr(ec2, method)()
            response.pop("ResponseMetadata", None)
            responses[op] = response
    return LabFixture(responses, ids)


# ---- a hand-written single VPC, shaped like the AWS flow-log examples ----------------

HOME = "203.0.113.12"  # "your home computer" in the AWS examples
PRIVATE, PUBLIC = "172.31.16.139", "198.51.100.7"
ALLOW_ALL = [
    {
        "RuleNumber": 100,
        "Protocol": "-1",
        "RuleAction": "allow",
        "Egress": e,
        "CidrBlock": "0.0.0.0/0",
    }
    for e in (True, False)
]
DENY_ALL = [
    {
        "RuleNumber": 32767,
        "Protocol": "-1",
        "RuleAction": "deny",
        "Egress": e,
        "CidrBlock": "0.0.0.0/0",
    }
    for e in (True, False)
]


def single_vpc_describe(
    *,
    sg_inbound: list | None = None,
    sg_outbound: list | None = None,
    nacl_entries: list | None = None,
    public_ip: str | None = PUBLIC,
) -> dict:
    """One VPC (172.31.0.0/16), one subnet, an IGW route, one instance at 172.31.16.139.

    Defaults: the security group allows ICMP in from anywhere and everything
    out; the subnet uses the VPC's default network ACL (allow all) through
    the implicit association, and the VPC's main route table.
    """
    icmp_in = [
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]
    all_out = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    eni = {
        "NetworkInterfaceId": "eni-1235b8ca123456789",
        "SubnetId": "subnet-aaaaaaaa012345678",
        "VpcId": "vpc-abcdefab012345678",
        "PrivateIpAddress": PRIVATE,
        "Groups": [{"GroupId": "sg-123", "GroupName": "web"}],
        "Attachment": {"InstanceId": "i-01234567890123456", "DeviceIndex": 0},
    }
    if public_ip:
        eni["Association"] = {"PublicIp": public_ip}
    return {
        "DescribeVpcs": {
            "Vpcs": [{"VpcId": "vpc-abcdefab012345678", "CidrBlock": "172.31.0.0/16"}]
        },
        "DescribeSubnets": {
            "Subnets": [
                {
                    "SubnetId": "subnet-aaaaaaaa012345678",
                    "VpcId": "vpc-abcdefab012345678",
                    "CidrBlock": "172.31.16.0/20",
                    "AvailabilityZone": "us-east-1a",
                }
            ]
        },
        "DescribeRouteTables": {
            "RouteTables": [
                {
                    "RouteTableId": "rtb-1",
                    "VpcId": "vpc-abcdefab012345678",
                    "Associations": [{"Main": True, "RouteTableId": "rtb-1"}],
                    "Routes": [
                        {
                            "DestinationCidrBlock": "172.31.0.0/16",
                            "GatewayId": "local",
                            "State": "active",
                        },
                        {
                            "DestinationCidrBlock": "0.0.0.0/0",
                            "GatewayId": "igw-1",
                            "State": "active",
                        },
                    ],
                }
            ]
        },
        "DescribeInternetGateways": {
            "InternetGateways": [
                {
                    "InternetGatewayId": "igw-1",
                    "Attachments": [{"VpcId": "vpc-abcdefab012345678", "State": "available"}],
                }
            ]
        },
        "DescribeSecurityGroups": {
            "SecurityGroups": [
                {
                    "GroupId": "sg-123",
                    "VpcId": "vpc-abcdefab012345678",
                    "IpPermissions": icmp_in if sg_inbound is None else sg_inbound,
                    "IpPermissionsEgress": all_out if sg_outbound is None else sg_outbound,
                }
            ]
        },
        "DescribeNetworkAcls": {
            "NetworkAcls": [
                {
                    "NetworkAclId": "acl-1",
                    "VpcId": "vpc-abcdefab012345678",
                    "IsDefault": True,
                    "Associations": [],
                    "Entries": (ALLOW_ALL if nacl_entries is None else nacl_entries) + DENY_ALL,
                }
            ]
        },
        "DescribeNetworkInterfaces": {"NetworkInterfaces": [eni]},
        "DescribeInstances": {
            "Reservations": [
                {
                    "Instances": [
                        {
                            "InstanceId": "i-01234567890123456",
                            "State": {"Name": "running"},
                            "InstanceType": "t3.micro",
                            "NetworkInterfaces": [eni],
                        }
                    ]
                }
            ]
        },
    }
