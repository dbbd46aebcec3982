"""AWS's refusals that moto lets through, and that a lab must teach.

Without these, a teardown that deletes in the wrong order passes on the
emulator and then fails on a real account with ``DependencyViolation``.
"""

from __future__ import annotations

import ipaddress
import re

from labkit.emulator import moto_state
from labkit.emulator.awsproto import AwsError, Call
from labkit.emulator.hooks import after, before

LIVE_PEERING_STATES = {"active", "pending-acceptance", "provisioning", "initiating-request"}


def _dependency(kind: str, resource_id: str) -> AwsError:
    return AwsError(
        "DependencyViolation",
        f"The {kind} '{resource_id}' has dependencies and cannot be deleted.",
    )


def _live_enis(ec2):
    """ENIs that still exist in AWS's eyes: a terminated instance's interfaces are gone."""
    for eni in ec2.enis.values():
        instance = eni.instance
        if instance is not None and instance.state == "terminated":
            continue
        yield eni


def _live_instances(ec2):
    return [i for i in ec2.all_instances() if i.state not in ("terminated", "shutting-down")]


@before("ec2", "DeleteVpc")
def refuse_vpc_with_dependencies(call: Call):
    ec2 = moto_state.ec2(call.region)
    vpc_id = call.params.get("VpcId", "")
    if vpc_id not in ec2.vpcs:
        return None  # moto answers InvalidVpcID.NotFound
    dependencies = (
        any(s.vpc_id == vpc_id for zone in ec2.subnets.values() for s in zone.values())
        or any(igw.vpc is not None and igw.vpc.id == vpc_id for igw in ec2.internet_gateways.values())
        or any(g.name != "default" for g in ec2.groups.get(vpc_id, {}).values())
        or any(rt.vpc_id == vpc_id and not _is_main(rt) for rt in ec2.route_tables.values())
        or any(acl.vpc_id == vpc_id and not acl.default for acl in ec2.network_acls.values())
        or any(eni.subnet.vpc_id == vpc_id for eni in _live_enis(ec2))
        or any(
            p._status.code in LIVE_PEERING_STATES and vpc_id in (p.vpc.id, p.peer_vpc.id)
            for p in ec2.vpc_pcxs.values()
        )
    )
    if dependencies:
        raise _dependency("vpc", vpc_id)
    return None


def _is_main(route_table) -> bool:
    return route_table.main_association_id is not None


@before("ec2", "DeleteSubnet")
def refuse_subnet_in_use(call: Call):
    ec2 = moto_state.ec2(call.region)
    subnet_id = call.params.get("SubnetId", "")
    in_use = any(eni.subnet.id == subnet_id for eni in _live_enis(ec2)) or any(
        i.subnet_id == subnet_id for i in _live_instances(ec2)
    )
    if in_use:
        raise _dependency("subnet", subnet_id)
    return None


@before("ec2", "DeleteSecurityGroup")
def refuse_security_group_in_use(call: Call):
    ec2 = moto_state.ec2(call.region)
    group_id = call.params.get("GroupId", "")
    if not group_id:
        return None
    used_by_eni = any(group_id in {g.id for g in eni.group_set} for eni in _live_enis(ec2))
    referenced = any(
        group_id == (rule.source_group or {}).get("GroupId")
        for groups in ec2.groups.values()
        for group in groups.values()
        if group.id != group_id
        for rule in [*group.ingress_rules, *group.egress_rules]
    )
    if used_by_eni or referenced:
        raise AwsError("DependencyViolation", f"resource {group_id} has a dependent object")
    return None


@before("ec2", "DeleteInternetGateway")
def refuse_attached_internet_gateway(call: Call):
    ec2 = moto_state.ec2(call.region)
    igw_id = call.params.get("InternetGatewayId", "")
    igw = ec2.internet_gateways.get(igw_id)
    if igw is not None and igw.vpc is not None:
        raise _dependency("internetGateway", igw_id)
    return None


@after("ec2", "CreateVpcPeeringConnection")
def fail_overlapping_peering(call: Call, body: bytes):
    # AWS accepts the request but the connection goes straight to 'failed'.
    match = re.search(rb"<vpcPeeringConnectionId>(pcx-[0-9a-f]+)<", body)
    if not match:
        return
    ec2 = moto_state.ec2(call.region)
    pcx = ec2.vpc_pcxs.get(match.group(1).decode())
    if pcx is None:
        return
    mine = [ipaddress.ip_network(c["cidr_block"]) for c in _cidrs(pcx.vpc)]
    theirs = [ipaddress.ip_network(c["cidr_block"]) for c in _cidrs(pcx.peer_vpc)]
    if any(a.overlaps(b) for a in mine for b in theirs):
        pcx._status.code = "failed"
        pcx._status.message = "Overlapping CIDRs"


def _cidrs(vpc):
    return [c for c in vpc.cidr_block_association_set if "cidr_block" in c]


@after("ec2", "TerminateInstances")
def delete_interfaces_of_terminated(call: Call, body: bytes):
    # On AWS an instance's primary interface (DeleteOnTermination) goes with it; moto keeps it.
    ec2 = moto_state.ec2(call.region)
    ids = {v for k, v in call.params.items() if k.startswith("InstanceId")}
    for eni_id, eni in list(ec2.enis.items()):
        if eni.instance is not None and eni.instance.id in ids and eni.instance.state == "terminated":
            del ec2.enis[eni_id]
