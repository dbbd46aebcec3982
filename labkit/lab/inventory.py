"""Everything the lab owns right now, found by its tags (EC2), IAM path and name prefixes."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.lab.tags import lab_filter, tag_value

GONE_PEERING = {"deleted", "deleting", "rejected", "failed", "expired"}


@dataclass(frozen=True)
class Owned:
    kind: str
    id: str
    name: str = ""


def log_group_prefix(lab) -> str:
    return f"/{lab.name}/"


def bucket_prefix(lab) -> str:
    return f"{lab.name}-flowlogs-"


def _name(tags) -> str:
    return tag_value(tags, "Name") or ""


def inventory_items(lab) -> list[Owned]:
    ec2, iam, logs = lab.client("ec2"), lab.client("iam"), lab.client("logs")
    mine = lab_filter(lab.name)
    items: list[Owned] = []
    items += [Owned("flow-log", f["FlowLogId"], _name(f.get("Tags")))
              for f in ec2.describe_flow_logs(Filter=mine)["FlowLogs"]]
    items += [Owned("instance", i["InstanceId"], _name(i.get("Tags")))
              for r in ec2.describe_instances(Filters=mine)["Reservations"] for i in r["Instances"]
              if i["State"]["Name"] != "terminated"]
    items += [Owned("peering", p["VpcPeeringConnectionId"], _name(p.get("Tags")))
              for p in ec2.describe_vpc_peering_connections(Filters=mine)["VpcPeeringConnections"]
              if p["Status"]["Code"] not in GONE_PEERING]
    items += [Owned("network-interface", n["NetworkInterfaceId"], _name(n.get("TagSet")))
              for n in ec2.describe_network_interfaces(Filters=mine)["NetworkInterfaces"]
              if n.get("Status") == "available"]
    items += [Owned("route-table", t["RouteTableId"], _name(t.get("Tags")))
              for t in ec2.describe_route_tables(Filters=mine)["RouteTables"]]
    items += [Owned("security-group", g["GroupId"], g["GroupName"])
              for g in ec2.describe_security_groups(Filters=mine)["SecurityGroups"]]
    items += [Owned("subnet", s["SubnetId"], _name(s.get("Tags")))
              for s in ec2.describe_subnets(Filters=mine)["Subnets"]]
    items += [Owned("internet-gateway", g["InternetGatewayId"], _name(g.get("Tags")))
              for g in ec2.describe_internet_gateways(Filters=mine)["InternetGateways"]]
    items += [Owned("vpc", v["VpcId"], _name(v.get("Tags")))
              for v in ec2.describe_vpcs(Filters=mine)["Vpcs"]]
    path = f"/{lab.name}/"
    items += [Owned("instance-profile", p["InstanceProfileName"], p["Arn"])
              for page in iam.get_paginator("list_instance_profiles").paginate(PathPrefix=path)
              for p in page["InstanceProfiles"]]
    items += [Owned("iam-role", r["RoleName"], r["Arn"])
              for page in iam.get_paginator("list_roles").paginate(PathPrefix=path)
              for r in page["Roles"]]
    items += [Owned("log-group", g["logGroupName"], g["logGroupName"])
              for page in logs.get_paginator("describe_log_groups").paginate(
                  logGroupNamePrefix=log_group_prefix(lab))
              for g in page["logGroups"]]
    items += [Owned("s3-bucket", b["Name"], b["Name"])
              for b in lab.client("s3").list_buckets().get("Buckets", [])
              if b["Name"].startswith(bucket_prefix(lab))]
    return items


def inventory(lab):
    import pandas as pd

    items = inventory_items(lab)
    kinds = list(dict.fromkeys(o.kind for o in items))
    # Kinds in dependency order, then by name: the same table every time for the same lab.
    items.sort(key=lambda o: (kinds.index(o.kind), o.name, o.id))
    rows = [{"kind": o.kind, "id": o.id, "name": o.name} for o in items]
    return pd.DataFrame(rows, columns=["kind", "id", "name"])
