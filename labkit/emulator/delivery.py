"""Flow-log delivery: network-model drafts -> records in every flow log that covers them.

``deliver(region, drafts, t0_s, network)`` takes the drafts of one command (or a
benchmark's batch), with ``offset_s`` counted from the wall-clock second ``t0_s``,
and for every flow log of the region:

- keeps the drafts of ENIs it covers (flow log on the VPC, the subnet or the ENI)
  and of the actions its TrafficType asks for;
- aggregates them (:mod:`aggregation`) over windows of the flow log's
  MaxAggregationInterval, 60 s for instances on Nitro whatever it says, as on AWS;
- adds what the records say about their place (account, region, AZ, version,
  log-status) and hands them to a destination (:mod:`destinations`), which formats
  them through :mod:`labkit.flowlogs` in that flow log's format.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labkit.emulator import aggregation, destinations, moto_adapter
from labkit.emulator.moto_adapter import FlowLogConfig
from labkit.flowlogs import DEFAULT_FORMAT, FIELDS, parse_format
from labkit.netmodel import FlowDraft

NITRO_WINDOW_S = 60


@dataclass
class DeliveryReport:
    """What one delivery did, summed over the flow logs."""

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
    flow_logs = moto_adapter.flow_logs(region)
    if not flow_logs:
        return report
    by_eni: dict[str, list[FlowDraft]] = {}
    for d in drafts:
        by_eni.setdefault(d.eni_id, []).append(d)
    nitro = _nitro_instances(network)
    az_ids = network.az_ids if network is not None else {}
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    for flow_log in flow_logs:
        mine, windows = _covered(flow_log, by_eni, nitro)
        if not mine:
            continue
        fields = parse_format(flow_log.log_format or DEFAULT_FORMAT)
        records = with_context(aggregation.aggregate(mine, windows, t0_s), fields, region, az_ids)
        report.records += records.num_rows
        if flow_log.destination_type == "s3":
            report.s3_objects += destinations.to_s3(region, flow_log, records, fields, t0_s)
            continue
        delivered = destinations.to_cloudwatch(region, flow_log, records, fields, now_ms)
        if delivered is None:
            report.failed_flow_logs += 1
        else:
            report.cloudwatch_events += delivered
    return report


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
        window = (NITRO_WINDOW_S if first.instance_id in nitro else flow_log.max_aggregation_interval)
        mine += drafts
        windows.append(np.full(len(drafts), window, np.int64))
    return mine, (np.concatenate(windows) if windows else np.empty(0, np.int64))


def _nitro_instances(network) -> set[str]:
    if network is None:
        return set()
    return {i.id for i in network.topology.instances.values() if i.nitro}


def format_version(fields: list[str]) -> int:
    """AWS: 2 for the default format, else the highest version among the chosen fields."""
    return max((FIELDS[f].version for f in fields if f in FIELDS), default=2)


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
