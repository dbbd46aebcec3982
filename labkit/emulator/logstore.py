"""Our own store of CloudWatch Logs events: columnar, one per (region, log group).

moto keeps every event as a Python object and re-filters all of them for each
``FilterLogEvents`` page (about 100 s to page through a million events). Here a
group's events live in a :class:`labkit.logsinsights.EventTable` (the same table
Logs Insights queries run on) plus a few numpy columns for paging:

- appends are buffered and folded into the table in one step at the next read,
  so a delivery costs one list append, not a copy of the group;
- the order AWS returns events in (timestamp, then arrival) is one cached
  ``argsort``; a FilterLogEvents result (its row numbers) is cached per request
  shape, and its ``nextToken`` names that result and a position in it, so each
  page is a slice. A token whose result was evicted is re-run and resumed after
  the last event returned, so paging stays stable when events arrive between pages.
- reads take a :class:`GroupView` under the emulator's lock (references, no copy) and do
  their work on it outside the lock; what they computed is kept when they take it back.

moto keeps the groups and streams (names, creation times); the events and what
DescribeLogStreams says about them (first and last event, last ingestion,
storedBytes) are only here.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from labkit.emulator.moto_adapter import ACCOUNT_ID
from labkit.logsinsights import EventTable, compile_filter_pattern

_serials = itertools.count(1)
# CloudWatch Logs counts each event's message bytes plus 26 bytes of overhead.
EVENT_OVERHEAD_BYTES = 26
EVENT_ID_TIMESTAMP_SHIFT = 144
EVENT_ID_DIGITS = 56


@dataclass
class _Chunk:
    stream: str
    timestamps: np.ndarray  # int64 ms
    messages: pa.Array  # Arrow strings: no Python str object per event
    ingestion_ms: int


@dataclass
class StreamStats:
    """What DescribeLogStreams says about a stream's events."""

    first_event_ms: int
    last_event_ms: int
    last_ingestion_ms: int
    stored_bytes: int = 0
    uploads: int = 0


@dataclass
class GroupStore:
    region: str
    name: str
    serial: int = field(default_factory=lambda: next(_serials))
    table: EventTable = field(default_factory=EventTable)
    pending: list[_Chunk] = field(default_factory=list)
    ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    ingestion: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    stream_codes: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    stream_names: list[str] = field(default_factory=list)
    stream_index: dict[str, int] = field(default_factory=dict)
    _order: np.ndarray | None = None
    _results: OrderedDict = field(default_factory=OrderedDict)
    generation: int = 0  # changes whenever the events do: a view of an older one is stale
    pending_count: int = 0
    stream_stats: dict[str, StreamStats] = field(default_factory=dict)

    # ---- writing ---------------------------------------------------------------------
    def append(self, stream: str, timestamps, messages: list[str], ingestion_ms: int) -> None:
        if not len(messages):
            return
        ts = np.asarray(timestamps, dtype=np.int64)
        if isinstance(messages, pa.ChunkedArray):
            messages = messages.combine_chunks()
        if not isinstance(messages, pa.Array):
            messages = pa.array(list(messages), type=pa.large_string())
        self.pending.append(_Chunk(stream, ts, messages, ingestion_ms))
        self.pending_count += len(messages)
        self._count(stream, ts, messages, ingestion_ms)

    def _count(self, stream: str, ts: np.ndarray, messages: pa.Array, ingestion_ms: int) -> None:
        first, last = int(ts.min()), int(ts.max())
        stats = self.stream_stats.get(stream)
        if stats is None:
            stats = self.stream_stats[stream] = StreamStats(first, last, ingestion_ms)
        stats.first_event_ms = min(stats.first_event_ms, first)
        stats.last_event_ms = max(stats.last_event_ms, last)
        stats.last_ingestion_ms = ingestion_ms
        chars = pc.sum(pc.binary_length(messages)).as_py() or 0
        stats.stored_bytes += chars + EVENT_OVERHEAD_BYTES * len(messages)
        stats.uploads += 1

    def __len__(self) -> int:
        return len(self.ts) + self.pending_count

    def flush(self) -> None:
        """Fold buffered events into the table (one append, however many deliveries)."""
        if not self.pending:
            return
        chunks, self.pending, self.pending_count = self.pending, [], 0
        codes, ts, ingest, messages = [], [], [], []
        for chunk in chunks:
            code = self.stream_index.get(chunk.stream)
            if code is None:
                code = self.stream_index[chunk.stream] = len(self.stream_names)
                self.stream_names.append(chunk.stream)
            n = len(chunk.messages)
            codes.append(np.full(n, code, np.int32))
            ts.append(chunk.timestamps)
            ingest.append(np.full(n, chunk.ingestion_ms, np.int64))
            messages.append(chunk.messages.cast(pa.large_string()))
        new_codes = np.concatenate(codes)
        new_ts = np.concatenate(ts)
        new_ingest = np.concatenate(ingest)
        stream_col = pd.Categorical.from_codes(new_codes, categories=list(self.stream_names))
        frame = pd.DataFrame(
            {
                "@timestamp": new_ts,
                "@message": pd.Series(pa.concat_arrays(messages), dtype="str"),
                "@logStream": stream_col,
                "@log": pd.Categorical.from_codes(
                    np.zeros(len(new_ts), np.int32), categories=[f"{ACCOUNT_ID}:{self.name}"]
                ),
                "@ingestionTime": new_ingest,
            }
        )
        self.table.append(frame)
        self.ts = np.concatenate([self.ts, new_ts])
        self.ingestion = np.concatenate([self.ingestion, new_ingest])
        self.stream_codes = np.concatenate([self.stream_codes, new_codes])
        self._order = None
        # a new cache (not cleared in place): views taken before keep theirs, of their own rows
        self._results = OrderedDict()
        self.generation += 1

    def drop_stream(self, stream: str) -> None:
        """Forget one stream's events (DeleteLogStream): rebuild the table without them."""
        self.flush()
        code = self.stream_index.get(stream)
        if code is None or not len(self.ts):
            return
        keep = self.stream_codes != code
        messages = self.messages(np.flatnonzero(keep))
        names = [self.stream_names[c] for c in self.stream_codes[keep]]
        ts, ingest = self.ts[keep], self.ingestion[keep]
        fresh = GroupStore(self.region, self.name)
        for name in dict.fromkeys(names):
            rows = [i for i, n in enumerate(names) if n == name]
            for ing in np.unique(ingest[rows]):
                sub = [r for r in rows if ingest[r] == ing]
                fresh.append(name, ts[sub], [messages[r] for r in sub], int(ing))
        fresh.flush()
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in ("serial", "generation")})
        self.generation += 1

    # ---- reading ---------------------------------------------------------------------
    def view(self) -> GroupView:
        """Under the lock: the events as they are now, to read outside it (references, no copy)."""
        self.flush()
        return GroupView(self.generation, self.serial, self.ts, self.ingestion, self.stream_codes,
                         tuple(self.stream_names), dict(self.stream_index),
                         self.table._base.get("@message"), self._order, self._results)

    def remember(self, view: GroupView) -> None:
        """Under the lock: keep what ``view`` computed (order, results), if no events came since."""
        if view.generation != self.generation:
            return
        if self._order is None:
            self._order = view.computed_order
        for key, rows in view.found.items():
            self._results[key] = rows
            self._results.move_to_end(key)
        while len(self._results) > 16:
            self._results.popitem(last=False)

    def select(self, **criteria) -> np.ndarray:
        """Row numbers matching ``criteria`` (see :meth:`GroupView.select`), read under the lock."""
        view = self.view()
        rows = view.select(**criteria)
        self.remember(view)
        return rows

    def messages(self, rows: np.ndarray) -> list[str]:
        return self.view().messages(rows)


@dataclass
class GroupView:
    """A group's events at one moment, safe to read without the lock.

    :meth:`GroupStore.flush` and :meth:`EventTable.append` replace arrays, columns and the
    results cache rather than change them in place, so what a view holds never changes.
    What a view computes (the order, selected rows) it keeps in ``computed_order`` and ``found``,
    for :meth:`GroupStore.remember` to store under the lock.
    """

    generation: int
    serial: int
    ts: np.ndarray
    ingestion: np.ndarray
    stream_codes: np.ndarray
    stream_names: tuple[str, ...]
    stream_index: dict[str, int]
    message_column: pd.Series | None
    known_order: np.ndarray | None
    known_results: OrderedDict
    computed_order: np.ndarray | None = None
    found: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def order(self) -> np.ndarray:
        """Row numbers in AWS's order: by timestamp, then by arrival."""
        if self.known_order is not None:
            return self.known_order
        if self.computed_order is None:
            self.computed_order = np.argsort(self.ts, kind="stable")
        return self.computed_order

    def messages(self, rows: np.ndarray) -> list[str]:
        if not len(rows):
            return []
        return self.message_column.take(rows).tolist()

    def event_id(self, row: int) -> str:
        """CloudWatch's shape: a 56-digit decimal whose top bits are the timestamp (ms << 144).

        The example in AWS's "Validate the flow of log events" page, an event at 1432826855000,
        has the id ``3195310660696698337880902507980421114328961542429EXAMPLE``: its leading
        digits are 1432826855000 << 144. The low bits here name the group and the row, so ids
        are unique and sort like the events.
        """
        value = (int(self.ts[row]) << EVENT_ID_TIMESTAMP_SHIFT) | (self.serial << 64) | row
        return f"{value:0{EVENT_ID_DIGITS}d}"

    def select(self, *, streams=None, prefix=None, start=None, end=None, end_inclusive=True,
               pattern: str | None = None) -> np.ndarray:
        """Row numbers matching, in AWS's order. Remembered per request shape until the next append."""
        key = json.dumps([sorted(streams) if streams else None, prefix, start, end, end_inclusive,
                          pattern or ""])
        hit = self.found.get(key)
        if hit is None:
            hit = self.known_results.get(key)
        if hit is not None:
            return hit
        rows = self.order
        if streams is not None or prefix is not None:
            wanted = [self.stream_index[s] for s in (streams or []) if s in self.stream_index]
            if prefix is not None:
                wanted = [i for i, n in enumerate(self.stream_names) if n.startswith(prefix)]
            rows = rows[np.isin(self.stream_codes[rows], np.asarray(wanted, np.int32))]
        if start is not None:
            rows = rows[self.ts[rows] >= int(start)]
        if end is not None:
            rows = rows[self.ts[rows] <= int(end)] if end_inclusive else rows[self.ts[rows] < int(end)]
        if pattern and len(rows):
            matcher = compile_filter_pattern(pattern)
            col = self.message_column
            if len(rows) == len(col):
                mask = np.asarray(matcher(col), dtype=bool)[rows]
            else:
                mask = np.asarray(matcher(col.take(rows).reset_index(drop=True)), dtype=bool)
            rows = rows[mask]
        self.found[key] = rows
        return rows

    def filter_page(self, rows: np.ndarray, start_at: int, limit: int) -> list[dict]:
        page = rows[start_at:start_at + limit]
        msgs = self.messages(page)
        return [
            {
                "logStreamName": self.stream_names[self.stream_codes[r]],
                "timestamp": int(self.ts[r]),
                "message": m,
                "ingestionTime": int(self.ingestion[r]),
                "eventId": self.event_id(int(r)),
            }
            for r, m in zip(page.tolist(), msgs, strict=True)
        ]


# ---- the registry -------------------------------------------------------------------------

STORES: dict[tuple[str, str], GroupStore] = {}


def group(region: str, name: str, *, create: bool = True) -> GroupStore | None:
    store = STORES.get((region, name))
    if store is None and create:
        store = STORES[(region, name)] = GroupStore(region, name)
    return store


def drop_group(region: str, name: str) -> None:
    STORES.pop((region, name), None)


def reset() -> None:
    STORES.clear()


def encode_token(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict | None:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        return None
