"""Where flow-log records go: a CloudWatch Logs group (our store) or an S3 bucket.

- CloudWatch Logs: the role is judged first (trust + logs: permissions, see
  :mod:`flow_log_rules`); a failing role delivers nothing and marks the flow log
  FAILED / "Access error". The log group is created if missing and the role may;
  one stream per interface, ``<eni-id>-all``; event timestamp = record start (ms).
- S3: one object per flow log and delivery, under AWS's key layout: gzip'd text
  with a header line, or Parquet when DestinationOptions asks for it. A bucket
  that is gone fails the flow log's delivery status.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from labkit import flowlogs
from labkit.emulator import flow_log_rules, logstore, moto_adapter
from labkit.emulator.moto_adapter import ACCOUNT_ID, FlowLogConfig
from labkit.flowlogs.s3_layout import bucket_and_prefix, object_key
from labkit.flowlogs.writer import CLOUDWATCH_STREAM_SUFFIX

BUCKET_NOT_FOUND = "LogDestinationNotFoundException"


def to_cloudwatch(region: str, flow_log: FlowLogConfig, records: pa.Table, fields: list[str],
                  now_ms: int) -> int | None:
    """Events delivered, or None when the role may not deliver."""
    group = flow_log.log_group_name
    exists = moto_adapter.log_group_exists(region, group)
    ok = flow_log_rules.role_may_deliver(flow_log, region, group_exists=exists)
    flow_log_rules.set_status(region, flow_log, ok)
    if not ok:
        return None
    if not exists:
        moto_adapter.create_log_group(region, group)
    store = logstore.group(region, group)
    lines = flowlogs.record_lines(records, fields)
    timestamps = records.column("start").to_numpy() * 1000
    # one stream per ENI, in order of first record, each keeping the records' order
    encoded = records.column("interface_id").combine_chunks().dictionary_encode()
    codes, enis = encoded.indices.to_numpy(), encoded.dictionary.to_pylist()
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]]), len(order)]
    for k in range(len(bounds) - 1):
        rows = order[bounds[k]:bounds[k + 1]]
        stream = f"{enis[codes[rows[0]]]}{CLOUDWATCH_STREAM_SUFFIX}"
        moto_adapter.ensure_log_stream(region, group, stream)
        store.append(stream, timestamps[rows], lines.take(pa.array(rows)), now_ms)
    return len(lines)


def s3_key(flow_log: FlowLogConfig, region: str, when_s: float, body: bytes) -> tuple[str, str]:
    """(bucket, key) as AWS lays out flow-log objects (:mod:`labkit.flowlogs.s3_layout`)."""
    bucket, prefix = bucket_and_prefix(flow_log.log_destination)
    options = flow_log.destination_options
    key = object_key(ACCOUNT_ID, region, flow_log.id, when_s, body, prefix=prefix,
                     hive_compatible=bool(options.get("HiveCompatiblePartitions")),
                     per_hour=bool(options.get("PerHourPartition")), parquet=_parquet(flow_log))
    return bucket, key


def to_s3(region: str, flow_log: FlowLogConfig, records: pa.Table, fields: list[str], when_s: float) -> int:
    """Objects written: 1, or 0 when the bucket is gone (the flow log's delivery then fails)."""
    if _parquet(flow_log):
        body = flowlogs.parquet_object(records, fields)
    else:
        body = flowlogs.text_object(records, fields)
    bucket, key = s3_key(flow_log, region, when_s, body)
    if not moto_adapter.put_s3_object(bucket, key, body):
        moto_adapter.set_delivery_status(region, flow_log.id, False, BUCKET_NOT_FOUND)
        return 0
    return 1


def _parquet(flow_log: FlowLogConfig) -> bool:
    return flow_log.destination_options.get("FileFormat") == "parquet"
