"""Where VPC Flow Logs puts an object in S3: AWS's key layout, in one place.

Amazon VPC User Guide, "Flow log files"
(https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html): a log file is
published every 5 minutes into a folder set by the account, the Region, the date and the
destination options, under the bucket's optional prefix:

* default: ``AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/``;
* Hive-compatible prefixes: ``AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/
  aws-region=<region>/year=<yyyy>/month=<mm>/day=<dd>/``;
* per-hour partitions add ``<hh>/`` (or ``hour=<hh>/`` with Hive-compatible prefixes);

and the file is named ``<account>_vpcflowlogs_<region>_<flow-log-id>_<yyyymmddThhmmZ>_<hash>``
with ``.log.gz`` (text) or ``.log.parquet``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

__all__ = ["PUBLISH_INTERVAL_S", "bucket_and_prefix", "hive_region_prefix", "object_key"]

PUBLISH_INTERVAL_S = 300
"""VPC Flow Logs publishes its log files to S3 at 5-minute intervals."""


def bucket_and_prefix(log_destination: str) -> tuple[str, str]:
    """(bucket, prefix) of an S3 destination ARN ``arn:aws:s3:::bucket[/prefix]``; the prefix is
    empty or ends in ``/``."""
    bucket, _, prefix = log_destination.split(":::", 1)[1].partition("/")
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


def hive_region_prefix(account_id: str, region: str) -> str:
    """The Hive-compatible folder of one account's flow logs in one Region (before the date):
    the location of an Athena table over them."""
    return f"AWSLogs/aws-account-id={account_id}/aws-service=vpcflowlogs/aws-region={region}/"


def object_key(account_id: str, region: str, flow_log_id: str, when_s: float, body: bytes, *,
               hive_compatible: bool, per_hour: bool, parquet: bool, prefix: str = "") -> str:
    """The key of the log file published for the 5-minute interval holding ``when_s``.

    The name's hash is the first 8 hex digits of the body's MD5, so a name stands for its
    content (AWS documents only "hash")."""
    t = datetime.fromtimestamp(int(when_s // PUBLISH_INTERVAL_S) * PUBLISH_INTERVAL_S, UTC)
    if hive_compatible:
        folder = (hive_region_prefix(account_id, region) + f"year={t:%Y}/month={t:%m}/day={t:%d}/"
                  + (f"hour={t:%H}/" if per_hour else ""))
    else:
        folder = (f"AWSLogs/{account_id}/vpcflowlogs/{region}/{t:%Y}/{t:%m}/{t:%d}/"
                  + (f"{t:%H}/" if per_hour else ""))
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest()[:8]
    suffix = ".log.parquet" if parquet else ".log.gz"
    name = f"{account_id}_vpcflowlogs_{region}_{flow_log_id}_{t:%Y%m%dT%H%MZ}_{digest}{suffix}"
    return prefix + folder + name
