"""Run a parsed Logs Insights query over an :class:`EventTable`.

Each command works on whole columns. Rows are tracked as positions into the table, so a
``filter`` on ``action`` touches only the ``action`` column, and discovered fields are
taken from the table's cache rather than re-parsed.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import labkit.logsinsights.functions as F
from labkit.logsinsights.natural_sort import sort_key
from labkit.logsinsights.parser import (
    AGGREGATES,
    BinOp,
    Call,
    Dedup,
    Display,
    Duration,
    Expr,
    FieldRef,
    Fields,
    Filter,
    In,
    Like,
    Limit,
    Literal,
    Neg,
    Not,
    Parse,
    Query,
    Sort,
    Star,
    Stats,
    parse_query,
)
from labkit.logsinsights.table import EventTable
from labkit.logsinsights.values import Val, format_value, is_cat

#: GetQueryResults returns at most this many rows; StartQuery's ``limit`` defaults to it.
MAX_RESULTS = 10_000


# ---------------------------------------------------------------- result


@dataclass
class QueryResult:
    """What a query returns: columns in AWS's order, typed rows, and statistics."""

    columns: list[str]
    frame: pd.DataFrame
    statistics: dict[str, float]
    kinds: dict[str, str] = field(default_factory=dict, repr=False)
    ptrs: list[str] | None = field(default=None, repr=False)

    def to_aws(self) -> list[list[dict[str, str]]]:
        """Rows exactly as GetQueryResults returns them (missing values omitted)."""
        rows: list[list[dict[str, str]]] = []
        cols = [(c, self.kinds.get(c, "str"), self.frame[c].to_numpy(dtype=object)) for c in self.columns]
        for i in range(len(self.frame)):
            row = []
            for name, kind, arr in cols:
                v = arr[i]
                if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
                    continue
                if kind == "time":
                    v = pd.Timestamp(v).as_unit("ms").value // 1_000_000
                row.append({"field": name, "value": format_value(v, kind)})
            if self.ptrs is not None and "@ptr" not in self.columns:
                row.append({"field": "@ptr", "value": self.ptrs[i]})
            rows.append(row)
        return rows


# ---------------------------------------------------------------- query state


class State:
    """The rows a query is working on: positions into the table plus computed columns."""

    def __init__(self, table: EventTable | None, rows: np.ndarray | None, n: int):
        self.table = table
        self.rows = rows  # None = every row of the table, in table order
        self.n = n
        self.cols: dict[str, Val] = {}
        self._taken: dict[str, Val] = {}
        self.aggregated = False
        self.ordered = False
        self.stats_columns: list[str] = []  # after stats: its columns, in AWS's order
        self.aggregate_columns: dict[Call, str] = {}  # after stats: count(*) -> its column

    def get(self, name: str) -> Val:
        if name in self.cols:
            return self.cols[name]
        if name in self._taken:
            return self._taken[name]
        if name == "@ptr" and self.table is not None:
            rows = self.rows if self.rows is not None else np.arange(self.n)
            v = Val(pd.Series([self.table.ptr(int(r)) for r in rows], dtype=object), "str")
            self._taken[name] = v
            return v
        if self.table is not None:
            full = self.table.column(name)
            if full is not None:
                v = full if self.rows is None else full.take(self.rows)
                self._taken[name] = v
                return v
        return Val(None, "str", None)

    def select(self, idx: np.ndarray) -> None:
        """Keep the rows at positions ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.table is not None:
            self.rows = idx if self.rows is None else self.rows[idx]
        self.cols = {k: v.take(idx) for k, v in self.cols.items()}
        self._taken = {}
        self.n = len(idx)


# ---------------------------------------------------------------- expressions


def evaluate(expr: Expr, st: State, aggs: dict | None = None) -> Val:
    n = st.n
    if isinstance(expr, FieldRef):
        return st.get(expr.name)
    if isinstance(expr, Literal):
        return Val(None, expr.kind, expr.value)
    if isinstance(expr, BinOp):
        if expr.op in ("and", "or"):
            a = F.bool_of(evaluate(expr.left, st, aggs), n)
            b = F.bool_of(evaluate(expr.right, st, aggs), n)
            return F.boolean(a & b if expr.op == "and" else a | b)
        a = evaluate(expr.left, st, aggs)
        b = evaluate(expr.right, st, aggs)
        if expr.op in ("=", "!=", "<", "<=", ">", ">="):
            return F.compare(expr.op, a, b, n)
        return F.arith(expr.op, a, b, n)
    if isinstance(expr, Not):
        return F.boolean(~F.bool_of(evaluate(expr.operand, st, aggs), n))
    if isinstance(expr, Neg):
        v = evaluate(expr.operand, st, aggs)
        return F.number(-F.to_num(v, n))
    if isinstance(expr, Like):
        hit = F.like(evaluate(expr.operand, st, aggs), expr.pattern, expr.regex, n)
        return F.boolean(~hit if expr.negate else hit)
    if isinstance(expr, In):
        v = evaluate(expr.operand, st, aggs)
        hit = np.zeros(n, dtype=bool)
        for item in expr.items:
            hit |= F.bool_of(F.compare("=", v, evaluate(item, st, aggs), n), n)
        if expr.negate:
            hit = ~hit & F.notnull(v, n)
        return F.boolean(hit)
    if isinstance(expr, Call):
        if expr.name in AGGREGATES:
            if aggs is not None and expr in aggs:
                return aggs[expr]
            if expr in st.aggregate_columns:  # "sort count(*) desc" after a stats
                return st.get(st.aggregate_columns[expr])
            raise ValueError(f"aggregate {expr.text} outside stats")  # pragma: no cover - parser rejects it
        if expr.name == "bin":
            ts = F.to_num(st.get("@timestamp"), n)
            return F.number(F.floor_period(ts, expr.args[0]), "time")
        if expr.name in ("datefloor", "dateceil"):
            ts = F.to_num(evaluate(expr.args[0], st, aggs), n)
            f = F.floor_period if expr.name == "datefloor" else F.ceil_period
            return F.number(f(ts, expr.args[1]), "time")
        args = [evaluate(a, st, aggs) for a in expr.args]
        return F.call_scalar(expr.name, args, n, expr)
    if isinstance(expr, Duration):
        return Val(None, "num", float(expr.ms))
    if isinstance(expr, Star):  # pragma: no cover - parser rejects it outside count(*)
        return Val(None, "num", 1.0)
    raise TypeError(f"cannot evaluate {expr!r}")  # pragma: no cover


# ---------------------------------------------------------------- ordering


def _order(keys: list[tuple[np.ndarray, bool]]) -> np.ndarray:
    """Stable multi-key argsort; missing values last whatever the direction."""
    cols = []
    for key, desc in reversed(keys):
        k = np.where(np.isnan(key), np.inf, -key if desc else key)
        cols.append(k)
    if len(cols) == 1:
        return np.argsort(cols[0], kind="stable")
    return np.lexsort(cols)


def _default_order(st: State) -> None:
    """Before limit/dedup/output: newest first, as Logs Insights returns log events."""
    if st.ordered or st.aggregated:
        return
    ts = F.to_num(st.get("@timestamp"), st.n)
    st.select(_order([(ts, True)]))
    st.ordered = True


# ---------------------------------------------------------------- commands


def _parse(cmd: Parse, st: State) -> None:
    src = st.get(cmd.source)
    n = st.n
    s = src.s if (not src.is_scalar and src.kind == "str") else F.to_str(src, n)
    # work once per distinct value (categories, or factorized values), then map back
    if is_cat(s):
        distinct = [str(c) for c in s.cat.categories]
        codes = s.cat.codes.to_numpy()
    else:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        distinct = [str(u) for u in uniques]
    found = _extract(distinct, cmd)
    for name, col in zip(cmd.names, found, strict=True):
        vals = col[np.clip(codes, 0, None)] if len(col) else np.full(n, None, dtype=object)
        st.cols[name] = Val(pd.Series(np.where(codes < 0, None, vals), dtype=object), "str")


def _extract(values: list[str], cmd: Parse) -> list[np.ndarray]:
    """One array per field ``cmd`` names: what it captures from each value (None: no match)."""
    k = len(cmd.names)
    if cmd.glob is not None and k > 1 and cmd.glob == " ".join(["*"] * k):
        # "* * *": a split on spaces, the last field taking the rest
        parts = pd.Series(values, dtype=object).str.split(" ", n=k - 1, expand=True)
        if parts.shape[1] < k:
            return [np.full(len(values), None, dtype=object) for _ in range(k)]
        ok = parts[k - 1].notna()
        return [parts[j].where(ok, None).to_numpy(dtype=object) for j in range(k)]
    found = _extract_named(cmd.regex, values)
    if cmd.glob is not None:
        return [found[f"g{j}"] for j in range(k)]
    return [found[name] for name in cmd.names]


def _extract_named(regex, values: list[str]) -> dict[str, np.ndarray]:
    """``regex.extract_named`` in slices: one C call over a million values would hold the GIL
    for long, stalling the emulator's other threads while a query runs in the background."""
    if len(values) <= F._SLICE:
        return regex.extract_named(values)
    parts = [regex.extract_named(values[i:i + F._SLICE]) for i in range(0, len(values), F._SLICE)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _collect_aggs(expr: Expr, out: list) -> None:
    if isinstance(expr, Call) and expr.name in AGGREGATES:
        if expr not in out:
            out.append(expr)
        return
    for attr in ("left", "right", "operand"):
        child = getattr(expr, attr, None)
        if isinstance(child, Expr):
            _collect_aggs(child, out)
    if isinstance(expr, Call):
        for a in expr.args:
            _collect_aggs(a, out)


def _group_min_max(frame, keys, vcol: Val, n, how: str) -> tuple[pd.Series, str]:
    if vcol.kind in ("num", "time"):
        r = getattr(frame.groupby(keys, sort=True, dropna=False, observed=True)["v"], how)()
        return r, vcol.kind
    nums = F.to_num(vcol, n)
    present = F.notnull(vcol, n)
    if np.array_equal(~np.isnan(nums), present):  # every present value is a number
        f2 = frame.assign(v=nums)
        r = getattr(f2.groupby(keys, sort=True, dropna=False, observed=True)["v"], how)()
        return r, "num"
    f2 = frame.assign(v=F.to_str(vcol, n))
    r = getattr(f2.groupby(keys, sort=True, dropna=False, observed=True)["v"], how)()
    return r, "str"


def _group_sorts_first(frame, keys, v: Val, n: int, *, last: bool) -> tuple[pd.Series, str]:
    """sortsFirst / sortsLast: per group, the value that sorts first (last) in Logs Insights' order."""
    vv = v if not v.is_scalar else Val(v.series(n), v.kind)
    rank = sort_key(vv, n)
    f2 = frame.assign(rank=rank, pos=np.arange(n))[~np.isnan(rank)]
    f2 = f2.sort_values("rank", kind="stable", ascending=not last)
    first = f2.groupby(keys, sort=True, dropna=False, observed=True)["pos"].first()
    picked = vv.s.to_numpy(dtype=object)[first.to_numpy()]
    return pd.Series(picked, index=first.index), vv.kind


def _stats(cmd: Stats, st: State) -> State:
    n = st.n
    key_names = [it.name for it in cmd.by]
    key_vals = [evaluate(it.expr, st) for it in cmd.by]
    data: dict[str, object] = {}
    keys = []
    for j, v in enumerate(key_vals):
        col = f"k{j}"
        if v.is_scalar:
            v = Val(v.series(n), v.kind)
        data[col] = v.s if v.kind == "str" else v.s.to_numpy()
        keys.append(col)
    if not keys:
        data["k_all"] = np.zeros(n, dtype=np.int8)
        keys = ["k_all"]
    frame = pd.DataFrame(data)
    grouped = frame.groupby(keys, sort=True, dropna=False, observed=True)
    size = grouped.size()
    index = size.index

    calls: list[Call] = []
    for it in cmd.items:
        _collect_aggs(it.expr, calls)
    results: dict[Call, Val] = {}
    for call in calls:
        name = call.name
        arg = call.args[0] if call.args else None
        if name == "count" and (arg is None or isinstance(arg, Star)):
            r, kind = size, "num"
        else:
            v = evaluate(arg, st)
            if name in ("sum", "avg", "pct", "percentile", "stddev"):
                f2 = frame.assign(v=F.to_num(v, n))
                g = f2.groupby(keys, sort=True, dropna=False, observed=True)["v"]
                if name == "sum":
                    r = g.sum(min_count=1)
                elif name == "avg":
                    r = g.mean()
                elif name == "stddev":
                    r = g.std()
                else:
                    q = float(call.args[1].value) / 100.0
                    r = g.quantile(q, interpolation="nearest")
                kind = "num"
            elif name == "count":
                f2 = frame.assign(v=F.notnull(v, n))
                r = f2.groupby(keys, sort=True, dropna=False, observed=True)["v"].sum()
                kind = "num"
            elif name == "count_distinct":
                vv = v.s if v.kind == "str" and not v.is_scalar else v.series(n)
                f2 = frame.assign(v=vv)
                r = f2.groupby(keys, sort=True, dropna=False, observed=True)["v"].nunique()
                kind = "num"
            elif name in ("min", "max"):
                vv = v if not v.is_scalar else Val(v.series(n), v.kind)
                r, kind = _group_min_max(frame.assign(v=vv.s), keys, vv, n, name)
            elif name in ("sortsfirst", "sortslast"):
                r, kind = _group_sorts_first(frame, keys, v, n, last=name == "sortslast")
            else:  # earliest / latest: the value at the earliest / latest @timestamp
                ts = F.to_num(st.get("@timestamp"), n)
                vv = v if not v.is_scalar else Val(v.series(n), v.kind)
                f2 = frame.assign(t=ts, pos=np.arange(n))[F.notnull(vv, n)]
                f2 = f2.sort_values("t", kind="stable", ascending=(name == "earliest"))
                first = f2.groupby(keys, sort=True, dropna=False, observed=True)["pos"].first()
                picked = vv.s.to_numpy(dtype=object)[first.to_numpy()]
                r = pd.Series(picked, index=first.index)
                kind = vv.kind
        r = r.reindex(index)
        if kind in ("num", "time"):
            arr = r.to_numpy(dtype=np.float64, na_value=np.nan)
            results[call] = Val(pd.Series(arr), kind)
        else:
            results[call] = Val(pd.Series(r.to_numpy(dtype=object), dtype=object), kind)

    out = State(None, None, len(index))
    out.aggregated = True
    if cmd.by:
        idx_frame = index.to_frame(index=False)
        for j, (name, v) in enumerate(zip(key_names, key_vals, strict=True)):
            col = idx_frame[f"k{j}"]
            if v.kind in ("num", "time", "bool"):
                out.cols[name] = Val(pd.Series(col.to_numpy(dtype=np.float64, na_value=np.nan)), v.kind)
            else:
                out.cols[name] = Val(pd.Series(col.to_numpy(dtype=object), dtype=object), "str")
    for it in cmd.items:
        out.cols[it.name] = evaluate(it.expr, out, results)
        if out.cols[it.name].is_scalar:
            v = out.cols[it.name]
            out.cols[it.name] = Val(v.series(out.n), v.kind)
    out.stats_columns = key_names + [it.name for it in cmd.items]
    out.aggregate_columns = {
        it.expr: it.name for it in cmd.items if isinstance(it.expr, Call) and it.expr.name in AGGREGATES
    }
    return out


def _dedup(cmd: Dedup, st: State) -> None:
    _default_order(st)
    n = st.n
    frame = pd.DataFrame({f"d{j}": F.to_str(st.get(name), n) for j, name in enumerate(cmd.fields)})
    has_null = frame.isna().any(axis=1).to_numpy()
    dup = frame.duplicated(keep="first").to_numpy() & ~has_null
    st.select(np.flatnonzero(~dup))


# ---------------------------------------------------------------- driver

_TABLES: dict[int, tuple[weakref.ref, EventTable]] = {}


def table_for(events: pd.DataFrame | EventTable) -> EventTable:
    """An EventTable for a DataFrame, cached while the DataFrame is alive."""
    if isinstance(events, EventTable):
        return events
    key = id(events)
    hit = _TABLES.get(key)
    if hit is not None and hit[0]() is events and len(hit[1]) == len(events):
        return hit[1]
    table = EventTable(events)
    try:
        ref = weakref.ref(events, lambda _r, k=key: _TABLES.pop(k, None))
        _TABLES[key] = (ref, table)
    except TypeError:  # pragma: no cover - not weak-referenceable
        pass
    return table


def run_query(
    query: Query | str,
    events_df: pd.DataFrame | EventTable,
    *,
    start_ms: int,
    end_ms: int,
    limit: int | None = None,
) -> QueryResult:
    """Run ``query`` over the events with ``start_ms <= @timestamp <= end_ms``.

    ``limit`` is StartQuery's ``limit`` (default 10,000); the result never has more than
    10,000 rows, as GetQueryResults.
    """
    if isinstance(query, str):
        query = parse_query(query)
    table = table_for(events_df)
    ts = table.timestamps
    in_range = (ts >= start_ms) & (ts <= end_ms)
    if in_range.all():
        st = State(table, None, len(table))
        scanned_bytes = float(table.message_bytes.sum())
    else:
        rows = np.flatnonzero(in_range)
        st = State(table, rows, len(rows))
        scanned_bytes = float(table.message_bytes[rows].sum())
    scanned = float(st.n)
    matched: float | None = None

    cap = MAX_RESULTS if limit is None else min(MAX_RESULTS, max(int(limit), 0))
    field_cols: list[str] = []
    display_cols: list[str] | None = None
    stats_cols: list[str] | None = None

    for cmd in query.commands:
        if matched is None and isinstance(cmd, Stats | Limit | Dedup):
            # recordsMatched: the events the filters let through, before any of these
            matched = float(st.n)
        if isinstance(cmd, Filter):
            mask = F.bool_of(evaluate(cmd.expr, st), st.n)
            if not mask.all():
                st.select(np.flatnonzero(mask))
        elif isinstance(cmd, Fields | Display):
            names = []
            for it in cmd.items:
                v = evaluate(it.expr, st)
                if v.is_scalar:
                    v = Val(v.series(st.n), v.kind)
                if not (isinstance(it.expr, FieldRef) and it.expr.name == it.name):
                    st.cols[it.name] = v
                elif it.name not in st.cols and st.table is None:
                    st.cols[it.name] = v
                names.append(it.name)
            if isinstance(cmd, Fields):
                for nm in names:
                    if nm not in field_cols:
                        field_cols.append(nm)
            else:
                display_cols = names
        elif isinstance(cmd, Parse):
            _parse(cmd, st)
        elif isinstance(cmd, Stats):
            st = _stats(cmd, st)
            stats_cols = st.stats_columns
            field_cols = []
        elif isinstance(cmd, Sort):
            keys = [(sort_key(evaluate(k.expr, st), st.n), k.descending) for k in cmd.keys]
            st.select(_order(keys))
            st.ordered = True
        elif isinstance(cmd, Limit):
            _default_order(st)
            if cmd.n < st.n:
                st.select(np.arange(cmd.n))
        elif isinstance(cmd, Dedup):
            _dedup(cmd, st)
    if matched is None:
        matched = float(st.n)
    _default_order(st)
    if st.n > cap:
        st.select(np.arange(cap))

    if display_cols is not None:
        columns = display_cols
    elif field_cols:
        columns = field_cols
    elif stats_cols is not None:
        columns = stats_cols
    else:
        columns = ["@timestamp", "@message"]

    frame_cols: dict[str, object] = {}
    kinds: dict[str, str] = {}
    for c in columns:
        v = st.get(c)
        kinds[c] = v.kind
        frame_cols[c] = _typed(v, st.n)
    frame = pd.DataFrame(frame_cols, index=pd.RangeIndex(st.n))
    ptrs = None
    if st.table is not None:
        rows = st.rows if st.rows is not None else np.arange(st.n)
        ptrs = [st.table.ptr(int(r)) for r in rows]
    stats = {"recordsMatched": matched, "recordsScanned": scanned, "bytesScanned": scanned_bytes}
    return QueryResult(list(columns), frame, stats, kinds, ptrs)


def _typed(v: Val, n: int):
    s = v.series(n)
    if v.kind == "time":
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        out = pd.to_datetime(arr, unit="ms", utc=True)
        return out.as_unit("ms")
    if v.kind == "num":
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = arr[~np.isnan(arr)]
        if len(finite) and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53):
            ints = np.where(np.isnan(arr), 0, arr).astype(np.int64)
            return pd.arrays.IntegerArray(ints, np.isnan(arr))
        return arr
    if v.kind == "bool":
        return s.to_numpy(dtype=bool)
    return s.astype(object).where(s.notna(), None).astype("str")
