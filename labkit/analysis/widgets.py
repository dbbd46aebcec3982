"""An interactive explorer of flow-log records, and the pure filter behind it.

>>> explorer(records)                       # filters, a chart and a table, in a notebook
>>> apply_filters(records, action="REJECT", port=22)   # the same filtering, as a function

The explorer's filters (action, protocol, ENI, time window, destination port) call
:func:`apply_filters`; its chart is one of :mod:`labkit.analysis.charts` drawn on the filtered rows,
and its table shows the first rows. Its text form (what nbval compares) names the data and
the filters, never an object id.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd

from labkit.analysis import charts
from labkit.flowlogs import protocol_name

__all__ = ["apply_filters", "explorer", "FlowLogExplorer", "parse_ports", "CHARTS"]

#: the charts the explorer offers: label -> function of the filtered frame.
CHARTS: dict[str, Any] = {
    "accept / reject": charts.accept_reject_pie,
    "traffic over time": charts.traffic_over_time,
    "rejected ports": charts.rejects_by_port,
    "top talkers": charts.top_talkers,
    "source × destination": charts.src_dst_matrix,
}

_ALL = "all"
_TABLE_COLUMNS = (
    "start",
    "interface_id",
    "flow_direction",
    "srcaddr",
    "srcport",
    "dstaddr",
    "dstport",
    "protocol_name",
    "packets",
    "bytes",
    "action",
    "log_status",
)
_TABLE_STYLE = """<style>
.labkit-records { border-collapse: collapse; font-size: 12px;
  font-family: var(--jp-code-font-family, monospace); }
.labkit-records th { text-align: left; border-bottom: 1px solid #999; padding: 3px 10px 3px 0; }
.labkit-records td { padding: 2px 10px 2px 0; white-space: nowrap; }
.labkit-records tbody tr:nth-child(even) { background: rgba(127, 127, 127, 0.08); }
</style>"""
_EXPLORER_COLUMNS = ("action", "interface_id", "start", "dstport")


# --------------------------------------------------------------------------- filtering


def _is_unset(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == "" or value.strip().lower() == _ALL
    if isinstance(value, Iterable):
        return len(list(value)) == 0
    return False


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, int, np.integer)) or not isinstance(value, Iterable):
        return [value]
    return [v for v in value if not _is_unset(v)]


def _need(df: pd.DataFrame, column: str, what: str) -> None:
    if column not in df.columns:
        raise ValueError(f"apply_filters({what}=...) needs column {column!r}, not in the DataFrame")


def parse_ports(port: Any) -> list[tuple[int, int]]:
    """Destination ports as inclusive ranges: 22 -> [(22, 22)]; "80, 443" ; "1024-65535"."""
    if _is_unset(port):
        return []
    items: list[Any] = []
    for p in _as_list(port):
        if isinstance(p, str):
            text = re.sub(r"\s*-\s*", "-", p.strip())
            items.extend(x for x in re.split(r"[,\s]+", text) if x)
        else:
            items.append(p)
    ranges = []
    for item in items:
        text = str(item).strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text) if isinstance(item, str) else None
        try:
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
            elif isinstance(item, (bool, np.bool_)):
                raise ValueError
            else:
                lo = hi = int(item) if not isinstance(item, str) else int(text, 10)
        except (TypeError, ValueError):
            raise ValueError(
                f"port must be a number 0-65535, a list or a range like '1024-65535', got {item!r}"
            ) from None
        if not (0 <= lo <= 65535 and 0 <= hi <= 65535) or lo > hi:
            raise ValueError(f"port must be within 0-65535 (low-high), got {item!r}")
        ranges.append((lo, hi))
    return ranges


def _utc(value: Any, name: str) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"time_range {name} {value!r} is not a time") from exc
    if ts is pd.NaT:
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def apply_filters(
    df: pd.DataFrame,
    action: str | Sequence[str] | None = None,
    protocol: str | int | Sequence[str | int] | None = None,
    eni: str | Sequence[str] | None = None,
    time_range: tuple[Any, Any] | None = None,
    port: int | str | Sequence[int | str] | None = None,
) -> pd.DataFrame:
    """The records that pass every filter given; a filter left at None (or "all") passes all.

    - ``action``: "ACCEPT" or "REJECT" (any case), or a list of them.
    - ``protocol``: a name ("TCP", "icmp"), a number (6) or a list; matches ``protocol_name``
      or the ``protocol`` number.
    - ``eni``: an ``interface_id`` or a list of them.
    - ``time_range``: ``(from, to)`` on ``start``, from included, to excluded
      (``from <= start < to``); either end may be None; strings, datetimes and Timestamps
      are accepted, naive times are taken as UTC.
    - ``port``: the destination port: an int, a list, or a string such as "22", "80,443"
      or "1024-65535" (ranges inclusive).

    Rows whose filtered column is missing (<NA>) do not pass that filter, so filtering on
    action leaves NODATA rows out. The result keeps the frame's columns, dtypes and index.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"apply_filters() needs a pandas DataFrame, got {type(df)!r}")
    mask = np.ones(len(df), dtype=bool)

    if not _is_unset(action):
        _need(df, "action", "action")
        wanted = {str(a).strip().upper() for a in _as_list(action)}
        unknown = wanted - {"ACCEPT", "REJECT"}
        if unknown:
            raise ValueError(f"action must be 'ACCEPT' or 'REJECT', got {sorted(unknown)}")
        got = df["action"].astype("string").str.strip().str.upper()
        mask &= got.isin(wanted).fillna(False).to_numpy(dtype=bool)

    if not _is_unset(protocol):
        if "protocol_name" not in df.columns and "protocol" not in df.columns:
            raise ValueError(
                "apply_filters(protocol=...) needs column 'protocol_name' (or 'protocol')"
            )
        names = charts.protocol_labels(df).str.upper()
        numbers = (
            pd.to_numeric(df["protocol"].astype("object"), errors="coerce")
            if "protocol" in df.columns
            else pd.Series(np.nan, index=df.index)
        )
        want_names, want_numbers = set(), set()
        for p in _as_list(protocol):
            text = str(p).strip()
            if text.isdigit():
                want_numbers.add(int(text))
                want_names.add(protocol_name(int(text)).upper())
            else:
                want_names.add(text.upper())
        hit = names.isin(want_names).fillna(False).to_numpy(dtype=bool)
        hit = hit | numbers.isin(want_numbers).fillna(False).to_numpy(dtype=bool)
        mask &= hit

    if not _is_unset(eni):
        _need(df, "interface_id", "eni")
        wanted = {str(e).strip() for e in _as_list(eni)}
        got = df["interface_id"].astype("string")
        mask &= got.isin(wanted).fillna(False).to_numpy(dtype=bool)

    if time_range is not None:
        try:
            lo, hi = time_range
        except (TypeError, ValueError):
            raise ValueError(
                f"time_range must be a pair (from, to), got {time_range!r}"
            ) from None
        lo, hi = _utc(lo, "from"), _utc(hi, "to")
        if lo is not None or hi is not None:
            _need(df, "start", "time_range")
            start = pd.to_datetime(df["start"], utc=True)
            ok = start.notna()
            if lo is not None:
                ok &= start >= lo
            if hi is not None:
                ok &= start < hi
            mask &= ok.fillna(False).to_numpy(dtype=bool)

    ranges = parse_ports(port)
    if ranges:
        _need(df, "dstport", "port")
        ports = pd.to_numeric(df["dstport"].astype("object"), errors="coerce")
        hit = np.zeros(len(df), dtype=bool)
        for lo, hi in ranges:
            hit |= ((ports >= lo) & (ports <= hi)).fillna(False).to_numpy(dtype=bool)
        mask &= hit

    return df[mask]


# --------------------------------------------------------------------------- the widget


def _time_edges(start: pd.Series, max_steps: int = 240) -> list[pd.Timestamp]:
    """Slider stops: whole minutes over the data (or coarser steps for long spans)."""
    start = pd.to_datetime(start, utc=True).dropna()
    if start.empty:
        return []
    lo = start.min().floor("1min")
    hi = start.max().floor("1min") + pd.Timedelta(minutes=1)
    step = pd.Timedelta(minutes=1)
    while (hi - lo) / step > max_steps:
        step *= 2 if step < pd.Timedelta(hours=1) else 3
    hi = lo + step * int(np.ceil((hi - lo) / step))
    return list(pd.date_range(lo, hi, freq=step))


def _edge_label(ts: pd.Timestamp, same_day: bool) -> str:
    return ts.strftime("%H:%M" if same_day else "%m-%d %H:%M")


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"



_LABEL = {"description_width": "70px"}


def _dropdown(description: str, values, width: str = "200px"):
    """A filter menu: "all" first, then the values."""
    return W.Dropdown(options=[_ALL, *values], value=_ALL, description=description,
                      style=_LABEL, layout=W.Layout(width=width))

class FlowLogExplorer(W.VBox):
    """Filters, a chart and a table over a frame of flow-log records; see :func:`explorer`."""

    def __init__(self, df: pd.DataFrame, chart: str = "accept / reject", rows: int = 10):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"explorer() needs a pandas DataFrame, got {type(df)!r}")
        missing = [c for c in _EXPLORER_COLUMNS if c not in df.columns]
        if "protocol_name" not in df.columns and "protocol" not in df.columns:
            missing.append("protocol_name (or protocol)")
        if missing:
            raise ValueError(
                "explorer() needs column(s) " + ", ".join(repr(c) for c in missing)
                + " in the DataFrame"
            )
        if chart not in CHARTS:
            raise ValueError(f"chart must be one of {list(CHARTS)}, got {chart!r}")
        self.df = df
        self.rows = rows
        self._filtered = df
        self._edges = _time_edges(df["start"])

        protocols = sorted(set(charts.protocol_labels(df).dropna()) - {"unknown"})
        enis = sorted(set(df["interface_id"].dropna().astype(str)))
        self.action = _dropdown("action", ["ACCEPT", "REJECT"])
        self.protocol = _dropdown("protocol", protocols)
        self.eni = _dropdown("ENI", enis, width="320px")
        same_day = len({e.date() for e in self._edges}) <= 1
        if len(self._edges) >= 2:
            options = [(_edge_label(e, same_day), e) for e in self._edges]
            index = (0, len(options) - 1)
        else:
            options, index = [("no times", None)], (0, 0)
        self.time = W.SelectionRangeSlider(
            options=options,
            index=index,
            description="time",
            tooltip="window on the records' start, in UTC",
            disabled=len(self._edges) < 2,
            continuous_update=False,
            layout=W.Layout(width="520px"),
            style=_LABEL,
        )
        self.port = W.Text(
            value="",
            placeholder="any, e.g. 22 or 80,443",
            description="dst port",
            continuous_update=False,
            style=_LABEL,
            layout=W.Layout(width="260px"),
        )
        self.chart_choice = W.Dropdown(
            options=list(CHARTS),
            value=chart,
            description="chart",
            style=_LABEL,
            layout=W.Layout(width="260px"),
        )
        self.status = W.HTML()
        self.chart = W.Image(format="png", layout=W.Layout(max_width="800px"))
        self.table = W.HTML()

        for control in self.controls:
            control.observe(self._on_change, names="value")
        super().__init__(
            children=[
                W.HBox([self.action, self.protocol, self.eni]),
                W.HBox([self.time, self.port]),
                W.HBox([self.chart_choice, self.status]),
                self.chart,
                self.table,
            ]
        )
        self.add_class("labkit-explorer")
        self.refresh()

    # -- what the controls say

    @property
    def controls(self) -> list[W.Widget]:
        return [self.action, self.protocol, self.eni, self.time, self.port, self.chart_choice]

    def filter_values(self) -> dict[str, Any]:
        """The current filters, as keyword arguments of :func:`apply_filters`."""
        time_range = None
        if len(self._edges) >= 2:
            lo_i, hi_i = self.time.index
            if (lo_i, hi_i) != (0, len(self._edges) - 1):
                time_range = (self._edges[lo_i], self._edges[hi_i])
        return {
            "action": None if self.action.value == _ALL else self.action.value,
            "protocol": None if self.protocol.value == _ALL else self.protocol.value,
            "eni": None if self.eni.value == _ALL else self.eni.value,
            "time_range": time_range,
            "port": self.port.value.strip() or None,
        }

    @property
    def filtered(self) -> pd.DataFrame:
        """The records that pass the current filters."""
        return self._filtered

    # -- updating

    def _on_change(self, change: dict) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Filter again, redraw the chart and the table."""
        try:
            self._filtered = apply_filters(self.df, **self.filter_values())
        except ValueError as exc:
            self.status.value = f"<span style='color:#b3261e'>{_escape(str(exc))}</span>"
            return
        shown, total = len(self._filtered), len(self.df)
        self.status.value = f"showing <b>{shown:,}</b> of {_count(total, 'record')}"
        try:
            fig = CHARTS[self.chart_choice.value](self._filtered)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
            self.chart.value = buf.getvalue()
        except Exception as exc:  # e.g. a frame without a column that chart needs
            self.status.value += f" · <span style='color:#b3261e'>{_escape(str(exc))}</span>"
        self.table.value = self._table_html()

    def _table_html(self) -> str:
        head = self._filtered.head(self.rows)
        cols = [c for c in _TABLE_COLUMNS if c in head.columns]
        head = head[cols].copy()
        if "start" in head.columns:
            head["start"] = pd.to_datetime(head["start"], utc=True).dt.strftime(
                "%Y-%m-%d %H:%M:%S"
            )
        if head.empty:
            return "<p><i>no records match these filters</i></p>"
        more = len(self._filtered) - len(head)
        note = f"<p><i>first {len(head)} rows; {more:,} more</i></p>" if more > 0 else ""
        html = head.to_html(index=False, na_rep="-", border=0, classes="labkit-records")
        return _TABLE_STYLE + html + note

    # -- text form (nbval compares it): data and filters only, no ids

    def __repr__(self) -> str:
        df = self.df
        enis = df["interface_id"].nunique(dropna=True)
        span = ""
        if len(self._edges) >= 2:
            same_day = len({e.date() for e in self._edges}) <= 1
            lo, hi = self._edges[0], self._edges[-1]
            span = f", {_edge_label(lo, same_day)}-{_edge_label(hi, same_day)} UTC"
        active = {k: v for k, v in self.filter_values().items() if v is not None}
        if "time_range" in active:
            lo, hi = active["time_range"]
            active["time_range"] = f"{lo:%H:%M}-{hi:%H:%M}"
        filters = ", ".join(f"{k}={v}" for k, v in active.items()) or "no filters"
        return (
            f"FlowLogExplorer({_count(len(df), 'record')}, {_count(enis, 'ENI')}{span}; "
            f"showing {len(self._filtered):,}, {filters})"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def explorer(df: pd.DataFrame, chart: str = "accept / reject", rows: int = 10) -> FlowLogExplorer:
    """An interactive view of flow-log records: filter them and see a chart and a table.

    Filters: action, protocol, ENI (``interface_id``), a time window over ``start`` and a
    destination port. ``chart`` picks the first chart shown (one of :data:`CHARTS`);
    ``rows`` is how many rows the table shows. The returned widget also offers
    ``.filtered`` (the current rows) and ``.filter_values()`` (the current filters).
    """
    return FlowLogExplorer(df, chart=chart, rows=rows)

