"""Log events as a column store, with Logs Insights' discovered fields computed once.

An :class:`EventTable` holds one log group's events (or several groups'). The emulator
keeps one per log group, appends each PutLogEvents/delivery batch with
:meth:`EventTable.append`, and passes it to :func:`run_query`. Field discovery (splitting
default-format flow-log messages into ``srcAddr``, ``action``, ...) runs once per row:
lazily on the first query that needs a discovered field, then incrementally for rows
appended later.

What is discovered follows "Supported logs and discovered fields" (CloudWatch Logs User
Guide): for a default-format VPC flow-log record, the fields of ``labkit.flowlogs``'
field table by their Insights names (``srcAddr``, ``startTime``, ...); for a JSON event,
every leaf, nested objects joined with dots and arrays with indices (``users.0.email``).
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from labkit.flowlogs.fields import DEFAULT_FIELDS, DEFAULT_INSIGHTS_FIELDS, FIELDS
from labkit.logsinsights.json_fields import json_fields
from labkit.logsinsights.values import Val, format_value

SYSTEM_FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")

#: Fields Logs Insights discovers in a default-format flow-log record, in record order.
_FLOW_FIELDS = tuple(DEFAULT_INSIGHTS_FIELDS)
# Insights treats a field as a number where AWS writes it as an integer (ports, protocol,
# packets, bytes, the times, version); ids, addresses and words stay text.
_FLOW_NUMERIC = frozenset(
    FIELDS[name].insights for name in DEFAULT_FIELDS if FIELDS[name].parquet.startswith("INT")
)
# What makes a 14-token line a default-format record rather than a look-alike custom one
# (say "${version} ${account-id} ${instance-id} ..."): version 2 (the default format's
# version), a 12-character account id starting and ending with a digit, an "eni-"
# interface id and a known log-status.
_VERSION = DEFAULT_FIELDS.index("version")
_ACCOUNT = DEFAULT_FIELDS.index("account-id")
_INTERFACE = DEFAULT_FIELDS.index("interface-id")
_STATUS = DEFAULT_FIELDS.index("log-status")
_LOG_STATUS = pa.array(["OK", "NODATA", "SKIPDATA"])


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


class _FlowSplit:
    """Where the 14 tokens of each default-format flow-log record are, for a batch of rows.

    Built from the raw UTF-8 buffer of the messages: the space byte never occurs inside a
    multi-byte character, so token boundaries are just the positions of byte 0x20 (the
    same tokens as ``pc.split_pattern(messages, " ")``, without materialising a list
    array of 14 million strings). Rows with a different token count, and 14-token rows
    that are not default-format records (:meth:`_default_format`), are left out.
    A field's typed column is then built on demand with :meth:`field`: one gather of that
    field's token boundaries, one ``take`` of the bytes, one cast or dictionary encode.
    """

    def __init__(self, messages: pd.Series) -> None:
        n = self.n = len(messages)
        arr = _arrow(messages)
        nf = len(_FLOW_FIELDS)
        offs = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
        offs = offs.astype(np.int64)
        self._data = arr.buffers()[2]
        lo, hi = (int(offs[0]), int(offs[-1])) if n else (0, 0)
        if self._data is None or hi == lo:
            spaces = np.zeros(0, dtype=np.int64)
        else:
            data = np.frombuffer(self._data, dtype=np.uint8, count=hi)
            spaces = np.flatnonzero(data[lo:hi] == 32)
            spaces += lo
        before = np.searchsorted(spaces, offs)  # spaces before each row start (and the end)
        valid = np.diff(before) == nf - 1
        if arr.null_count:
            valid &= arr.is_valid().to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(valid)
        # a record's 13 separating spaces are spaces[first : first + 13]
        self._spaces = spaces.astype(np.int32)  # offsets into the buffer are int32 anyway
        self._first = before[rows]
        self._start = offs[rows]
        self._end = offs[rows + 1]
        self._rows = rows
        if len(rows):
            ok = self._default_format(np.frombuffer(self._data, dtype=np.uint8, count=hi))
            if not ok.all():
                self._first, self._start, self._end = self._first[ok], self._start[ok], self._end[ok]
                self._rows = rows[ok]
        self.valid = np.zeros(n, dtype=bool)
        self.valid[self._rows] = True

    def _bounds(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Where field ``k`` of every record starts and ends in the buffer."""
        start = self._start if k == 0 else self._spaces[self._first + (k - 1)] + 1
        end = self._end if k == len(_FLOW_FIELDS) - 1 else self._spaces[self._first + k]
        return start, end

    def _default_format(self, data: np.ndarray) -> np.ndarray:
        """Which records pass the checks of ``_VERSION`` & co., judged on lengths and a few bytes."""

        def byte(at: np.ndarray) -> np.ndarray:
            return np.take(data, at, mode="clip")  # past a short token: ruled out by its length

        start, end = self._bounds(_VERSION)
        ok = (end - start == 1) & (byte(start) == ord("2"))
        start, end = self._bounds(_ACCOUNT)
        ok &= (end - start == 12) & (byte(start) - ord("0") < 10) & (byte(end - 1) - ord("0") < 10)
        start, end = self._bounds(_INTERFACE)
        ok &= end - start > 4
        for j, char in enumerate(b"eni-"):
            ok &= byte(start + j) == char
        status = pc.is_in(self._token(_STATUS), value_set=_LOG_STATUS)
        return ok & status.to_numpy(zero_copy_only=False)

    def _token(self, k: int) -> pa.Array:
        """Field ``k`` of every flow-log record, as a string array."""
        m = len(self._rows)
        if m == 0:
            return pa.array([], pa.string())
        start, end = self._bounds(k)
        # token, gap, token, gap, ...: monotonic offsets into the messages' own bytes,
        # then keep every other element (the tokens)
        offsets = np.empty(2 * m, dtype=np.int32)
        offsets[0::2] = start
        offsets[1::2] = end
        both = pa.StringArray.from_buffers(2 * m - 1, pa.py_buffer(offsets), self._data)
        return both.take(pa.array(np.arange(0, 2 * m, 2, dtype=np.int64)))

    def field(self, name: str) -> pd.Series:
        """The full-length typed column for one flow-log field (missing where not a record)."""
        tok = self._token(_FLOW_FIELDS.index(name))
        if name in _FLOW_NUMERIC:
            return _numeric(tok, self.valid, self.n)
        vals = pc.if_else(pc.equal(tok, "-"), pa.scalar(None, pa.string()), tok)
        return _categorical(vals, self.valid, self.n)


def _concat_field(old: pd.Series, add: pd.Series) -> pd.Series:
    """``old`` then ``add`` (one discovered field for rows appended to a table)."""
    if isinstance(old.dtype, pd.CategoricalDtype):
        both = pd.api.types.union_categoricals([old, add])
        # union_categoricals may infer ``str`` categories; keep the object categories that
        # discovery makes, or the next append's union refuses the mixed dtypes
        cats = pd.Index(both.categories, dtype=object)
        return pd.Series(pd.Categorical.from_codes(both.codes, categories=cats))
    return pd.concat([old, add], ignore_index=True)


class EventTable:
    """One or more log groups' events, with discovered fields cached.

    ``events`` has the columns ``@timestamp`` (int64 ms), ``@message``, ``@logStream``,
    ``@log`` ("<account>:<group>") and ``@ingestionTime`` (int64 ms).
    """

    def __init__(self, events: pd.DataFrame | None = None) -> None:
        self._base: dict[str, pd.Series] = {}
        self._n = 0
        # discovered flow-log fields, typed and full-length, built per field on first use
        self._flow: dict[str, pd.Series] = {}
        self._split: _FlowSplit | None = None  # token positions for all rows, while valid
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
        if self._flow:
            more = _FlowSplit(new["@message"])
            for k, old in self._flow.items():
                self._flow[k] = _concat_field(old, more.field(k))
        # fields not built yet are split from all rows when first needed
        self._split = None
        self._json = None
        self._msg_bytes = None
        self._ts = None
        self._n += m

    def snapshot(self) -> EventTable:
        """A table of the events as they are now, sharing their columns (cheap: references only).

        :meth:`append` replaces columns and caches rather than changing them in place, so a
        snapshot stays whole while the original grows; a query can run on it without a lock.
        """
        copy = EventTable()
        copy._base, copy._n = dict(self._base), self._n
        copy._flow, copy._json = dict(self._flow), dict(self._json) if self._json is not None else None
        copy._split, copy._msg_bytes, copy._ts = self._split, self._msg_bytes, self._ts
        return copy

    def adopt(self, snapshot: EventTable) -> None:
        """Keep what a query found on ``snapshot`` (discovered fields), if no events came since."""
        if snapshot._n != self._n or any(snapshot._base.get(c) is not s for c, s in self._base.items()):
            return
        for name, series in snapshot._flow.items():
            self._flow.setdefault(name, series)
        if len(self._flow) == len(_FLOW_FIELDS):
            self._split = None
        elif self._split is None:
            self._split = snapshot._split
        if self._json is None:
            self._json = snapshot._json
        if self._msg_bytes is None:
            self._msg_bytes = snapshot._msg_bytes
        if self._ts is None:
            self._ts = snapshot._ts

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

    def flow_field(self, name: str) -> pd.Series:
        """One discovered default-format flow-log field (built on first use, then cached)."""
        if name not in self._flow:
            if self._n == 0:
                return pd.Series([], dtype=float)
            if self._split is None:
                self._split = _FlowSplit(self._base["@message"])
            self._flow[name] = self._split.field(name)
            if len(self._flow) == len(_FLOW_FIELDS):
                self._split = None  # every field is built: the token positions are not needed
        return self._flow[name]

    def flow_fields(self) -> dict[str, pd.Series]:
        """All the discovered default-format flow-log fields (computed once, then cached)."""
        if self._n == 0:
            return {k: pd.Series([], dtype=float) for k in _FLOW_FIELDS}
        return {k: self.flow_field(k) for k in _FLOW_FIELDS}

    def discover(self) -> None:
        """Run field discovery now (e.g. in the background after a delivery).

        Finds the token positions of every flow-log record; each field's typed column is
        then built from them when a query first uses it (see :meth:`flow_fields` to build
        them all).
        """
        if self._n and self._split is None and len(self._flow) < len(_FLOW_FIELDS):
            self._split = _FlowSplit(self._base["@message"])

    def column(self, name: str) -> Val | None:
        """The full-length column for a field, or None if no event has it."""
        if name in self._base:
            s = self._base[name]
            if name in ("@timestamp", "@ingestionTime"):
                return Val(pd.Series(s.to_numpy(dtype=np.float64)), "time")
            return Val(s, "str")
        if name in _FLOW_FIELDS:
            s = self.flow_field(name)
            if s.count() > 0:
                return Val(s, "num" if name in _FLOW_NUMERIC else "str")
        if self._json is None:
            self._json = json_fields(_arrow(self._base["@message"])) if self._n else {}
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
        row = self.row_of_ptr(ptr)
        out = {}
        for name in SYSTEM_FIELDS:
            v = self.column(name)
            val = v.s.iloc[row]
            if v.kind == "time":
                out[name] = str(int(val))
            else:
                out[name] = format_value(val, v.kind)
        for name in _FLOW_FIELDS:
            v = self.flow_field(name).iloc[row]
            if not pd.isna(v):
                out[name] = format_value(v, "num" if name in _FLOW_NUMERIC else "str")
        return out
