"""Step 6, second destination: a bucket for flow logs, and a second flow log per VPC writing Parquet into it.

``ensure_cloudwatch_and_s3_flow_logs`` is step 6: the CloudWatch Logs flow logs, then these.

Beside each VPC's flow log to CloudWatch Logs, a flow log to S3 with the same format, as
Apache Parquet, with Hive-compatible prefixes and per-hour partitions (``DestinationOptions``),
so that Athena (live) or DuckDB (offline) can query it with ``lab.athena(sql)``.

The bucket policy is the one AWS attaches itself when the flow log's creator owns the bucket
(Amazon VPC User Guide, "Amazon S3 bucket permissions for flow logs",
https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-permissions.html): the log
delivery service ``delivery.logs.amazonaws.com`` may put objects under
``AWSLogs/aws-account-id=<account>/`` (Hive-compatible prefixes) with
``bucket-owner-full-control``, and read the bucket's ACL and list it, only for this account's
deliveries (``aws:SourceAccount``, ``aws:SourceArn`` against the confused deputy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from labkit.errors import LabError
from labkit.flowlogs.formats import LAB_FORMAT
from labkit.lab.names import bucket_name
from labkit.lab.steps.common import check, find_or_create, say
from labkit.lab.steps.flow_logs import FlowLogs, ensure_flow_logs
from labkit.lab.steps.once import once_per_build
from labkit.lab.steps.vpcs import ensure_vpcs
from labkit.lab.tags import is_managed, lab_filter

AGGREGATION_S = 60
DESTINATION_OPTIONS = {"FileFormat": "parquet", "HiveCompatiblePartitions": True, "PerHourPartition": True}
"""Parquet objects under ``year=/month=/day=/hour=`` prefixes: what Athena prunes by."""

_BUCKET_ROLE = "flow-logs-bucket"


@dataclass(frozen=True)
class S3FlowLog:
    """One VPC's flow log to S3."""

    id: str
    vpc_id: str
    destination: str


@dataclass(frozen=True)
class S3FlowLogs:
    """The flow-log bucket and the S3 flow log of each VPC."""

    bucket: str
    flow_log1: S3FlowLog
    flow_log2: S3FlowLog


def delivery_bucket_policy(bucket: str, account_id: str, region: str) -> dict:
    """The bucket policy AWS attaches for flow-log delivery (Hive-compatible prefixes)."""
    source = {"StringEquals": {"aws:SourceAccount": account_id},
              "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{region}:{account_id}:*"}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSLogDeliveryWrite",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/aws-account-id={account_id}/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id,
                                               "s3:x-amz-acl": "bucket-owner-full-control"},
                              "ArnLike": source["ArnLike"]},
            },
            {
                "Sid": "AWSLogDeliveryAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": source,
            },
        ],
    }


@once_per_build
def ensure_flow_log_bucket(lab, quiet: bool = False) -> str:
    """The lab's flow-log bucket, tagged like everything the lab owns, with AWS's delivery policy."""
    s3 = lab.client("s3")
    name = bucket_name(lab)

    def find() -> list[dict]:
        try:
            tags = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("NoSuchBucket", "404"):
                return []
            if code == "NoSuchTagSet":
                raise LabError(f"bucket {name} exists without the lab's tags: it is not the lab's; "
                               "delete it or choose another lab name") from None
            raise
        if not is_managed(tags, lab.name):
            # A bucket of the same name that labkit did not create for this lab is someone else's.
            raise LabError(f"bucket {name} exists but is not this lab's (it lacks Project={lab.name} "
                           "and ManagedBy=labkit): left alone; choose another lab name")
        return [{"Bucket": name}]

    def create() -> dict:
        options = {} if lab.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": lab.region}}
        s3.create_bucket(Bucket=name, **options)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": lab.tags(_BUCKET_ROLE)})
        return {"Bucket": name}

    _, created = find_or_create(lab, "flow-log bucket", find=find, create=create)
    policy = delivery_bucket_policy(name, lab.account_id, lab.region)
    if _bucket_policy(s3, name) != policy:
        lab.require_write("setting the flow-log bucket's policy")
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    say(quiet, "flow-log bucket", name, "policy: delivery.logs.amazonaws.com", created)
    check(_bucket_policy(s3, name) == policy, f"bucket {name} does not have the log-delivery policy")
    return name


def _bucket_policy(s3, name: str) -> dict | None:
    try:
        return json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchBucketPolicy":
            return None
        raise


def ensure_s3_flow_log(lab, vpc, bucket: str, quiet: bool = False) -> S3FlowLog:
    """A flow log on ``vpc`` writing Parquet to the bucket, found by tag or created."""
    ec2 = lab.client("ec2")
    role = f"s3flowlog{vpc.role[-1]}"
    destination = f"arn:aws:s3:::{bucket}"

    def find() -> list[dict]:
        return ec2.describe_flow_logs(Filter=lab_filter(lab.name, role))["FlowLogs"]

    def create() -> dict:
        answer = ec2.create_flow_logs(
            ResourceIds=[vpc.id], ResourceType="VPC", TrafficType="ALL",
            LogDestinationType="s3", LogDestination=destination, LogFormat=LAB_FORMAT,
            MaxAggregationInterval=AGGREGATION_S, DestinationOptions=DESTINATION_OPTIONS,
            TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": lab.tags(role)}])
        if answer.get("Unsuccessful"):
            error = answer["Unsuccessful"][0]["Error"]
            raise LabError(f"CreateFlowLogs to {destination} failed: {error['Code']}: {error['Message']}")
        return find()[0]

    flow_log, created = find_or_create(lab, role, find=find, create=create)
    say(quiet, f"S3 flow log {vpc.role[-1]}", flow_log["FlowLogId"], f"{vpc.id} ALL -> S3 Parquet", created)
    check(flow_log.get("FlowLogStatus") == "ACTIVE", f"{flow_log['FlowLogId']} is not ACTIVE")
    check(flow_log.get("LogDestinationType") == "s3" and flow_log.get("LogDestination") == destination,
          f"{flow_log['FlowLogId']} writes to {flow_log.get('LogDestination')}, not {destination}")
    check(flow_log.get("DeliverLogsStatus", "SUCCESS") == "SUCCESS",
          f"{flow_log['FlowLogId']} cannot deliver: {flow_log.get('DeliverLogsErrorMessage')}")
    if flow_log.get("LogFormat") != LAB_FORMAT or flow_log.get("DestinationOptions") != DESTINATION_OPTIONS:
        raise LabError(f"{flow_log['FlowLogId']} has another format or destination options "
                       f"({flow_log.get('DestinationOptions')}); a flow log cannot be changed: delete it "
                       "(teardown) and run this step again")
    return S3FlowLog(flow_log["FlowLogId"], vpc.id, destination)


@once_per_build
def ensure_s3_flow_logs(lab, quiet: bool = False) -> S3FlowLogs:
    """The bucket, and a Parquet flow log to it on each VPC."""
    vpcs = ensure_vpcs(lab, quiet=True)
    bucket = ensure_flow_log_bucket(lab, quiet=quiet)
    return S3FlowLogs(bucket, ensure_s3_flow_log(lab, vpcs.vpc1, bucket, quiet),
                      ensure_s3_flow_log(lab, vpcs.vpc2, bucket, quiet))


@dataclass(frozen=True)
class AllFlowLogs:
    """Step 6's flow logs: each VPC's to CloudWatch Logs, and each VPC's to S3 in Parquet."""

    cloudwatch: FlowLogs
    s3: S3FlowLogs


def ensure_cloudwatch_and_s3_flow_logs(lab, quiet: bool = False) -> AllFlowLogs:
    """Step 6: the flow logs to CloudWatch Logs, and beside them the Parquet flow logs to S3."""
    return AllFlowLogs(ensure_flow_logs(lab, quiet=quiet), ensure_s3_flow_logs(lab, quiet=quiet))
