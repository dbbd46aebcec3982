"""Everything the lab owns right now: what carries both Project=<lab> and ManagedBy=labkit.

Each kind is first narrowed cheaply (EC2 by the Project tag, IAM by the lab's
path, log groups and buckets by the lab's name prefix, the Glue database of
``lab.athena`` by its name), then kept only when its own tags (Glue: its
parameters) say it is the lab's. What is narrowed in but not owned (a user's
look-alike tagged ``Project=<lab>``, a bucket that merely shares the prefix) is
listed as foreign, so that teardown can say it left it alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from labkit.analysis.athena import database_name
from labkit.lab.names import bucket_prefix, iam_path, log_group_prefix
from labkit.lab.tags import MANAGED_BY, MANAGED_BY_KEY, PROJECT_KEY, is_managed, project_filter, tag_dict

GONE_PEERING = {"deleted", "deleting", "rejected", "failed", "expired"}


@dataclass(frozen=True)
class Owned:
    kind: str
    id: str
    name: str = ""


@dataclass(frozen=True)
class Foreign:
    """Something that looks like the lab's but is not: teardown never touches it."""

    item: Owned
    why: str


@dataclass
class Survey:
    owned: list[Owned] = field(default_factory=list)
    foreign: list[Foreign] = field(default_factory=list)


def survey(lab) -> Survey:
    """The lab's resources, and the look-alikes it must leave alone."""
    found = Survey()
    for kind, rid, name, tags in candidates(lab):
        item = Owned(kind, rid, name)
        if is_managed(tags, lab.name):
            found.owned.append(item)
        else:
            found.foreign.append(Foreign(item, _why_not_ours(tag_dict(tags), lab.name)))
    _keep_databases_holding_foreign_tables(found)
    return found


def _keep_databases_holding_foreign_tables(found: Survey) -> None:
    """Deleting a Glue database deletes its tables: ours goes only if every table in it is ours."""
    foreign_tables = {f.item.id.split(".", 1)[0] for f in found.foreign if f.item.kind == "glue-table"}
    for item in [o for o in found.owned if o.kind == "glue-database" and o.id in foreign_tables]:
        found.owned.remove(item)
        found.foreign.append(Foreign(item, "holds tables labkit did not create: left alone with them"))


def inventory_items(lab) -> list[Owned]:
    return survey(lab).owned


def _why_not_ours(tags: dict, lab_name: str) -> str:
    project = tags.get(PROJECT_KEY)
    if project not in (None, lab_name):
        return f"tagged for another lab: left alone ({PROJECT_KEY}={project})"
    if tags.get(MANAGED_BY_KEY) != MANAGED_BY:
        return f"not created by labkit: left alone (no {MANAGED_BY_KEY}={MANAGED_BY} tag)"
    return f"not tagged for this lab: left alone (no {PROJECT_KEY}={lab_name} tag)"


def _name(tags) -> str:
    return tag_dict(tags).get("Name") or ""


def candidates(lab) -> Iterator[tuple[str, str, str, list | dict | None]]:
    """(kind, id, name, tags) of everything that may be the lab's, in dependency order."""
    yield from _ec2_candidates(lab.client("ec2"), lab.name)
    yield from _iam_candidates(lab.client("iam"), iam_path(lab))
    yield from _log_group_candidates(lab.client("logs"), log_group_prefix(lab))
    yield from _glue_candidates(lab.client("glue"), database_name(lab))
    yield from _bucket_candidates(lab.client("s3"), bucket_prefix(lab))


def _ec2_candidates(ec2, lab_name: str):
    mine = project_filter(lab_name)
    for f in ec2.describe_flow_logs(Filter=mine)["FlowLogs"]:
        yield "flow-log", f["FlowLogId"], _name(f.get("Tags")), f.get("Tags")
    for reservation in ec2.describe_instances(Filters=mine)["Reservations"]:
        for i in reservation["Instances"]:
            if i["State"]["Name"] != "terminated":
                yield "instance", i["InstanceId"], _name(i.get("Tags")), i.get("Tags")
    for p in ec2.describe_vpc_peering_connections(Filters=mine)["VpcPeeringConnections"]:
        if p["Status"]["Code"] not in GONE_PEERING:
            yield "peering", p["VpcPeeringConnectionId"], _name(p.get("Tags")), p.get("Tags")
    for n in ec2.describe_network_interfaces(Filters=mine)["NetworkInterfaces"]:
        if n.get("Status") == "available":  # an attached one goes with its instance
            yield "network-interface", n["NetworkInterfaceId"], _name(n.get("TagSet")), n.get("TagSet")
    for t in ec2.describe_route_tables(Filters=mine)["RouteTables"]:
        yield "route-table", t["RouteTableId"], _name(t.get("Tags")), t.get("Tags")
    for acl in ec2.describe_network_acls(Filters=mine)["NetworkAcls"]:
        if not acl.get("IsDefault"):  # a VPC's default ACL goes with the VPC
            yield "network-acl", acl["NetworkAclId"], _name(acl.get("Tags")), acl.get("Tags")
    for g in ec2.describe_security_groups(Filters=mine)["SecurityGroups"]:
        yield "security-group", g["GroupId"], g["GroupName"], g.get("Tags")
    for s in ec2.describe_subnets(Filters=mine)["Subnets"]:
        yield "subnet", s["SubnetId"], _name(s.get("Tags")), s.get("Tags")
    for g in ec2.describe_internet_gateways(Filters=mine)["InternetGateways"]:
        yield "internet-gateway", g["InternetGatewayId"], _name(g.get("Tags")), g.get("Tags")
    for v in ec2.describe_vpcs(Filters=mine)["Vpcs"]:
        yield "vpc", v["VpcId"], _name(v.get("Tags")), v.get("Tags")


def _iam_candidates(iam, path: str):
    # ListInstanceProfiles and ListRoles return no tags (IAM API reference): ask for each one's.
    for page in iam.get_paginator("list_instance_profiles").paginate(PathPrefix=path):
        for p in page["InstanceProfiles"]:
            name = p["InstanceProfileName"]
            tags = iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"]
            yield "instance-profile", name, p["Arn"], tags
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=path):
        for r in page["Roles"]:
            tags = iam.list_role_tags(RoleName=r["RoleName"])["Tags"]
            yield "iam-role", r["RoleName"], r["Arn"], tags


def _log_group_candidates(logs, prefix: str):
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        for g in page["logGroups"]:
            arn = g.get("logGroupArn") or g["arn"].removesuffix(":*")
            tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
            yield "log-group", g["logGroupName"], g["logGroupName"], tags


def _glue_candidates(glue, database: str):
    """The Athena table ``lab.athena`` creates live, then its database (Glue parameters as tags)."""
    try:
        parameters = glue.get_database(Name=database)["Database"].get("Parameters")
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityNotFoundException":
            raise
        return
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        for table in page["TableList"]:
            yield "glue-table", f"{database}.{table['Name']}", table["Name"], table.get("Parameters")
    yield "glue-database", database, database, parameters


def _bucket_candidates(s3, prefix: str):
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if not name.startswith(prefix):
            continue
        try:
            tags = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchTagSet":
                raise
            tags = []
        yield "s3-bucket", name, name, tags


def inventory(lab):
    import pandas as pd

    items = inventory_items(lab)
    kinds = list(dict.fromkeys(o.kind for o in items))
    # Kinds in dependency order, then by name: the same table every time for the same lab.
    items.sort(key=lambda o: (kinds.index(o.kind), o.name, o.id))
    rows = [{"kind": o.kind, "id": o.id, "name": o.name} for o in items]
    return pd.DataFrame(rows, columns=["kind", "id", "name"])
