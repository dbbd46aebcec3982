"""labkit.flowlogs.s3_layout: the one place that knows where VPC Flow Logs puts an S3 object.

Specification: Amazon VPC User Guide, "Flow log files"
(https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html): log files every
5 minutes under ``bucket-and-optional-prefix/AWSLogs/...``; the default folders
``<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/``, Hive-compatible ones
``aws-account-id=/aws-service=vpcflowlogs/aws-region=/year=/month=/day=/``, per-hour partitions
adding the hour; names ``<account>_vpcflowlogs_<region>_<flow-log-id>_<yyyymmddThhmmZ>_<hash>``.
"""

import pytest

from labkit.flowlogs.s3_layout import bucket_and_prefix, hive_region_prefix, object_key

ACCOUNT, REGION, FLOW_LOG = "123456789012", "us-east-1", "fl-0123456789abcdef0"
WHEN = 1768471712  # 2026-01-15 10:08:32 UTC: the interval starting at 10:05
NAME = f"{ACCOUNT}_vpcflowlogs_{REGION}_{FLOW_LOG}_20260115T1005Z_841a2d68"


@pytest.mark.parametrize(("hive", "per_hour", "parquet", "folder", "suffix"), [
    (True, True, True, "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/"
                       "year=2026/month=01/day=15/hour=10/", ".log.parquet"),
    (True, False, True, "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/"
                        "year=2026/month=01/day=15/", ".log.parquet"),
    (False, True, False, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/01/15/10/", ".log.gz"),
    (False, False, False, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/01/15/", ".log.gz"),
])
def test_each_documented_folder_and_the_file_name(hive, per_hour, parquet, folder, suffix):
    key = object_key(ACCOUNT, REGION, FLOW_LOG, WHEN, b"body", hive_compatible=hive, per_hour=per_hour,
                     parquet=parquet, prefix="my-logs/")
    assert key == f"my-logs/{folder}{NAME}{suffix}"


def test_the_name_stands_for_the_content_and_the_5_minute_interval():
    def key(when, body):
        return object_key(ACCOUNT, REGION, FLOW_LOG, when, body, hive_compatible=True, per_hour=True,
                          parquet=True)

    assert key(WHEN, b"body") == key(WHEN - 212, b"body")  # 10:05:00 is the same interval
    assert key(WHEN, b"body") != key(WHEN - 213, b"body")  # 10:04:59 is the one before
    assert key(WHEN, b"body") != key(WHEN, b"other body")


def test_destination_arn_gives_the_bucket_and_an_optional_prefix():
    assert bucket_and_prefix("arn:aws:s3:::my-bucket") == ("my-bucket", "")
    assert bucket_and_prefix("arn:aws:s3:::my-bucket/my-logs") == ("my-bucket", "my-logs/")
    assert bucket_and_prefix("arn:aws:s3:::my-bucket/a/b/") == ("my-bucket", "a/b/")


def test_the_table_location_is_the_start_of_every_hive_key():
    key = object_key(ACCOUNT, REGION, FLOW_LOG, WHEN, b"", hive_compatible=True, per_hour=True, parquet=True)
    assert key.startswith(hive_region_prefix(ACCOUNT, REGION))
