"""Flow-log delivery: network-model drafts -> records in every flow log that covers them.

``deliver(region, drafts, t0_s, network)`` takes the drafts of one command (or a
benchmark's batch), with ``offset_s`` counted from the epoch second ``t0_s``, and
for every flow log of the region keeps the drafts of the ENIs it covers (flow log
on the VPC, the subnet or the ENI) and of the actions its TrafficType asks for.

Drafts wait in the flow log's open capture windows (:mod:`aggregation`: one record
per interface, flow and window of the flow log's MaxAggregationInterval, 60 s for
instances on Nitro whatever it says, as on AWS), so that two commands a few seconds
apart add up to one record. A window is published when it has closed by the clock,
or earlier when anyone reads where records go (CloudWatch Logs reads, any S3 call,
DescribeFlowLogs): AWS's windows are "up to" the interval. Publishing adds what the
records say about their place (account, region, AZ, version, log-status) and hands
them to a destination (:mod:`destinations`), which formats them through
:mod:`labkit.flowlogs` in that flow log's format.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labkit.emulator import aggregation, destinations, moto_adapter
from labkit.emulator.awsproto import Call
from labkit.emulator.hooks import before
from labkit.emulator.moto_adapter import FlowLogConfig
from labkit.flowlogs import DEFAULT_FORMAT, FIELDS, format_version, parse_format
from labkit.netmodel import FlowDraft

NITRO_WINDOW_S = 60
# Reads that see published records: each publishes the open windows of the region first.
_READS = {
    "logs": ("GetLogEvents", "FilterLogEvents", "StartQuery", "DescribeLogStreams", "DescribeLogGroups"),
    "s3": ("",),  # S3's REST calls carry no operation name: any S3 call
    "ec2": ("DescribeFlowLogs", "DeleteFlowLogs"),
}


@dataclass
class DeliveryReport:
    """What one delivery published, summed over the flow logs."""

    records: int = 0
    cloudwatch_events: int = 0
    s3_objects: int = 0
    failed_flow_logs: int = 0


@dataclass
class _OpenWindows:
    """A flow log's drafts whose capture windows are still open."""

    flow_log: FlowLogConfig
    drafts: list[FlowDraft] = field(default_factory=list)
    t0s: list[np.ndarray] = field(default_factory=list)  # per draft: its command's start
    windows: list[np.ndarray] = field(default_factory=list)
    az_ids: dict[str, str] = field(default_factory=dict)


OPEN: dict[tuple[str, str], _OpenWindows] = {}  # (region, flow-log id) -> its open windows


def reset() -> None:
    OPEN.clear()


def deliver(region: str, drafts: list[FlowDraft], t0_s: float, network=None,
            *, now_ms: int | None = None) -> DeliveryReport:
    """Add the drafts of traffic that started at epoch ``t0_s``; publish the windows now closed."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    by_eni: dict[str, list[FlowDraft]] = {}
    for d in drafts:
        by_eni.setdefault(d.eni_id, []).append(d)
    nitro = _nitro_instances(network)
    for flow_log in moto_adapter.flow_logs(region) if drafts else []:
        mine, windows = _covered(flow_log, by_eni, nitro)
        if not mine:
            continue
        pending = OPEN.setdefault((region, flow_log.id), _OpenWindows(flow_log))
        pending.drafts += mine
        pending.t0s.append(np.full(len(mine), t0_s, np.float64))
        pending.windows.append(windows)
        pending.az_ids.update(network.az_ids if network is not None else {})
    return publish(region, now_ms=now_ms, closed_only=True)


def publish(region: str | None = None, *, now_ms: int | None = None,
            closed_only: bool = False) -> DeliveryReport:
    """Publish the open windows of ``region`` (None: of every region): those closed by
    ``now_ms``, or all of them."""
    report = DeliveryReport()
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    for key in [k for k in OPEN if region in (None, k[0])]:
        pending = OPEN.pop(key)
        t0s, windows = np.concatenate(pending.t0s), np.concatenate(pending.windows)
        agg = aggregation.aggregate(pending.drafts, t0s, windows)
        if closed_only:
            still_open = agg.closes_at_s * 1000 > now_ms
            keep = still_open[agg.record_of_draft]
            if keep.any():
                kept = [d for d, k in zip(pending.drafts, keep, strict=True) if k]
                OPEN[key] = _OpenWindows(pending.flow_log, kept, [t0s[keep]], [windows[keep]],
                                         pending.az_ids)
            records = agg.records.filter(pa.array(~still_open)) if keep.any() else agg.records
        else:
            records = agg.records
        if records.num_rows:
            _publish(key[0], pending.flow_log, records, pending.az_ids, now_ms, report)
    return report


def _publish(region: str, flow_log: FlowLogConfig, records: pa.Table, az_ids: dict[str, str],
             now_ms: int, report: DeliveryReport) -> None:
    fields = parse_format(flow_log.log_format or DEFAULT_FORMAT)
    records = with_context(records, fields, region, az_ids)
    report.records += records.num_rows
    last_packet_s = pc.max(records.column("end")).as_py()
    if flow_log.destination_type == "s3":
        report.s3_objects += destinations.to_s3(region, flow_log, records, fields, last_packet_s)
        return
    # AWS ingests a record after its window: never before its last packet
    ingestion_ms = max(now_ms, (last_packet_s + 1) * 1000)
    delivered = destinations.to_cloudwatch(region, flow_log, records, fields, ingestion_ms)
    if delivered is None:
        report.failed_flow_logs += 1
    else:
        report.cloudwatch_events += delivered


def _covered(flow_log: FlowLogConfig, by_eni: dict[str, list[FlowDraft]],
             nitro: set[str]) -> tuple[list[FlowDraft], np.ndarray]:
    """The drafts this flow log records, and each one's window length."""
    mine: list[FlowDraft] = []
    windows: list[np.ndarray] = []
    for eni_id, drafts in by_eni.items():
        first = drafts[0]
        if flow_log.resource_id not in (eni_id, first.subnet_id, first.vpc_id):
            continue
        if flow_log.traffic_type != "ALL":
            drafts = [d for d in drafts if d.action == flow_log.traffic_type]
        window = NITRO_WINDOW_S if first.instance_id in nitro else flow_log.max_aggregation_interval
        mine += drafts
        windows.append(np.full(len(drafts), window, np.float64))
    return mine, (np.concatenate(windows) if windows else np.empty(0, np.float64))


def _nitro_instances(network) -> set[str]:
    if network is None:
        return set()
    return {i.id for i in network.topology.instances.values() if i.nitro}


def with_context(records: pa.Table, fields: list[str], region: str, az_ids: dict[str, str]) -> pa.Table:
    """The records plus the columns the format asks for that the traffic does not say."""
    n = records.num_rows
    constants = {"version": format_version(fields), "account-id": moto_adapter.ACCOUNT_ID,
                 "region": region, "log-status": "OK"}
    for name in fields:
        column = FIELDS[name].column if name in FIELDS else None
        if column is None or column in records.column_names:
            continue
        if name in constants:
            records = records.append_column(column, pa.repeat(pa.scalar(constants[name]), n))
        elif name == "az-id":
            subnets = records.column("subnet_id")
            known = pc.unique(subnets)
            zones = pa.array([az_ids.get(s) for s in known.to_pylist()], pa.string())
            records = records.append_column(column, zones.take(pc.index_in(subnets, value_set=known)))
    return records


def _publish_before_read(call: Call):
    # an S3 client's region need not be the flow log's: an S3 read publishes every region's windows
    publish(None if call.service == "s3" else call.region)


def _register() -> None:
    from labkit.emulator import layer

    for service, operations in _READS.items():
        for operation in operations:
            before(service, operation)(_publish_before_read)
    if reset not in layer.RESET_CALLBACKS:
        layer.RESET_CALLBACKS.append(reset)


_register()
