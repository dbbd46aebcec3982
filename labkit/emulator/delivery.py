"""Flow-log delivery: network-model drafts -> records in every flow log that covers them.

``deliver(region, drafts, t0_s, network)`` takes the drafts of one command (or a
benchmark's batch), with ``offset_s`` counted from the wall-clock second ``t0_s``,
and for every ACTIVE flow log of the region:

- keeps the drafts of ENIs it covers (flow log on the VPC, the subnet or the ENI)
  and of the actions its TrafficType asks for;
- aggregates them per flow, ENI, direction and action over windows of the flow
  log's MaxAggregationInterval (60 s for instances on Nitro, as on AWS), aligned
  on the epoch; ``start``/``end`` are the window's bounds in epoch seconds;
- writes one record per aggregate in that flow log's format (``-`` where a
  field does not apply; ``version`` is the highest version among its fields);
- CloudWatch Logs: checks the role (trust + logs: permissions, see
  :mod:`flow_log_rules`), creates the log group if missing and the role may,
  one stream per ENI named ``<eni-id>-all``, event timestamp = record start
  (ms). A failing role delivers nothing and marks the flow log FAILED /
  "Access error".
- S3: one gzip object per flow log and delivery, under AWS's key layout, plain
  text with a header line, or Parquet when DestinationOptions asks for it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import operator
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from labkit.emulator import flow_log_rules, logstore, moto_state
from labkit.netmodel import FlowDraft

ACCOUNT_ID = moto_state.ACCOUNT_ID
STREAM_SUFFIX = "-all"

try:
    from labkit.flowlogs.fields import FIELDS as _FIELDS
except ImportError:  # pragma: no cover - the parser package is written in parallel
    _FIELDS = {}

DEFAULT_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)
_INT_FIELDS = {"version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path"}
_LONG_FIELDS = {"packets", "bytes", "start", "end"}


@dataclass(slots=True)
class Record:
    """One aggregated flow-log record (before formatting)."""

    d: FlowDraft  # the first draft of the flow in the window
    packets: int
    bytes: int
    tcp_flags: int
    start: int
    end: int


def aggregate(drafts: list[FlowDraft], window_s: int, t0_s: float = 0.0) -> list[Record]:
    """netmodel.aggregate's rule on windows aligned on the epoch, without copying drafts.

    A draft happened at ``t0_s + offset_s``; its window starts at the multiple of
    ``window_s`` at or before that second.
    """
    if not drafts:
        return []
    agg = _aggregate_arrays(drafts, window_s, t0_s)
    w = int(window_s)
    return [
        Record(drafts[f], p, b, fl, s, s + w)
        for f, p, b, fl, s in zip(agg.first.tolist(), agg.packets.tolist(), agg.bytes.tolist(),
                                  agg.tcp_flags.tolist(), agg.start.tolist(), strict=True)
    ]


@dataclass(slots=True)
class _Aggregates:
    """Records as columns: ``first`` indexes the first draft of each record."""

    first: np.ndarray
    packets: np.ndarray
    bytes: np.ndarray
    tcp_flags: np.ndarray
    start: np.ndarray
    end: np.ndarray
    values: np.ndarray  # per draft: one object column per attribute of _DRAFT_ATTRS
    # per draft, for the key fields: attribute -> (codes, uniques); None once pools are mixed
    keys: dict | None = None

    def take(self, rows: np.ndarray) -> _Aggregates:
        return _Aggregates(*(getattr(self, k)[rows] for k in _COLUMNS), values=self.values, keys=self.keys)


_COLUMNS = ("first", "packets", "bytes", "tcp_flags", "start", "end")


_KEY_ATTRS = ("eni_id", "flow_direction", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action")
_DRAFT_ATTRS = (*_KEY_ATTRS, "offset_s", "packets", "bytes", "tcp_flags", "vpc_id", "subnet_id",
                "instance_id", "type", "pkt_srcaddr", "pkt_dstaddr", "traffic_path")
_ATTR_INDEX = {a: i for i, a in enumerate(_DRAFT_ATTRS)}
_GET_ATTRS = operator.attrgetter(*_DRAFT_ATTRS)


def _aggregate_arrays(drafts: list[FlowDraft], window_s: int, t0_s: float = 0.0) -> _Aggregates:
    """:func:`aggregate` with whole-column operations; records in the same order."""
    n = len(drafts)
    w = int(window_s)
    # one pass over the drafts (each is visited once), one object column per attribute
    values = np.empty((n, len(_DRAFT_ATTRS)), dtype=object)
    values[:] = list(map(_GET_ATTRS, drafts))
    offsets = values[:, _ATTR_INDEX["offset_s"]].astype(np.float64)
    start = ((t0_s + offsets) // w).astype(np.int64) * w
    key = None
    keys = {}
    for attr in _KEY_ATTRS:
        column = np.ascontiguousarray(values[:, _ATTR_INDEX[attr]])
        codes, uniques = keys[attr] = pd.factorize(column, use_na_sentinel=False)
        key = codes.astype(np.int64) if key is None else pd.factorize(key * len(uniques) + codes)[0]
    starts, uniques = pd.factorize(start)
    group = pd.factorize(key * len(uniques) + starts)[0]  # numbered in order of first appearance
    order = np.argsort(group, kind="stable")
    sorted_groups = group[order]
    bounds = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    first = order[bounds]

    def column(attr: str) -> np.ndarray:
        return values[:, _ATTR_INDEX[attr]].astype(np.int64)[order]

    agg = _Aggregates(
        first,
        np.add.reduceat(column("packets"), bounds),
        np.add.reduceat(column("bytes"), bounds),
        np.bitwise_or.reduceat(column("tcp_flags"), bounds),
        start[first],
        start[first] + w,
        values,
        keys,
    )
    if len(agg.start) > 1 and bool(np.any(agg.start[:-1] > agg.start[1:])):
        agg = agg.take(np.argsort(agg.start, kind="stable"))
    return agg


_START = operator.attrgetter("start")


def format_fields(log_format: str | None) -> list[str]:
    return [t[2:-1] for t in (log_format or DEFAULT_FORMAT).split()]


def _version(fields: list[str]) -> str:
    versions = [_FIELDS[f].version for f in fields if f in _FIELDS]
    return str(max(versions, default=2))


def columns(records: list[Record], fields: list[str], region: str, az_ids: dict[str, str],
            *, typed: bool = False) -> dict[str, list]:
    """One list per field: strings ("-" when it does not apply), or typed values for Parquet."""
    none = None if typed else "-"
    conv = (lambda v: v) if typed else str
    ds = [r.d for r in records]
    n = len(records)
    out: dict[str, list] = {}
    for name in fields:
        if name in out:
            continue
        if name == "version":
            v = int(_version(fields))
            col = [conv(v)] * n
        elif name == "account-id":
            col = [ACCOUNT_ID] * n
        elif name == "interface-id":
            col = [d.eni_id for d in ds]
        elif name in ("srcaddr", "pkt-srcaddr"):
            col = [d.srcaddr if name == "srcaddr" else d.pkt_srcaddr for d in ds]
        elif name in ("dstaddr", "pkt-dstaddr"):
            col = [d.dstaddr if name == "dstaddr" else d.pkt_dstaddr for d in ds]
        elif name == "srcport":
            col = [conv(d.srcport) for d in ds]
        elif name == "dstport":
            col = [conv(d.dstport) for d in ds]
        elif name == "protocol":
            col = [conv(d.protocol) for d in ds]
        elif name == "packets":
            col = [conv(r.packets) for r in records]
        elif name == "bytes":
            col = [conv(r.bytes) for r in records]
        elif name == "start":
            col = [conv(r.start) for r in records]
        elif name == "end":
            col = [conv(r.end) for r in records]
        elif name == "action":
            col = [d.action for d in ds]
        elif name == "log-status":
            col = ["OK"] * n
        elif name == "vpc-id":
            col = [d.vpc_id or none for d in ds]
        elif name == "subnet-id":
            col = [d.subnet_id or none for d in ds]
        elif name == "instance-id":
            col = [d.instance_id or none for d in ds]
        elif name == "tcp-flags":
            col = [conv(r.tcp_flags) for r in records]
        elif name == "type":
            col = [d.type for d in ds]
        elif name == "region":
            col = [region] * n
        elif name == "az-id":
            col = [az_ids.get(d.subnet_id) or none for d in ds]
        elif name == "flow-direction":
            col = [d.flow_direction for d in ds]
        elif name == "traffic-path":
            col = [
                conv(d.traffic_path) if d.flow_direction == "egress" and d.traffic_path else none
                for d in ds
            ]
        else:
            col = [none] * n
        out[name] = col
    return out


def format_lines(records: list[Record], fields: list[str], region: str, az_ids: dict[str, str]) -> list[str]:
    cols = columns(records, fields, region, az_ids)
    return [" ".join(row) for row in zip(*(cols[f] for f in fields), strict=True)]


def _int_strings(values) -> pa.Array:
    return pc.cast(pa.array(values, type=pa.int64()), pa.string())


def _strings(values: list) -> pa.Array:
    return pa.array(np.array(values, dtype=object), type=pa.string())


def format_array(drafts: list[FlowDraft], agg: _Aggregates, fields: list[str], region: str,
                 az_ids: dict[str, str]) -> pa.Array:
    """:func:`format_lines` on columns: the same lines, as one Arrow string array."""
    n = len(agg.first)
    cols: dict[str, pa.Array | pa.Scalar] = {}

    def attr_of(attr: str) -> np.ndarray:
        return agg.values[agg.first, _ATTR_INDEX[attr]]

    def key_column(attr: str) -> pa.Array | None:
        if agg.keys is None or attr not in agg.keys:
            return None
        codes, uniques = agg.keys[attr]
        return pa.array(np.asarray(uniques, dtype=object)).take(pa.array(codes[agg.first]))
    for name in fields:
        if name in cols:
            continue
        if name == "version":
            col = pa.scalar(_version(fields))
        elif name == "account-id":
            col = pa.scalar(ACCOUNT_ID)
        elif name == "log-status":
            col = pa.scalar("OK")
        elif name == "region":
            col = pa.scalar(region)
        elif name in ("interface-id", "srcaddr", "pkt-srcaddr", "dstaddr", "pkt-dstaddr", "action", "type",
                      "flow-direction"):
            attr = {"interface-id": "eni_id"}.get(name, name.replace("-", "_"))
            col = key_column(attr)
            col = _strings(attr_of(attr)) if col is None else col.cast(pa.string())
        elif name in ("srcport", "dstport", "protocol"):
            col = key_column(name)
            col = _int_strings(attr_of(name)) if col is None else pc.cast(col.cast(pa.int64()), pa.string())
        elif name in ("packets", "bytes", "start", "end"):
            col = pc.cast(pa.array(getattr(agg, name)), pa.string())
        elif name == "tcp-flags":
            col = pc.cast(pa.array(agg.tcp_flags), pa.string())
        elif name in ("vpc-id", "subnet-id", "instance-id"):
            attr = name.replace("-", "_")
            col = _strings([v or None for v in attr_of(attr)])
        elif name == "az-id":
            col = _strings([az_ids.get(subnet) or None for subnet in attr_of("subnet_id")])
        elif name == "traffic-path":
            col = _int_strings([tp if direction == "egress" and tp else None
                                for direction, tp in zip(attr_of("flow_direction"), attr_of("traffic_path"),
                                                         strict=True)])
        else:
            col = pa.scalar(None, pa.string())
        cols[name] = col
    if not n:
        return pa.array([], pa.string())
    if len(fields) == 1:
        only = cols[fields[0]]
        only = pa.array([only.as_py()] * n, pa.string()) if isinstance(only, pa.Scalar) else only
        return pc.fill_null(only, "-")
    return pc.binary_join_element_wise(*(cols[f] for f in fields), " ", null_handling="replace",
                                       null_replacement="-")


# ---- which flow logs see what ------------------------------------------------------------


@dataclass
class DeliveryReport:
    records: int = 0
    cloudwatch_events: int = 0
    s3_objects: int = 0
    failed_flow_logs: int = 0


def deliver(region: str, drafts: list[FlowDraft], t0_s: float, network=None,
            *, now_ms: int | None = None) -> DeliveryReport:
    """Deliver the drafts of traffic that started at epoch ``t0_s`` to every flow log."""
    report = DeliveryReport()
    if not drafts:
        return report
    ec2 = moto_state.ec2(region)
    flow_logs = [f for f in ec2.flow_logs.values() if getattr(f, "flow_log_status", "ACTIVE") == "ACTIVE"]
    if not flow_logs:
        return report
    by_eni: dict[str, list[FlowDraft]] = {}
    for d in drafts:
        by_eni.setdefault(d.eni_id, []).append(d)
    nitro = _nitro_instances(network)
    az_ids = network.az_ids if network is not None else {}
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    for flow_log in flow_logs:
        rid = flow_log.resource_id
        traffic = (flow_log.traffic_type or "ALL").upper()
        interval = int(flow_log.max_aggregation_interval or 600)
        fast: list[FlowDraft] = []
        slow: list[FlowDraft] = []
        for eni_id, mine in by_eni.items():
            first = mine[0]
            if rid not in (eni_id, first.subnet_id, first.vpc_id):
                continue
            if traffic != "ALL":
                mine = [d for d in mine if d.action == traffic]
            # Nitro instances aggregate over 60 s at most, whatever the flow log says
            (fast if interval == 60 or first.instance_id in nitro else slow).extend(mine)
        if not fast and not slow:
            continue
        fields = format_fields(flow_log.log_format)
        if flow_log.log_destination_type == "s3":
            records = aggregate(fast, 60, t0_s) + (aggregate(slow, interval, t0_s) if slow else [])
            if slow and fast:
                records.sort(key=lambda r: r.start)
            report.records += len(records)
            report.s3_objects += _to_s3(flow_log, records, fields, region, az_ids, t0_s)
        else:
            pool, agg = _aggregate_both(fast, slow, interval, t0_s)
            report.records += len(agg.first)
            delivered = _to_cloudwatch(flow_log, pool, agg, fields, region, az_ids, now_ms)
            if delivered is None:
                report.failed_flow_logs += 1
            else:
                report.cloudwatch_events += delivered
    return report


def _nitro_instances(network) -> set[str]:
    if network is None:
        return set()
    return {i.id for i in network.topology.instances.values() if i.nitro}


# ---- CloudWatch Logs ---------------------------------------------------------------------


def _aggregate_both(fast: list[FlowDraft], slow: list[FlowDraft], interval: int,
                    t0_s: float) -> tuple[list[FlowDraft], _Aggregates]:
    """Records of the 60-s drafts, then the others', stably sorted by start when both exist."""
    if not slow:
        return fast, _aggregate_arrays(fast, 60, t0_s)
    if not fast:
        return slow, _aggregate_arrays(slow, interval, t0_s)
    a, b = _aggregate_arrays(fast, 60, t0_s), _aggregate_arrays(slow, interval, t0_s)
    b.first = b.first + len(fast)
    agg = _Aggregates(*(np.concatenate([getattr(a, k), getattr(b, k)]) for k in _COLUMNS),
                      values=np.concatenate([a.values, b.values]))
    return fast + slow, agg.take(np.argsort(agg.start, kind="stable"))


def _to_cloudwatch(flow_log, drafts, agg, fields, region, az_ids, now_ms) -> int | None:
    logs = moto_state.logs(region)
    group_name = flow_log.log_group_name
    exists = group_name in logs.groups
    if not flow_log_rules.role_may_deliver(flow_log, region, group_exists=exists):
        flow_log_rules.set_status(flow_log, False)
        return None
    flow_log_rules.set_status(flow_log, True)
    if not exists:
        logs.create_log_group(group_name, tags={})
    group = logs.groups[group_name]
    store = logstore.group(region, group_name)
    lines = format_array(drafts, agg, fields, region, az_ids)
    timestamps = agg.start * 1000
    # one stream per ENI, in order of first record, each keeping the records' order
    codes, enis = pd.factorize(np.ascontiguousarray(agg.values[agg.first, _ATTR_INDEX["eni_id"]]))
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]]), len(order)]
    for k in range(len(bounds) - 1):
        rows = order[bounds[k]:bounds[k + 1]]
        stream_name = f"{enis[codes[rows[0]]]}{STREAM_SUFFIX}"
        if stream_name not in group.streams:
            group.create_log_stream(stream_name)
        ts, msgs = timestamps[rows], lines.take(pa.array(rows))
        store.append(stream_name, ts, msgs, now_ms)
        note_events(group.streams[stream_name], ts, msgs, now_ms)
    return len(lines)


def note_events(stream, timestamps: list[int], messages: list[str], now_ms: int) -> None:
    """Keep moto's stream metadata (DescribeLogStreams) in step with what we stored."""
    first, last = int(np.min(timestamps)), int(np.max(timestamps))
    meta = getattr(stream, "lab_meta", None)
    if meta is None:
        meta = stream.lab_meta = {"first": first, "last": last}
    meta["first"] = min(meta["first"], first)
    meta["last"] = max(meta["last"], last)
    meta["ingestion"] = now_ms
    if isinstance(messages, pa.Array):
        chars = pc.sum(pc.utf8_length(messages)).as_py() or 0
    else:
        chars = sum(len(m) for m in messages)
    stream.stored_bytes += chars + 26 * len(messages)
    stream.upload_sequence_token += 1


def _install_stream_metadata() -> None:
    from moto.logs.models import LogStream

    if getattr(LogStream, "_lab_patched", False):
        return
    original = LogStream.to_describe_dict

    def to_describe_dict(self):
        answer = original(self)
        meta = getattr(self, "lab_meta", None)
        if meta:
            answer.update(
                firstEventTimestamp=meta["first"],
                lastEventTimestamp=meta["last"],
                lastIngestionTime=meta["ingestion"],
                uploadSequenceToken=str(self.upload_sequence_token),
            )
        return answer

    LogStream.to_describe_dict = to_describe_dict
    LogStream._lab_patched = True


_install_stream_metadata()


# ---- S3 ----------------------------------------------------------------------------------


def s3_key(flow_log, region: str, when_s: float, body: bytes, parquet: bool) -> tuple[str, str]:
    """(bucket, key) as AWS lays out flow-log objects."""
    destination = flow_log.log_destination.split(":::", 1)[1]
    bucket, _, prefix = destination.partition("/")
    prefix = (prefix.rstrip("/") + "/") if prefix else ""
    t = dt.datetime.fromtimestamp(int(when_s // 300) * 300, dt.UTC)
    options = getattr(flow_log, "destination_options", None) or {}
    if options.get("HiveCompatiblePartitions"):
        folder = (f"AWSLogs/aws-account-id={ACCOUNT_ID}/aws-service=vpcflowlogs/aws-region={region}/"
                  f"year={t:%Y}/month={t:%m}/day={t:%d}/")
        if options.get("PerHourPartition"):
            folder += f"hour={t:%H}/"
    else:
        folder = f"AWSLogs/{ACCOUNT_ID}/vpcflowlogs/{region}/{t:%Y}/{t:%m}/{t:%d}/"
        if options.get("PerHourPartition"):
            folder += f"{t:%H}/"
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest()[:8]
    suffix = ".log.parquet" if parquet else ".log.gz"
    name = f"{ACCOUNT_ID}_vpcflowlogs_{region}_{flow_log.id}_{t:%Y%m%dT%H%MZ}_{digest}{suffix}"
    return bucket, f"{prefix}{folder}{name}"


def _to_s3(flow_log, records, fields, region, az_ids, t0_s) -> int:
    options = getattr(flow_log, "destination_options", None) or {}
    parquet = options.get("FileFormat") == "parquet"
    if parquet:
        body = _parquet(records, fields, region, az_ids)
    else:
        lines = [" ".join(fields), *format_lines(records, fields, region, az_ids)]
        body = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    bucket, key = s3_key(flow_log, region, t0_s, body, parquet)
    try:
        s3 = _s3_backend()
        s3.put_object(bucket, key, body)
    except Exception:  # noqa: BLE001 - the bucket is gone: AWS reports a delivery error
        flow_log.deliver_logs_status = "FAILED"
        flow_log.deliver_logs_error_message = "LogDestinationNotFoundException"
        return 0
    return 1


def _s3_backend():
    from moto.backends import get_backend

    backends = get_backend("s3")[ACCOUNT_ID]
    return backends["aws"] if "aws" in backends else moto_state.s3()


def _parquet(records, fields, region, az_ids) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = columns(records, fields, region, az_ids, typed=True)
    arrays, names = [], []
    for name in dict.fromkeys(fields):
        column = _FIELDS[name].column if name in _FIELDS else name.replace("-", "_")
        if name in _INT_FIELDS:
            arr = pa.array(cols[name], type=pa.int32())
        elif name in _LONG_FIELDS:
            arr = pa.array(cols[name], type=pa.int64())
        else:
            arr = pa.array(cols[name], type=pa.string())
        arrays.append(arr)
        names.append(column)
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), sink, compression="gzip")
    return sink.getvalue()
