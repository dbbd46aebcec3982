"""Logs Insights over the lab's custom format: the ``parse`` prefix, and cross-checks against pandas.

Logs Insights discovers the fields of flow-log events only in the default format (AWS, "Supported
logs and discovered fields"). The lab's flow logs use a custom format, so a query must start with
``PARSE``, which names the fields in the format's order (the names AWS would discover). Without it,
``srcAddr`` or ``action`` exist in no event: ``filter action = "REJECT"`` matches nothing.

Notebook 09 runs AWS's four sample queries for flow logs as written (AWS, "Sample queries",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-examples.html) and asks pandas
the same question next to each: :func:`same_top` and :func:`same_rows` compare the two answers.
``LAB_QUERIES`` are the lab's own queries, each with its pandas twin.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labkit.flowlogs import FIELDS, LAB_FIELDS
from labkit.logsinsights import natural_key

__all__ = ["LAB_QUERIES", "PARSE", "SampleQuery", "same_answer", "same_rows", "same_top"]

PARSE = (f'parse @message "{" ".join("*" for _ in LAB_FIELDS)}" as '
         + ", ".join(FIELDS[f].insights for f in LAB_FIELDS))
"""The query prefix that names the lab format's fields, in order, as Logs Insights discovers them."""


@dataclass(frozen=True)
class SampleQuery:
    """One of the lab's own queries, and the same question asked of the lab's DataFrame."""

    title: str
    query: str
    pandas: Callable[[pd.DataFrame], pd.DataFrame]


def _traffic(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["log_status"] == "OK"]


def _insights_order(frame: pd.DataFrame, by: list[str], ascending: list[bool]) -> pd.DataFrame:
    # Insights' sort is AWS's natural order ("192.0.2.11" before "192.0.2.103"), not pandas' lexical one.
    return frame.sort_values(by, ascending=ascending, key=lambda column: column.map(natural_key))


def _top(frame: pd.DataFrame, by: list[str], value: str, name: str, n: int) -> pd.DataFrame:
    out = frame.groupby(by, observed=True)[value].sum().rename(name).reset_index()
    return _insights_order(out, [name, *by], [False, *[True] * len(by)]).head(n)


def in_subnet(addresses: pd.Series, cidr: str) -> pd.Series:
    """True where the address lies in ``cidr`` (Insights' ``isIpv4InSubnet``); missing ones are False.
    Each distinct address is checked once: a log has many records and few addresses."""
    network = ipaddress.ip_network(cidr)
    codes, uniques = pd.factorize(addresses.astype("string").fillna(""))
    inside = np.array([bool(u) and ipaddress.ip_address(u) in network for u in uniques], dtype=bool)
    return pd.Series(inside[codes] if len(codes) else [], index=addresses.index, dtype=bool)


LAB_QUERIES = [
    SampleQuery(
        "Top 10 source/destination pairs by packets",
        f"{PARSE}\n| stats sum(packets) as packetsTransferred by srcAddr, dstAddr"
        "\n| sort packetsTransferred desc, srcAddr asc, dstAddr asc\n| limit 10",
        lambda df: _top(_traffic(df), ["srcaddr", "dstaddr"], "packets", "packetsTransferred", 10),
    ),
    SampleQuery(
        "Bytes to each destination from subnet 10.0.1.0/24",
        f"{PARSE}\n| filter isIpv4InSubnet(srcAddr, \"10.0.1.0/24\")"
        "\n| stats sum(bytes) as bytesTransferred by dstAddr\n| sort bytesTransferred desc, dstAddr asc"
        "\n| limit 15",
        lambda df: _top(_traffic(df)[in_subnet(_traffic(df)["srcaddr"], "10.0.1.0/24")],
                        ["dstaddr"], "bytes", "bytesTransferred", 15),
    ),
    SampleQuery(
        "Rejected traffic by source and destination port",
        f"{PARSE}\n| filter action = \"REJECT\"\n| stats count(*) as rejected by srcAddr, dstPort"
        "\n| sort rejected desc, srcAddr asc, dstPort asc\n| limit 20",
        lambda df: (df[df["action"] == "REJECT"].groupby(["srcaddr", "dstport"], observed=True)
                    .size().rename("rejected").reset_index()
                    .pipe(_insights_order, ["rejected", "srcaddr", "dstport"], [False, True, True])
                    .head(20)),
    ),
    SampleQuery(
        "REJECT records per minute",
        f"{PARSE}\n| filter action = \"REJECT\"\n| stats count(*) as rejected by bin(1m) as minute"
        "\n| sort minute",
        lambda df: (df[df["action"] == "REJECT"].assign(minute=lambda d: d["start"].dt.floor("1min"))
                    .groupby("minute").size().rename("rejected").reset_index()),
    ),
    SampleQuery(
        "UDP sources",
        f"{PARSE}\n| filter protocol = 17\n| stats count(*) as records by srcAddr"
        "\n| sort records desc, srcAddr asc",
        lambda df: (df[df["protocol_name"] == "UDP"].groupby("srcaddr", observed=True).size()
                    .rename("records").reset_index()
                    .pipe(_insights_order, ["records", "srcaddr"], [False, True])),
    ),
    SampleQuery(
        "SKIPDATA records per hour",
        f"{PARSE}\n| filter logStatus = \"SKIPDATA\"\n| stats count(*) as skipped by bin(1h) as hour"
        "\n| sort hour",
        lambda df: (df[df["log_status"] == "SKIPDATA"]
                    .assign(hour=lambda d: d["event_timestamp"].dt.floor("1h"))
                    .groupby("hour").size().rename("skipped").reset_index()),
    ),
]
"""The lab's own Logs Insights queries (adapted from AWS's samples, not AWS's text), each with its pandas
twin; ties are broken by a second sort key, so that both tools give the same rows in the same order."""


def same_answer(insights: pd.DataFrame, by_pandas: pd.DataFrame) -> bool:
    """True when both tools give the same rows (column names and number types aside)."""
    if len(insights) != len(by_pandas):
        return False
    if insights.empty:
        return True
    left = insights.astype(str).to_numpy().tolist()
    right = by_pandas.astype(str).to_numpy().tolist()
    norm = [[_norm(v) for v in row] for row in left]
    return norm == [[_norm(v) for v in row] for row in right]


def _norm(value: str) -> str:
    # Insights prints times as "2026-01-15 10:00:00.000"; pandas as "2026-01-15 10:00:00+00:00".
    return value.replace("+00:00", "").replace(".000", "")


def same_top(insights: pd.DataFrame, by_pandas: pd.Series, limit: int) -> bool:
    """True when Insights' ``sort ... desc | limit`` answer is a top ``limit`` of pandas' full ranking.

    ``by_pandas`` is the whole answer, one value per key, largest first (no ``head``). Rows that tie
    at the cut may be kept by either tool, so this compares the values in order and checks that
    every row Insights kept has the same value in pandas, instead of comparing row by row.
    """
    expected = by_pandas.head(limit)
    if len(insights) != len(expected):
        return False
    if insights.empty:
        return True
    values = insights.iloc[:, -1].tolist()
    if [float(v) for v in values] != [float(v) for v in expected.tolist()]:
        return False
    full = {_key(k): float(v) for k, v in by_pandas.items()}
    keys = insights.iloc[:, :-1].itertuples(index=False, name=None)
    return all(full.get(_key(k)) == float(v) for k, v in zip(keys, values, strict=True))


def same_rows(insights: pd.DataFrame, by_pandas: pd.Series) -> bool:
    """True when Insights' ``stats ... by`` rows are pandas' groups, in any order.

    ``by_pandas`` holds one value per key (a groupby's ``size()`` or ``sum()``); Insights' last column
    is the value and the others the key.
    """
    if len(insights) != len(by_pandas):
        return False
    if insights.empty:
        return True
    got = {_key(k): float(v) for k, v in zip(insights.iloc[:, :-1].itertuples(index=False, name=None),
                                                insights.iloc[:, -1], strict=True)}
    return got == {_key(k): float(v) for k, v in by_pandas.items()}


def _key(key) -> tuple[str, ...]:
    """A group's key as text: Insights gives bin() times as UTC timestamps, pandas may too."""
    parts = key if isinstance(key, tuple) else (key,)
    return tuple(_utc(p).isoformat() if isinstance(p, pd.Timestamp) else str(p) for p in parts)


def _utc(moment: pd.Timestamp) -> pd.Timestamp:
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
