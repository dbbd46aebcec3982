"""Log events as a column store, with Logs Insights' discovered fields computed once.

An :class:`EventTable` holds one log group's events (or several groups'). The emulator
keeps one per log group, appends each PutLogEvents/delivery batch with
:meth:`EventTable.append`, and passes it to :func:`run_query`. Field discovery (splitting
default-format flow-log messages into ``srcAddr``, ``action``, ...) runs once per row:
lazily on the first query that needs a discovered field, then incrementally for rows
appended later.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

SYSTEM_FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")

#: Default-format (version 2) flow-log record, in order, by the names Logs Insights uses.
FLOW_FIELDS = (
    "version",
    "accountId",
    "interfaceId",
    "srcAddr",
    "dstAddr",
    "srcPort",
    "dstPort",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "logStatus",
)
FLOW_NUMERIC = frozenset({"version", "srcPort", "dstPort", "protocol", "packets", "bytes", "start", "end"})
_LOG_STATUS = pa.array(["OK", "NODATA", "SKIPDATA"])


@dataclass
class Val:
    """A column of values during a query: a pandas Series (RangeIndex) or a scalar.

    ``kind`` is ``num`` (float64, NaN = missing), ``str`` (string or categorical),
    ``bool`` or ``time`` (float64 epoch milliseconds).
    """

    s: pd.Series | None
    kind: str
    scalar: object = None

    @property
    def is_scalar(self) -> bool:
        return self.s is None

    def series(self, n: int) -> pd.Series:
        if self.s is not None:
            return self.s
        if self.kind in ("num", "time"):
            v = np.nan if self.scalar is None else float(self.scalar)
            return pd.Series(np.full(n, v, dtype=np.float64))
        if self.kind == "bool":
            return pd.Series(np.full(n, bool(self.scalar)))
        return pd.Series([self.scalar] * n, dtype=object)

    def take(self, idx: np.ndarray) -> Val:
        if self.s is None:
            return self
        return Val(self.s.take(idx).reset_index(drop=True), self.kind)


def _arrow(series: pd.Series) -> pa.Array:
    arr = pa.array(series, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def _categorical(values: pa.Array, valid: np.ndarray, n: int) -> pd.Series:
    """Dictionary-encode ``values`` (one per valid row) into a full-length Categorical."""
    enc = pc.dictionary_encode(values)
    codes = np.full(n, -1, dtype=np.int32)
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    codes[valid] = idx
    cats = pd.Index(enc.dictionary.to_pylist(), dtype=object)
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats))


def _numeric(values: pa.Array, valid: np.ndarray, n: int) -> pd.Series:
    out = np.full(n, np.nan, dtype=np.float64)
    cleaned = pc.if_else(pc.equal(values, "-"), pa.scalar(None, pa.string()), values)
    try:
        nums = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        nums = pd.to_numeric(pd.Series(cleaned.to_pandas()), errors="coerce").to_numpy(float)
    out[valid] = nums
    return pd.Series(out)


def discover_flow_fields(messages: pd.Series) -> dict[str, pd.Series]:
    """Split default-format flow-log messages into the fields Logs Insights discovers.

    Rows that are not a 14-field default-format record get missing values. Vectorised:
    one pyarrow split of the whole column, then one ``take`` per field.
    """
    n = len(messages)
    arr = _arrow(messages)
    parts = pc.split_pattern(arr, " ")
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    valid = np.nan_to_num(lengths, nan=0).astype(np.int64) == len(FLOW_FIELDS)
    flat = pc.list_flatten(parts)
    all_offsets = parts.offsets.to_numpy()
    # list_flatten starts at the first referenced value, even for a sliced list array
    offsets = all_offsets[:-1] - all_offsets[0]
    starts = offsets[valid]
    token = {k: flat.take(pa.array(starts + i)) for i, k in enumerate(FLOW_FIELDS)}
    # Guard against look-alikes: version is a number, log-status a known word.
    ok = pc.and_(
        pc.match_substring_regex(token["version"], r"^\d+$"),
        pc.is_in(token["logStatus"], value_set=_LOG_STATUS),
    ).to_numpy(zero_copy_only=False)
    if not ok.all():
        keep = np.flatnonzero(ok)
        idx = np.flatnonzero(valid)
        valid = np.zeros(n, dtype=bool)
        valid[idx[keep]] = True
        token = {k: v.take(pa.array(keep)) for k, v in token.items()}
    out = {}
    for k in FLOW_FIELDS:
        if k in FLOW_NUMERIC:
            out[k] = _numeric(token[k], valid, n)
        else:
            vals = pc.if_else(pc.equal(token[k], "-"), pa.scalar(None, pa.string()), token[k])
            out[k] = _categorical(vals, valid, n)
    return out


def _json_fields(messages: pd.Series) -> dict[str, Val]:
    """Top-level (and dotted nested) keys of JSON messages, via pyarrow's JSON reader."""
    n = len(messages)
    arr = _arrow(messages)
    stripped = pc.utf8_trim_whitespace(arr)
    is_json = pc.fill_null(pc.starts_with(stripped, "{"), False).to_numpy(zero_copy_only=False)
    if not is_json.any():
        return {}
    rows = np.flatnonzero(is_json)
    docs = stripped.take(pa.array(rows))
    docs = pc.replace_substring(docs, "\n", " ")
    data = ("\n".join(docs.to_pylist()) + "\n").encode()
    table = None
    try:
        table = pajson.read_json(pa.BufferReader(data))
        if table.num_rows != len(rows):
            table = None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        table = None
    cols: dict[str, pd.Series] = {}
    if table is not None:
        while any(pa.types.is_struct(f.type) for f in table.schema):
            table = table.flatten()
        for name, col in zip(table.column_names, table.columns, strict=True):
            cols[name] = col.to_pandas()
    else:  # inconsistent types across events: fall back to the slow, forgiving path
        parsed = []
        for d in docs.to_pylist():
            try:
                obj = json.loads(d)
            except ValueError:
                obj = {}
            parsed.append(obj if isinstance(obj, dict) else {})
        frame = pd.json_normalize(parsed, sep=".")
        cols = {c: frame[c] for c in frame.columns}
    out: dict[str, Val] = {}
    for name, s in cols.items():
        s = s.reset_index(drop=True)
        if pd.api.types.is_bool_dtype(s):
            full = pd.Series([None] * n, dtype=object)
            full.iloc[rows] = s.map({True: "true", False: "false"}).to_numpy(object)
            out[name] = Val(full, "str")
        elif pd.api.types.is_numeric_dtype(s):
            full = np.full(n, np.nan)
            full[rows] = s.to_numpy(dtype=float, na_value=np.nan)
            out[name] = Val(pd.Series(full), "num")
        else:
            full = pd.Series([None] * n, dtype=object)
            vals = [
                None
                if v is None or (isinstance(v, float) and np.isnan(v))
                else (json.dumps(v) if isinstance(v, list | dict) else str(v))
                for v in s.tolist()
            ]
            full.iloc[rows] = pd.Series(vals, dtype=object).to_numpy(object)
            out[name] = Val(full, "str")
    return out


class EventTable:
    """One or more log groups' events, with discovered fields cached.

    ``events`` has the columns ``@timestamp`` (int64 ms), ``@message``, ``@logStream``,
    ``@log`` ("<account>:<group>") and ``@ingestionTime`` (int64 ms).
    """

    def __init__(self, events: pd.DataFrame | None = None) -> None:
        self._base: dict[str, pd.Series] = {}
        self._n = 0
        self._flow: dict[str, pd.Series] | None = None
        self._json: dict[str, Val] | None = None
        self._msg_bytes: np.ndarray | None = None
        self._ts: np.ndarray | None = None
        if events is not None:
            self.append(events)

    # ---- building
    def append(self, events: pd.DataFrame) -> None:
        """Add events; discovered fields are extended for the new rows only."""
        missing = [c for c in ("@timestamp", "@message") if c not in events.columns]
        if missing:
            raise ValueError(f"events need the columns {missing}")
        m = len(events)
        new = {}
        for c in SYSTEM_FIELDS:
            if c in events.columns:
                s = events[c].reset_index(drop=True)
            elif c == "@ingestionTime":
                s = events["@timestamp"].reset_index(drop=True)
            else:
                s = pd.Series([""] * m, dtype="str")
            if c in ("@timestamp", "@ingestionTime"):
                s = pd.Series(s.to_numpy(dtype=np.int64))
            elif c != "@message" and not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype("category")
            elif c == "@message":
                s = s.astype("str")
            new[c] = s
        if self._n == 0:
            self._base = new
        else:
            for c in SYSTEM_FIELDS:
                if isinstance(self._base[c].dtype, pd.CategoricalDtype):
                    self._base[c] = pd.Series(
                        pd.api.types.union_categoricals([self._base[c], new[c]]),
                    )
                else:
                    self._base[c] = pd.concat([self._base[c], new[c]], ignore_index=True)
        if self._flow is not None:
            more = discover_flow_fields(new["@message"])
            for k in FLOW_FIELDS:
                old, add = self._flow[k], more[k]
                if isinstance(old.dtype, pd.CategoricalDtype):
                    self._flow[k] = pd.Series(pd.api.types.union_categoricals([old, add]))
                else:
                    self._flow[k] = pd.concat([old, add], ignore_index=True)
        self._json = None
        self._msg_bytes = None
        self._ts = None
        self._n += m

    # ---- reading
    def __len__(self) -> int:
        return self._n

    @property
    def timestamps(self) -> np.ndarray:
        if self._ts is None:
            self._ts = self._base["@timestamp"].to_numpy(dtype=np.int64)
        return self._ts

    @property
    def message_bytes(self) -> np.ndarray:
        """UTF-8 length of each message (what Logs Insights counts as bytes scanned)."""
        if self._msg_bytes is None:
            arr = _arrow(self._base["@message"])
            self._msg_bytes = (
                pc.binary_length(arr.cast(pa.binary())).to_numpy(zero_copy_only=False).astype(np.int64)
            )
        return self._msg_bytes

    def flow_fields(self) -> dict[str, pd.Series]:
        """The discovered default-format flow-log fields (computed once, then cached)."""
        if self._flow is None:
            if self._n == 0:
                return {k: pd.Series([], dtype=float) for k in FLOW_FIELDS}
            self._flow = discover_flow_fields(self._base["@message"])
        return self._flow

    def discover(self) -> None:
        """Run field discovery now (e.g. in the background after a delivery)."""
        self.flow_fields()

    def column(self, name: str) -> Val | None:
        """The full-length column for a field, or None if no event has it."""
        if name in self._base:
            s = self._base[name]
            if name in ("@timestamp", "@ingestionTime"):
                return Val(pd.Series(s.to_numpy(dtype=np.float64)), "time")
            return Val(s, "str")
        if name in FLOW_FIELDS:
            s = self.flow_fields()[name]
            if s.count() > 0:
                return Val(s, "num" if name in FLOW_NUMERIC else "str")
        if self._json is None:
            self._json = _json_fields(self._base["@message"]) if self._n else {}
        return self._json.get(name)

    def frame(self) -> pd.DataFrame:
        """System fields and discovered flow-log fields as one typed DataFrame."""
        cols = dict(self._base)
        cols.update(self.flow_fields())
        return pd.DataFrame(cols)

    # ---- @ptr
    def ptr(self, row: int) -> str:
        log = str(self._base["@log"].iloc[row])
        raw = f"{log}\x00{self._base['@logStream'].iloc[row]}\x00{row}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def row_of_ptr(self, ptr: str) -> int:
        raw = base64.urlsafe_b64decode(ptr + "=" * (-len(ptr) % 4))
        return int(raw.rsplit(b"\x00", 1)[1])

    def get_log_record(self, ptr: str) -> dict[str, str]:
        """What GetLogRecord returns for a ``@ptr``: every field of that event, as strings."""
        from labkit.logsinsights.engine import format_value

        row = self.row_of_ptr(ptr)
        out = {}
        for name in SYSTEM_FIELDS:
            v = self.column(name)
            val = v.s.iloc[row]
            if v.kind == "time":
                out[name] = str(int(val))
            else:
                out[name] = format_value(val, v.kind)
        for name in FLOW_FIELDS:
            v = self.flow_fields()[name].iloc[row]
            if not pd.isna(v):
                out[name] = format_value(v, "num" if name in FLOW_NUMERIC else "str")
        return out
