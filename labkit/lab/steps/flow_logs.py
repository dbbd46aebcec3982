"""Step 6: a log group with a retention period, and a flow log on each VPC writing into it.

The format is custom: the 14 default (version 2) fields, then the v3-v5 fields
that explain a record: which VPC, subnet and instance, the TCP flags, the
packet's original addresses, its direction, and the path it took.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from labkit.errors import LabError
from labkit.flowlogs.formats import LAB_FORMAT
from labkit.lab.retry import with_retries
from labkit.lab.steps.common import check, find_or_create, say
from labkit.lab.steps.flow_log_role import ensure_flow_log_role
from labkit.lab.steps.once import once_per_build
from labkit.lab.steps.vpcs import ensure_vpcs
from labkit.lab.tags import lab_filter

RETENTION_DAYS = 7
AGGREGATION_S = 60


@dataclass(frozen=True)
class FlowLog:
    """One flow log: the VPC it watches, where it writes, its format and delivery status."""

    id: str
    vpc_id: str
    log_group: str
    log_format: str
    status: str


@dataclass(frozen=True)
class FlowLogs:
    """The flow log of each VPC and the log group both write to."""

    flow_log1: FlowLog
    flow_log2: FlowLog
    log_group: str


def ensure_log_group(lab, name: str, quiet: bool = False) -> str:
    logs = lab.client("logs")
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    created = not any(g["logGroupName"] == name for g in found)
    if created:
        lab.require_write("creating the log group")
        tags = {t["Key"]: t["Value"] for t in lab.tags("flow-logs")}
        logs.create_log_group(logGroupName=name, tags=tags)
    logs.put_retention_policy(logGroupName=name, retentionInDays=RETENTION_DAYS)
    say(quiet, "log group", name, f"retention {RETENTION_DAYS} days", created)
    return name


def ensure_flow_log(lab, vpc, role_arn: str, log_group: str, quiet: bool = False) -> FlowLog:
    ec2 = lab.client("ec2")
    role = f"flowlog{vpc.role[-1]}"

    def create():
        def attempt():
            answer = ec2.create_flow_logs(
                ResourceIds=[vpc.id], ResourceType="VPC", TrafficType="ALL",
                LogDestinationType="cloud-watch-logs", LogGroupName=log_group,
                DeliverLogsPermissionArn=role_arn, LogFormat=LAB_FORMAT,
                MaxAggregationInterval=AGGREGATION_S,
                TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": lab.tags(role)}])
            if answer.get("Unsuccessful"):
                error = answer["Unsuccessful"][0]["Error"]
                # Shaped as a ClientError so that with_retries can retry IAM propagation.
                raise ClientError({"Error": {"Code": error["Code"], "Message": error["Message"]}},
                                  "CreateFlowLogs")
            return answer

        # A role created seconds ago may not be assumable yet (IAM is eventually consistent).
        with_retries(attempt, retry_on=_role_not_ready, timeout_s=120)
        return ec2.describe_flow_logs(Filter=lab_filter(lab.name, role))["FlowLogs"][0]

    flow_log, created = find_or_create(
        lab, role, find=lambda: ec2.describe_flow_logs(Filter=lab_filter(lab.name, role))["FlowLogs"],
        create=create)
    say(quiet, f"flow log {vpc.role[-1]}", flow_log["FlowLogId"], f"{vpc.id} ALL -> CloudWatch Logs",
        created)
    check(flow_log.get("FlowLogStatus") == "ACTIVE", f"{flow_log['FlowLogId']} is not ACTIVE")
    if flow_log.get("DeliverLogsStatus", "SUCCESS") != "SUCCESS" and not quiet:
        # The status reports the LAST delivery. ensure_flow_logs has just re-applied the role's
        # documents, so a role broken on purpose is mended; the next delivery (step 7 waits for
        # records) shows whether it is.
        print(f"{'':<22} last delivery failed: {flow_log.get('DeliverLogsErrorMessage')}; the role "
              "was re-applied, the next delivery will tell")
    if flow_log.get("LogFormat") != LAB_FORMAT:
        raise LabError(f"{flow_log['FlowLogId']} has another format; a flow log's format cannot be "
                       "changed: delete it (teardown) and run this step again")
    return FlowLog(flow_log["FlowLogId"], vpc.id, log_group, flow_log["LogFormat"],
                   flow_log.get("DeliverLogsStatus", "SUCCESS"))


def _role_not_ready(error: ClientError) -> bool:
    message = error.response["Error"].get("Message", "").lower()
    return "assume" in message or "role" in message


@once_per_build
def ensure_flow_logs(lab, quiet: bool = False) -> FlowLogs:
    """The log group and a flow log on each VPC in the lab's format, found by tag or created."""
    vpcs = ensure_vpcs(lab, quiet=True)
    role = ensure_flow_log_role(lab, quiet=True)
    group = ensure_log_group(lab, role.log_group, quiet=quiet)
    return FlowLogs(ensure_flow_log(lab, vpcs.vpc1, role.arn, group, quiet),
                    ensure_flow_log(lab, vpcs.vpc2, role.arn, group, quiet), group)
