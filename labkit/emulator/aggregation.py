"""Capture windows and aggregation: network-model drafts -> one row per flow-log record.

A draft is one packet (or a few) on one interface; a flow-log record sums a flow's
packets on one interface within one aggregation window. Windows are aligned on the
epoch: a draft at ``t0_s + offset_s`` falls in the window that starts at the
multiple of its window length at or before that second.

The result is an Arrow table with the flow-log fields' snake_case columns
(``interface_id``, ``srcaddr``, ``packets``, ``start`` ...), which
:mod:`labkit.flowlogs` formats. Whole-column operations only: no Python loop per
record, and each draft is visited once.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd
import pyarrow as pa

from labkit.netmodel import FlowDraft

# One record per interface, direction, 5-tuple and action (AWS: a flow's ACCEPT and
# REJECT packets are separate records) in each window.
_KEY_ATTRS = ("eni_id", "flow_direction", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action")
# Taken from the flow's first draft in the window.
_FIRST_ATTRS = ("vpc_id", "subnet_id", "instance_id", "type", "pkt_srcaddr", "pkt_dstaddr", "traffic_path")
_SUMMED_ATTRS = ("offset_s", "packets", "bytes", "tcp_flags")
_ATTRS = (*_KEY_ATTRS, *_SUMMED_ATTRS, *_FIRST_ATTRS)
_INDEX = {a: i for i, a in enumerate(_ATTRS)}
_GET_ATTRS = operator.attrgetter(*_ATTRS)
_COLUMN_OF = {"eni_id": "interface_id"}
_INT_ATTRS = {"srcport", "dstport", "protocol", "traffic_path"}


def aggregate(drafts: list[FlowDraft], window_s, t0_s: float = 0.0) -> pa.Table:
    """The records of ``drafts``: packets and bytes summed, tcp-flags OR-ed, per flow and window.

    ``window_s`` is one window length (seconds) or one per draft. Records come in order
    of their window's start, then of their flow's first draft; ``start``/``end`` are the
    window's bounds in epoch seconds.
    """
    if not drafts:
        return pa.table({})
    n = len(drafts)
    values = np.empty((n, len(_ATTRS)), dtype=object)
    values[:] = list(map(_GET_ATTRS, drafts))
    windows = np.broadcast_to(np.asarray(window_s, dtype=np.int64), (n,))
    offsets = values[:, _INDEX["offset_s"]].astype(np.float64)
    starts = ((t0_s + offsets) // windows).astype(np.int64) * windows

    key = np.zeros(n, np.int64)
    factors = {}
    for attr in _KEY_ATTRS:
        codes, uniques = factors[attr] = pd.factorize(values[:, _INDEX[attr]], use_na_sentinel=False)
        key = _combine(key, codes, len(uniques))
    for per_draft in (starts, windows):
        codes, uniques = pd.factorize(per_draft)
        key = _combine(key, codes, len(uniques))
    group = pd.factorize(key)[0]  # records numbered in order of first appearance
    order = np.argsort(group, kind="stable")
    sorted_groups = group[order]
    bounds = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    first = order[bounds]  # per record: its first draft
    by_start = np.argsort(starts[first], kind="stable")
    first = first[by_start]

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
    columns["start"] = pa.array(starts[first])
    columns["end"] = pa.array(starts[first] + windows[first])
    for attr in _FIRST_ATTRS:
        taken = [v if v not in ("", None) else None for v in values[first, _INDEX[attr]]]
        columns[attr] = pa.array(taken, type=pa.int64() if attr in _INT_ATTRS else pa.string())
    return pa.table(columns)


def _combine(key: np.ndarray, codes: np.ndarray, cardinality: int) -> np.ndarray:
    # Re-number after each step so that the combined key never overflows int64.
    return pd.factorize(key * cardinality + codes)[0].astype(np.int64)

