"""Step 5: the IAM role that VPC Flow Logs assumes to write into CloudWatch Logs.

Two documents (:mod:`labkit.lab.policies` writes them), each with one job:
* the trust policy says WHO may assume the role: only the flow-logs service, and
  only on behalf of this account's flow logs (aws:SourceAccount / aws:SourceArn
  stop another account's flow logs from using it: the "confused deputy");
* the permissions policy says WHAT the role may do: write log streams and events
  into the lab's log group, and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from labkit.lab.commands import run_command
from labkit.lab.names import delivery_role_name, iam_path, log_group_name, log_group_prefix
from labkit.lab.policies import FLOW_LOGS_SERVICE, permissions_policy, trust_policy
from labkit.lab.steps.common import check, say
from labkit.lab.steps.instances import ensure_instances
from labkit.lab.steps.once import once_per_build
from labkit.lab.steps.vpcs import ensure_vpcs
from labkit.lab.tags import lab_filter


@dataclass(frozen=True)
class DeliveryRole:
    """The delivery role as built: its name and ARN, the log group it may write, its two policies."""

    name: str
    arn: str
    log_group: str
    trust: dict
    permissions: dict


@once_per_build
def ensure_flow_log_role(lab, quiet: bool = False) -> DeliveryRole:
    """The delivery role, found by name or created; its policies re-applied every time."""
    iam = lab.client("iam")
    name = delivery_role_name(lab)
    group = log_group_name(lab)
    trust = trust_policy(lab.account_id, lab.region)
    permissions = permissions_policy(lab.account_id, lab.region, group)
    try:
        role = iam.get_role(RoleName=name)["Role"]
        created = False
    except iam.exceptions.NoSuchEntityException:
        lab.require_write("creating the flow-log delivery role")
        role = iam.create_role(
            RoleName=name, Path=iam_path(lab), Tags=lab.tags("flow-logs-delivery"),
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="flowlogs lab: lets VPC Flow Logs write to the lab's log group")["Role"]
        created = True
    # Re-applied every time, so that a role broken on purpose (notebook 05) is mended by re-running.
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="deliver-to-lab-log-group",
                        PolicyDocument=json.dumps(permissions))
    say(quiet, "flow-log role", name, f"trusts {FLOW_LOGS_SERVICE}", created)
    stored = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    check(stored["Statement"][0]["Principal"]["Service"] == FLOW_LOGS_SERVICE,
          f"role {name} does not trust {FLOW_LOGS_SERVICE}")
    return DeliveryRole(name, role["Arn"], group, trust, permissions)


def demonstrate_broken_trust(lab):
    """Build a flow log whose role trusts EC2 instead of flow logs, send a ping, show the failure.

    Its permissions are right (they cover the demo's log group), so the trust policy alone fails it.

    Everything it makes is tagged and deleted again before it returns.
    """
    import pandas as pd

    lab.require_write("the broken-trust demonstration")
    iam, ec2 = lab.client("iam"), lab.client("ec2")
    name = f"{lab.name}-broken-trust"
    wrong_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, Path=iam_path(lab), Tags=lab.tags("broken-trust"),
                          AssumeRolePolicyDocument=json.dumps(wrong_trust))["Role"]["Arn"]
    # The permissions cover the demo's own log group, so that on AWS the trust policy is the one fault.
    demo_group = f"{log_group_prefix(lab)}broken-demo"
    iam.put_role_policy(RoleName=name, PolicyName="deliver-to-lab-log-group", PolicyDocument=json.dumps(
        permissions_policy(lab.account_id, lab.region, demo_group)))
    vpc1 = ensure_vpcs(lab, quiet=True).vpc1
    instances = ensure_instances(lab, quiet=True)
    flow_log_id = None
    try:
        created = ec2.create_flow_logs(
            ResourceIds=[vpc1.id], ResourceType="VPC", TrafficType="ALL",
            LogDestinationType="cloud-watch-logs", LogGroupName=demo_group,
            DeliverLogsPermissionArn=arn, MaxAggregationInterval=60,
            TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": lab.tags("broken-flowlog")}])
        flow_log_id = created["FlowLogIds"][0]
        run_command(lab, instances.instance1.id, f"ping -c 2 {instances.instance2.private_ip}")
        found = ec2.describe_flow_logs(Filter=lab_filter(lab.name, "broken-flowlog"))["FlowLogs"][0]
        columns = ["FlowLogId", "DeliverLogsPermissionArn", "DeliverLogsStatus", "DeliverLogsErrorMessage"]
        return pd.DataFrame([{c: found.get(c) for c in columns}])
    finally:
        if flow_log_id:
            ec2.delete_flow_logs(FlowLogIds=[flow_log_id])
        iam.delete_role_policy(RoleName=name, PolicyName="deliver-to-lab-log-group")
        iam.delete_role(RoleName=name)
