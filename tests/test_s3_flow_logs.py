"""The S3 flow logs of step 6, against the emulator: the bucket, its policy, the flow logs, the objects.

Specification: Amazon VPC User Guide, "Amazon S3 bucket permissions for flow logs"
(https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-permissions.html: the policy AWS
attaches, with ``delivery.logs.amazonaws.com``, ``aws:SourceAccount`` and ``aws:SourceArn``, and
the ``AWSLogs/aws-account-id=<id>/*`` resource for Hive-compatible prefixes), "Flow log files"
(https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html: Parquet, Hive-compatible
S3 prefixes, hourly partitions, the object name), and the EC2 API reference for CreateFlowLogs
(``DestinationOptions``: FileFormat, HiveCompatiblePartitions, PerHourPartition).
"""

from __future__ import annotations

import json
import re

from labkit import flowlogs, open_lab
from labkit.lab.steps import STEPS
from labkit.lab.steps.s3_flow_logs import (
    DESTINATION_OPTIONS,
    bucket_name,
    delivery_bucket_policy,
    ensure_cloudwatch_and_s3_flow_logs,
    ensure_s3_flow_logs,
)
from labkit.lab.tags import tag_value

KEY = re.compile(
    r"AWSLogs/aws-account-id=(?P<account>\d{12})/aws-service=vpcflowlogs/aws-region=(?P<region>[a-z0-9-]+)/"
    r"year=(?P<y>\d{4})/month=(?P<m>\d{2})/day=(?P<d>\d{2})/hour=(?P<h>\d{2})/"
    r"(?P=account)_vpcflowlogs_(?P=region)_(?P<fl>fl-[0-9a-f]+)_(?P=y)(?P=m)(?P=d)T(?P=h)(?P<min>\d{2})Z_"
    r"[0-9a-f]{8}\.log\.parquet")


def test_policy_is_the_one_aws_attaches_for_hive_prefixes():
    policy = delivery_bucket_policy("b", "123456789012", "us-east-1")
    write, check = policy["Statement"]
    assert write["Principal"] == check["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == "arn:aws:s3:::b/AWSLogs/aws-account-id=123456789012/*"
    assert write["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012",
                                                  "s3:x-amz-acl": "bucket-owner-full-control"}
    assert check["Resource"] == "arn:aws:s3:::b"
    for statement in (write, check):
        assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:logs:us-east-1:123456789012:*"}


def test_step_6_makes_the_bucket_and_parquet_flow_logs_once_and_objects_land_in_awss_layout(
        fresh_emulator, capsys):
    lab = open_lab(step=5, quiet=True)
    assert STEPS[6] is ensure_cloudwatch_and_s3_flow_logs
    first = STEPS[6](lab).s3
    assert "created" in capsys.readouterr().out
    lab = open_lab(step=6, quiet=True)
    again = ensure_s3_flow_logs(lab)
    assert again == first and "created" not in capsys.readouterr().out

    s3, ec2 = lab.client("s3"), lab.client("ec2")
    assert first.bucket == bucket_name(lab) and first.bucket.startswith(f"{lab.name}-flowlogs-")
    tags = s3.get_bucket_tagging(Bucket=first.bucket)["TagSet"]
    assert tag_value(tags, "Project") == lab.name and tag_value(tags, "ManagedBy") == "labkit"
    policy = json.loads(s3.get_bucket_policy(Bucket=first.bucket)["Policy"])
    assert policy == delivery_bucket_policy(first.bucket, lab.account_id, lab.region)
    described = {f["FlowLogId"]: f for f in ec2.describe_flow_logs()["FlowLogs"]}
    for flow_log in (first.flow_log1, first.flow_log2):
        entry = described[flow_log.id]
        assert entry["LogDestinationType"] == "s3" and entry["ResourceId"] == flow_log.vpc_id
        assert entry["DestinationOptions"] == DESTINATION_OPTIONS
        assert entry["LogFormat"] == flowlogs.LAB_FORMAT

    open_lab(step=7, quiet=True)  # the standard traffic: ping, the refused probe, internet scans
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=first.bucket)
            for o in page.get("Contents", [])]
    assert keys, "no flow-log object was delivered after the traffic"
    matches = [KEY.fullmatch(k) for k in keys]
    assert all(matches), [k for k, m in zip(keys, matches, strict=True) if not m]
    assert {m["fl"] for m in matches} <= {first.flow_log1.id, first.flow_log2.id}
    assert all(int(m["min"]) % 5 == 0 for m in matches)  # one object per 5-minute window

    body = s3.get_object(Bucket=first.bucket, Key=keys[0])["Body"].read()
    records = flowlogs.read(body)
    assert list(records.columns[:3]) == ["version", "account_id", "interface_id"]
    total = sum(len(flowlogs.read(s3.get_object(Bucket=first.bucket, Key=k)["Body"].read())) for k in keys)
    answer = lab.athena("SELECT count(*) AS n, count_if(action = 'REJECT') AS rejected FROM vpc_flow_logs")
    assert answer["n"].tolist() == [total] and answer["rejected"].iloc[0] > 0
