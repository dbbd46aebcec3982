"""Capture windows and aggregation: network-model drafts -> one row per flow-log record.

AWS, "Flow log records" (VPC User Guide): a record captures one flow (the 5-tuple)
on one network interface within an aggregation interval, the *capture window*, of
at most the flow log's maximum aggregation interval; ``start`` and ``end`` are the
times of the first and last packet of the flow within the window. Here a flow's
window opens with its first packet and lasts the window length; the next packet
after it opens the next window. (AWS's windows are "up to" the interval: a
delivery may close one early, see :mod:`delivery`.) A flow's ACCEPT and REJECT
packets are separate records.

The result is an Arrow table with the flow-log fields' snake_case columns
(``interface_id``, ``srcaddr``, ``packets``, ``start`` ...), which
:mod:`labkit.flowlogs` formats. Whole-column operations only: no Python loop per
record, and each draft is visited once.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from labkit.netmodel import FlowDraft

_KEY_ATTRS = ("eni_id", "flow_direction", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action")
# Taken from the flow's first draft in the window.
_FIRST_ATTRS = ("vpc_id", "subnet_id", "instance_id", "type", "pkt_srcaddr", "pkt_dstaddr", "traffic_path")
_SUMMED_ATTRS = ("packets", "bytes", "tcp_flags")
_ATTRS = (*_KEY_ATTRS, *_SUMMED_ATTRS, *_FIRST_ATTRS, "offset_s")
_INDEX = {a: i for i, a in enumerate(_ATTRS)}
_GET_ATTRS = operator.attrgetter(*_ATTRS)
_COLUMN_OF = {"eni_id": "interface_id"}
_INT_ATTRS = {"srcport", "dstport", "protocol", "traffic_path"}


@dataclass(frozen=True)
class Aggregated:
    """The records, and for each one when its capture window closes; for each draft, its record."""

    records: pa.Table
    closes_at_s: np.ndarray  # per record: window opening + window length (epoch seconds)
    record_of_draft: np.ndarray  # per draft: its row in ``records``


def aggregate(drafts: list[FlowDraft], t0_s: np.ndarray, windows_s: np.ndarray) -> Aggregated:
    """The records of ``drafts``, each at ``t0_s + offset_s`` (epoch seconds; ``t0_s`` one per draft,
    that of its command) with its window length ``windows_s``.

    Packets and bytes add up and tcp-flags are OR-ed per flow and capture window;
    records come in order of ``start``, then of their first draft.
    """
    n = len(drafts)
    values = np.empty((n, len(_ATTRS)), dtype=object)
    values[:] = list(map(_GET_ATTRS, drafts))
    times = np.asarray(t0_s, dtype=np.float64) + values[:, _INDEX["offset_s"]].astype(np.float64)
    windows = np.asarray(windows_s, dtype=np.float64)
    flow = np.zeros(n, np.int64)
    factors = {}
    for attr in _KEY_ATTRS:
        codes, uniques = factors[attr] = pd.factorize(values[:, _INDEX[attr]], use_na_sentinel=False)
        flow = pd.factorize(flow * len(uniques) + codes)[0].astype(np.int64)  # never overflows
    order = np.lexsort((np.arange(n), times, flow))  # by flow, then time, then arrival
    flows = flow[order]
    opened = _window_openings(flows, times[order], windows[order])
    # one record per run of equal (flow, window opening) in that order
    bounds = np.flatnonzero(np.r_[True, (flows[1:] != flows[:-1]) | (opened[1:] != opened[:-1])])
    first, last = order[bounds], order[np.r_[bounds[1:], n] - 1]
    by_start = np.lexsort((first, times[first]))
    first, last = first[by_start], last[by_start]
    rank = np.empty(len(by_start), np.int64)
    rank[by_start] = np.arange(len(by_start))
    record_of_draft = np.empty(n, np.int64)
    record_of_draft[order] = rank[np.repeat(np.arange(len(bounds)), np.diff(np.r_[bounds, n]))]

    def summed(attr: str, ufunc) -> pa.Array:
        column = values[:, _INDEX[attr]].astype(np.int64)[order]
        return pa.array(ufunc.reduceat(column, bounds)[by_start])

    columns: dict[str, pa.Array] = {}
    for attr in _KEY_ATTRS:
        codes, uniques = factors[attr]
        columns[_COLUMN_OF.get(attr, attr)] = pa.array(np.asarray(uniques, dtype=object)).take(codes[first])
    columns["packets"] = summed("packets", np.add)
    columns["bytes"] = summed("bytes", np.add)
    columns["tcp_flags"] = summed("tcp_flags", np.bitwise_or)
    columns["start"] = pa.array(np.floor(times[first]).astype(np.int64))
    columns["end"] = pa.array(np.floor(times[last]).astype(np.int64))
    for attr in _FIRST_ATTRS:
        kind = pa.int64() if attr in _INT_ATTRS else pa.string()
        columns[attr] = pa.array(values[first, _INDEX[attr]], type=kind, from_pandas=True)
    return Aggregated(pa.table(columns), times[first] + windows[first], record_of_draft)


def _window_openings(flow: np.ndarray, times: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """For drafts sorted by flow then time: when each one's capture window opened.

    A flow's first draft opens a window; drafts before it closes join it; the first
    draft after opens the next. One pass per window of the longest-lived flow.
    """
    opened = np.empty(len(times), np.float64)
    waiting = np.arange(len(times))
    while len(waiting):
        f = flow[waiting]
        opens = np.r_[True, f[1:] != f[:-1]]  # the first waiting draft of each flow
        at = times[waiting][opens][np.cumsum(opens) - 1]
        inside = times[waiting] < at + windows[waiting]
        opened[waiting[inside]] = at[inside]
        waiting = waiting[~inside]
    return opened
