"""Delete everything the lab owns, in dependency order, from any partial state.

Only what carries both ``Project=<lab>`` and ``ManagedBy=labkit`` is deleted
(see inventory.py); a look-alike is reported as left alone. ``dry_run=True``
lists what would go and deletes nothing. Live mode shows that list before it
deletes, and deletes only once the account has been confirmed.

Each pass tries every remaining resource in the order below. A delete that AWS
refuses for now (DependencyViolation: an instance still shutting down, a
security group still referenced) is kept for the next pass, so teardown
recovers from a crash mid-step and never gives up after one refusal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from labkit.analysis.athena import forget_database
from labkit.lab.inventory import Foreign, Owned, survey
from labkit.lab.tags import lab_filter

ORDER = [
    "flow-log", "instance", "instance-profile", "iam-role", "peering", "network-interface",
    "route-table", "network-acl", "security-group", "subnet", "internet-gateway", "vpc", "log-group",
    "glue-table", "glue-database", "s3-bucket",
]
GONE = {
    "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound",
    "InvalidInternetGatewayID.NotFound", "InvalidRouteTableID.NotFound", "NoSuchEntity",
    "InvalidVpcPeeringConnectionID.NotFound", "InvalidNetworkInterfaceID.NotFound",
    "ResourceNotFoundException", "NoSuchBucket", "InvalidFlowLogId.NotFound", "InvalidNetworkAclID.NotFound",
    "EntityNotFoundException",
}
MAX_PASSES = 8


@dataclass
class TeardownReport:
    planned: list[Owned] = field(default_factory=list)
    deleted: list[Owned] = field(default_factory=list)
    left: list[tuple[Owned, str]] = field(default_factory=list)
    left_alone: list[Foreign] = field(default_factory=list)
    passes: int = 0
    dry_run: bool = False

    def __repr__(self) -> str:
        if self.dry_run:
            lines = [f"dry run: would delete {len(self.planned)} resources; nothing was deleted"]
            lines += [f"  would delete: {_describe(o)}" for o in self.planned]
        else:
            lines = [_summary(len(self.deleted), self.passes, len(self.left))]
            lines += [f"  left: {o.kind} {o.id}: {why}" for o, why in self.left]
        lines += [f"  left alone: {_describe(f.item)}: {f.why}" for f in self.left_alone]
        return "\n".join(lines)


def _summary(deleted: int, rounds: int, left: int) -> str:
    """One sentence in plain words: "deleted 23 resources (2 rounds); the lab is torn down"."""
    if not deleted and not left:
        return "nothing to delete: the lab owns nothing (never built, or torn down already)"
    what = f"deleted {_plural(deleted, 'resource')} ({_plural(rounds, 'round')})"
    if rounds > 1:
        what += ": AWS refused some deletes until what depended on them was gone"
    if left:
        return f"{what}; {left} could not be deleted (below): run lab.teardown() again or delete them by hand"
    return f"{what}; the lab is torn down"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _describe(item: Owned) -> str:
    return f"{item.kind} {item.id}" + (f" ({item.name})" if item.name and item.name != item.id else "")


def _show_plan(lab, report: TeardownReport) -> None:
    print(f"Teardown of lab {lab.name!r} in account {lab.account_id}, region {lab.region} "
          f"deletes {len(report.planned)} resources:")
    for item in report.planned:
        print(f"  {_describe(item)}")
    for foreign in report.left_alone:
        print(f"  left alone: {_describe(foreign.item)}: {foreign.why}")


def teardown(lab, progress: bool = True, order: list[str] = ORDER,
             dry_run: bool = False) -> TeardownReport:
    """Delete what the lab owns (or, with ``dry_run``, only list it); leave look-alikes alone."""
    from tqdm.auto import tqdm

    rank = {kind: i for i, kind in enumerate(order)}
    found = survey(lab)
    report = TeardownReport(planned=sorted(found.owned, key=lambda o: rank[o.kind]),
                            left_alone=found.foreign, dry_run=dry_run)
    if dry_run:
        return report
    if lab.mode == "live":
        _show_plan(lab, report)  # on a real account, what is about to go, before anything goes
    lab.require_write("teardown")
    remaining = list(report.planned)
    with tqdm(total=len(remaining), desc="teardown", disable=not progress,
              bar_format="{desc}: {n}/{total} deleted") as bar:
        while remaining and report.passes < MAX_PASSES:
            report.passes += 1
            refused: list[tuple[Owned, str]] = []
            for item in remaining:
                try:
                    _delete(lab, item)
                except ClientError as error:
                    code = error.response["Error"]["Code"]
                    if code not in GONE:
                        refused.append((item, f"{code}: {error.response['Error']['Message']}"))
                        continue
                report.deleted.append(item)
                bar.update(1)
            remaining = [item for item, _ in refused]
            report.left = refused
            if remaining:
                time.sleep(5 if lab.mode == "live" else 0.05)
    return report


def _delete(lab, item: Owned) -> None:
    ec2 = lab.client("ec2")
    kind, rid = item.kind, item.id
    if kind == "flow-log":
        ec2.delete_flow_logs(FlowLogIds=[rid])
    elif kind == "instance":
        ec2.terminate_instances(InstanceIds=[rid])
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[rid], WaiterConfig={"Delay": 5 if lab.mode == "live" else 0.1})
    elif kind == "instance-profile":
        iam = lab.client("iam")
        profile = iam.get_instance_profile(InstanceProfileName=rid)["InstanceProfile"]
        for role in profile.get("Roles", []):
            iam.remove_role_from_instance_profile(InstanceProfileName=rid, RoleName=role["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=rid)
    elif kind == "iam-role":
        _delete_role(lab.client("iam"), rid)
    elif kind == "peering":
        ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=rid)
    elif kind == "network-interface":
        ec2.delete_network_interface(NetworkInterfaceId=rid)
    elif kind == "route-table":
        table = ec2.describe_route_tables(RouteTableIds=[rid])["RouteTables"][0]
        for assoc in table.get("Associations", []):
            if not assoc.get("Main"):
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=rid)
    elif kind == "network-acl":
        _back_to_default_acl(ec2, rid)
        ec2.delete_network_acl(NetworkAclId=rid)
    elif kind == "security-group":
        _forget_references(ec2, rid, lab.name)
        ec2.delete_security_group(GroupId=rid)
    elif kind == "subnet":
        ec2.delete_subnet(SubnetId=rid)
    elif kind == "internet-gateway":
        igw = ec2.describe_internet_gateways(InternetGatewayIds=[rid])["InternetGateways"][0]
        for attachment in igw.get("Attachments", []):
            ec2.detach_internet_gateway(InternetGatewayId=rid, VpcId=attachment["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=rid)
    elif kind == "vpc":
        ec2.delete_vpc(VpcId=rid)
    elif kind == "log-group":
        lab.client("logs").delete_log_group(logGroupName=rid)
    elif kind == "glue-table":
        database, table = rid.split(".", 1)
        lab.client("glue").delete_table(DatabaseName=database, Name=table)
    elif kind == "glue-database":
        lab.client("glue").delete_database(Name=rid)
        forget_database(lab)
    elif kind == "s3-bucket":  # with it the Athena query results under athena-results/
        _empty_and_delete_bucket(lab.client("s3"), rid)
    else:
        raise ValueError(f"teardown does not know how to delete a {kind}")


def _back_to_default_acl(ec2, acl_id: str) -> None:
    """A custom network ACL cannot be deleted while subnets use it: give them their VPC's default."""
    acl = ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
    if not acl.get("Associations"):
        return
    default = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [acl["VpcId"]]},
                                                 {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    for association in acl["Associations"]:
        ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"],
                                            NetworkAclId=default[0]["NetworkAclId"])


def _delete_role(iam, name: str) -> None:
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
    iam.delete_role(RoleName=name)


def _forget_references(ec2, group_id: str, lab_name: str) -> None:
    """Rules in the lab's other groups that name this one would block its deletion: revoke them.

    A user's group that names it is never changed: the delete is refused and reported instead.
    """
    found = ec2.describe_security_groups(Filters=[
        {"Name": "ip-permission.group-id", "Values": [group_id]}, *lab_filter(lab_name)])["SecurityGroups"]
    for group in found:
        if group["GroupId"] == group_id:
            continue
        perms = [p for p in group.get("IpPermissions", [])
                 if any(pair.get("GroupId") == group_id for pair in p.get("UserIdGroupPairs", []))]
        if perms:
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=perms)


def _empty_and_delete_bucket(s3, name: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)
