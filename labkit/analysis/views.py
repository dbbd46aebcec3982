"""What the build notebooks show: the lab's rules, routes and flow logs as tables, policies as JSON.

Each table is read back through a describe call, so it shows what AWS (or the emulator) holds,
not what the lab meant to build.
"""

from __future__ import annotations

import json

import pandas as pd

from labkit.lab.tags import lab_filter, tag_value

__all__ = ["flow_logs_table", "route_tables_table", "rules_table", "show_policy"]

FLOW_LOG_COLUMNS = ["FlowLogId", "ResourceId", "TrafficType", "LogGroupName", "FlowLogStatus",
                    "DeliverLogsStatus", "MaxAggregationInterval"]


def rules_table(lab, group_ids: list[str]) -> pd.DataFrame:
    """The inbound and outbound rules of the given security groups, one row a rule."""
    rows = []
    groups = lab.client("ec2").describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    for group in groups:
        for direction, key in (("inbound", "IpPermissions"), ("outbound", "IpPermissionsEgress")):
            for perm in group.get(key, []):
                protocol = {"-1": "all"}.get(perm["IpProtocol"], perm["IpProtocol"])
                ports = ("all" if perm.get("FromPort") in (None, -1)
                         else f"{perm['FromPort']}-{perm['ToPort']}")
                for r in perm.get("IpRanges", []):
                    rows.append({"group": group.get("GroupName"), "direction": direction,
                                 "protocol": protocol, "ports": ports, "source/dest": r["CidrIp"]})
    return pd.DataFrame(rows)


def route_tables_table(lab) -> pd.DataFrame:
    """Every route of the lab's route tables, one row a route."""
    rows = []
    for table in lab.client("ec2").describe_route_tables(Filters=lab_filter(lab.name))["RouteTables"]:
        name = tag_value(table.get("Tags"), "Name") or ""
        for route in table["Routes"]:
            target = (route.get("GatewayId") or route.get("VpcPeeringConnectionId")
                      or route.get("NatGatewayId") or "?")
            rows.append({"route table": name, "destination": route.get("DestinationCidrBlock"),
                         "target": target, "state": route.get("State")})
    return pd.DataFrame(rows)


def flow_logs_table(lab) -> pd.DataFrame:
    """The lab's flow logs (DescribeFlowLogs), the columns that matter."""
    rows = lab.client("ec2").describe_flow_logs(Filter=lab_filter(lab.name))["FlowLogs"]
    return pd.DataFrame([{c: r.get(c) for c in FLOW_LOG_COLUMNS} for r in rows], columns=FLOW_LOG_COLUMNS)


def show_policy(document: dict):
    """A policy document as readable, highlighted JSON (a Markdown display object)."""
    from IPython.display import Markdown

    return Markdown(f"```json\n{json.dumps(document, indent=2)}\n```")
