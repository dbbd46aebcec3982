"""Step 3a: a security group per VPC that lets ICMP in from the peer VPC only, and no SSH at all.

The seed guide allowed ICMP from anywhere (0.0.0.0/0). ``icmp_from="anywhere"``
builds that first so the learner can see it, then the default tightens it.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from labkit.lab.names import VPC_CIDRS
from labkit.lab.steps.common import check, find_or_create, say
from labkit.lab.steps.vpcs import Vpc
from labkit.lab.tags import lab_filter, tag_spec


@dataclass(frozen=True)
class SecurityGroup:
    """A lab security group and where it lets ICMP in from."""

    role: str
    id: str
    vpc_id: str
    icmp_from: str


def _icmp_rules(group: dict) -> list[str]:
    return [r["CidrIp"] for p in group.get("IpPermissions", []) if p.get("IpProtocol") == "icmp"
            for r in p.get("IpRanges", [])]


def ensure_security_group(lab, vpc: Vpc, icmp_from: str = "peer", quiet: bool = False) -> SecurityGroup:
    """The VPC's security group, letting ICMP in from the peer VPC (or from ``"anywhere"``), no SSH."""
    ec2 = lab.client("ec2")
    n = vpc.role[-1]
    peer_cidr = VPC_CIDRS["vpc2" if vpc.role == "vpc1" else "vpc1"]
    wanted = "0.0.0.0/0" if icmp_from == "anywhere" else peer_cidr
    group, created = find_or_create(
        lab, f"sg{n}",
        find=lambda: ec2.describe_security_groups(
            Filters=lab_filter(lab.name, f"sg{n}"))["SecurityGroups"],
        create=lambda: ec2.describe_security_groups(GroupIds=[ec2.create_security_group(
            GroupName=f"{lab.name}-sg{n}", VpcId=vpc.id,
            Description="flowlogs lab: ICMP from the peer VPC, no SSH",
            TagSpecifications=tag_spec("security-group", lab.name, f"sg{n}"))["GroupId"]]
        )["SecurityGroups"][0],
    )
    group_id = group["GroupId"]
    for cidr in _icmp_rules(group):
        if cidr != wanted:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[_icmp(cidr)])
    if wanted not in _icmp_rules(group):
        try:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[_icmp(wanted)])
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidPermission.Duplicate":
                raise
    say(quiet, f"security group {n}", group_id, f"ICMP in from {wanted}; no SSH", created)
    after = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    check(_icmp_rules(after) == [wanted], f"{group_id} allows ICMP from {_icmp_rules(after)}")
    check(not any(p.get("FromPort") == 22 for p in after.get("IpPermissions", [])),
          f"{group_id} allows SSH; the lab uses SSM instead")
    return SecurityGroup(f"sg{n}", group_id, vpc.id, wanted)


def _icmp(cidr: str) -> dict:
    return {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
            "IpRanges": [{"CidrIp": cidr, "Description": "ping"}]}

