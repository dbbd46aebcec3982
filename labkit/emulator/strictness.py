"""AWS's refusals that moto lets through, and that a lab must teach.

Without these, a teardown that deletes in the wrong order passes on the
emulator and then fails on a real account with ``DependencyViolation``.
"""

from __future__ import annotations

import ipaddress
import re

from labkit.emulator import moto_adapter
from labkit.emulator.awsproto import AwsError, Call
from labkit.emulator.hooks import after, before


def _dependency(kind: str, resource_id: str) -> AwsError:
    return AwsError(
        "DependencyViolation",
        f"The {kind} '{resource_id}' has dependencies and cannot be deleted.",
    )


@before("ec2", "DeleteVpc")
def refuse_vpc_with_dependencies(call: Call):
    vpc_id = call.params.get("VpcId", "")
    if not moto_adapter.vpc_exists(call.region, vpc_id):
        return None  # moto answers InvalidVpcID.NotFound
    if moto_adapter.vpc_dependents(call.region, vpc_id):
        raise _dependency("vpc", vpc_id)
    return None


@before("ec2", "DeleteSubnet")
def refuse_subnet_in_use(call: Call):
    subnet_id = call.params.get("SubnetId", "")
    if moto_adapter.subnet_dependents(call.region, subnet_id):
        raise _dependency("subnet", subnet_id)
    return None


@before("ec2", "DeleteSecurityGroup")
def refuse_security_group_in_use(call: Call):
    group_id = call.params.get("GroupId", "")
    if group_id and moto_adapter.security_group_dependents(call.region, group_id):
        raise AwsError("DependencyViolation", f"resource {group_id} has a dependent object")
    return None


@before("ec2", "DeleteInternetGateway")
def refuse_attached_internet_gateway(call: Call):
    igw_id = call.params.get("InternetGatewayId", "")
    if moto_adapter.internet_gateway_vpc(call.region, igw_id) is not None:
        raise _dependency("internetGateway", igw_id)
    return None


@after("ec2", "CreateVpcPeeringConnection")
def fail_overlapping_peering(call: Call, body: bytes):
    # AWS accepts the request but the connection goes straight to 'failed'.
    match = re.search(rb"<vpcPeeringConnectionId>(pcx-[0-9a-f]+)<", body)
    cidrs = moto_adapter.peering_cidrs(call.region, match.group(1).decode()) if match else None
    if cidrs is None:
        return
    mine, theirs = ([ipaddress.ip_network(c) for c in side] for side in cidrs)
    if any(a.overlaps(b) for a in mine for b in theirs):
        moto_adapter.fail_peering(call.region, match.group(1).decode(), "Overlapping CIDRs")


@after("ec2", "TerminateInstances")
def delete_interfaces_of_terminated(call: Call, body: bytes):
    # On AWS an instance's primary interface (DeleteOnTermination) goes with it; moto keeps it.
    instance_ids = {v for k, v in call.params.items() if k.startswith("InstanceId")}
    moto_adapter.delete_interfaces_of(call.region, instance_ids)
