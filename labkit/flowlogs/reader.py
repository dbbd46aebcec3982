"""``read()``: every kind of flow-log source into one DataFrame."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labkit.flowlogs.fields import DEFAULT_FIELDS, lookup
from labkit.flowlogs.formats import format_record, parse_format
from labkit.flowlogs.parser import (
    FlowLogParseError,
    Parsed,
    column_names,
    concat_raw,
    convert_strings,
    fast_result_ok,
    finalize,
    header_fields,
    is_tidy,
    lines_from_buffer,
    parse_lines,
    raw_type,
    read_csv_fast,
)

TEXT_SUFFIXES = (".log", ".txt", ".gz")
PARQUET_SUFFIXES = (".parquet",)
JSON_SUFFIXES = (".json",)

_EVENT_TYPE = pa.struct(
    [
        ("logStreamName", pa.string()),
        ("timestamp", pa.int64()),
        ("message", pa.large_string()),
    ]
)


def read(
    source: Any,
    format: str | Sequence[str] | None = None,  # noqa: A002 - the AWS word
    on_error: str = "raise",
) -> pd.DataFrame:
    """Read flow-log records from any source into a pandas DataFrame.

    ``source`` may be:

    * a path (str or ``os.PathLike``) to a text object (``.log``, ``.log.gz``; the
      header line first, as S3 delivers it; concatenated objects may repeat it), a
      Parquet object (``.parquet``, as S3 delivers it), a CloudWatch Logs export
      (``.json``, see below), or a directory: every such file under it, recursively,
      in sorted order;
    * ``bytes`` (text, gzip or Parquet, recognised by content);
    * an iterable of lines (``str``);
    * CloudWatch Logs events: the ``events`` list of ``FilterLogEvents`` /
      ``GetLogEvents`` (dicts with ``message``, ``timestamp``, ``logStreamName``,
      ``ingestionTime``), a response dict with ``events``, or an export.

    The CloudWatch Logs export (a labkit convention, JSON)::

        {"logGroupName": "/labkit/flowlogs",
         "logFormat": "${version} ${account-id} ...",     # optional
         "logStreams": {"eni-0abc...-all": [{"timestamp": 1700000000000,
                                             "message": "2 012345678901 ...",
                                             "ingestionTime": 1700000300000}, ...]}}

    or a plain JSON list of events (each with ``logStreamName``).

    ``format`` is a flow-log format (``"${version} ${srcaddr} ..."``) or a list of field
    names. The fields of a record come from, in order: a header line just before it,
    ``format``, the export's ``logFormat``, the default version 2 format.

    ``on_error="raise"`` (default) raises :class:`FlowLogParseError` at the first
    source holding a bad line (wrong number of fields, or a value of the wrong type),
    naming the source, the line number and the text. ``on_error="collect"`` keeps the
    good records and lists the bad ones in ``df.attrs["bad_lines"]`` as dicts
    ``{source, line, reason, text}``. ``df.attrs["bad_lines"]`` is always set.
    """
    if on_error not in ("raise", "collect"):
        raise ValueError(f"on_error must be 'raise' or 'collect', not {on_error!r}")
    fields = parse_format(format) if format is not None else None
    ctx = _Context(fields, on_error)
    _dispatch(source, ctx)
    raw = concat_raw(ctx.tables) if ctx.tables else _empty(fields or DEFAULT_FIELDS)
    df = finalize(raw)
    df.attrs["bad_lines"] = ctx.bad
    return df


class _Context:
    def __init__(self, fields: list[str] | None, on_error: str):
        self.fields = fields
        self.on_error = on_error
        self.tables: list[pa.Table] = []
        self.bad: list[dict] = []

    def fields_or(self, fallback: Sequence[str] | None = None) -> list[str]:
        return list(self.fields or fallback or DEFAULT_FIELDS)

    def add(self, parsed: Parsed) -> None:
        if parsed.bad:
            if self.on_error == "raise":
                raise FlowLogParseError(parsed.bad)
            self.bad.extend(parsed.bad)
        if parsed.table.num_columns:
            self.tables.append(parsed.table)


def _empty(fields: Sequence[str]) -> pa.Table:
    names = column_names(fields)
    return pa.table({c: pa.array([], raw_type(f)) for c, f in zip(names, fields, strict=True)})


# ------------------------------------------------------------------------ dispatch


def _dispatch(source: Any, ctx: _Context) -> None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        _read_bytes(bytes(source), "<bytes>", ctx)
    elif isinstance(source, str) and ("\n" in source or not source.strip()):
        _read_bytes(source.encode("utf-8"), "<text>", ctx)
    elif isinstance(source, (str, os.PathLike)):
        _read_path(Path(source), ctx)
    elif isinstance(source, Mapping):
        _read_cwl_document(source, "<events>", ctx)
    elif isinstance(source, Iterable):
        items = source if isinstance(source, Sequence) else list(source)
        if len(items) == 0:
            return
        first = items[0]
        if isinstance(first, Mapping):
            _read_cwl_events(items, "<events>", ctx)
        elif isinstance(first, (str, bytes)):
            lines = [x.decode("utf-8") if isinstance(x, bytes) else x for x in items]
            arr = pa.array(lines, pa.large_string())
            ctx.add(parse_lines(arr, ctx.fields_or(), "<lines>"))
        else:
            raise TypeError(f"cannot read flow logs from a sequence of {type(first).__name__}")
    else:
        raise TypeError(f"cannot read flow logs from {type(source).__name__}")


def _is_flowlog_file(p: Path) -> bool:
    name = p.name.lower()
    if name.startswith(".") or not p.is_file():
        return False
    return name.endswith(TEXT_SUFFIXES + PARQUET_SUFFIXES + JSON_SUFFIXES)


def _read_path(path: Path, ctx: _Context) -> None:
    if path.is_dir():
        files = sorted((p for p in path.rglob("*") if _is_flowlog_file(p)), key=str)
        for p in files:
            _read_file(p, ctx)
    elif path.exists():
        _read_file(path, ctx)
    else:
        raise FileNotFoundError(f"no flow-log file or directory at {path}")


def _read_file(path: Path, ctx: _Context) -> None:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    name = path.name.lower()
    if magic[:2] == b"\x1f\x8b":
        _read_bytes(gzip.decompress(path.read_bytes()), str(path), ctx)
    elif magic == b"PAR1" or name.endswith(PARQUET_SUFFIXES):
        _read_parquet(str(path), str(path), ctx)
    elif name.endswith(JSON_SUFFIXES):
        _read_cwl_document(json.loads(path.read_text("utf-8")), str(path), ctx)
    else:
        _read_text_path(path, ctx)


def _read_bytes(data: bytes, source: str, ctx: _Context) -> None:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:4] == b"PAR1":
        _read_parquet(pa.BufferReader(data), source, ctx)
        return
    first_end = data.find(b"\n")
    first = data[: first_end if first_end >= 0 else len(data)]
    hf = header_fields(first.decode("utf-8", errors="replace").strip())
    fields = hf or ctx.fields_or()
    if is_tidy(data):
        try:
            table = read_csv_fast(pa.BufferReader(data), fields, skip_rows=1 if hf else 0)
            if fast_result_ok(table, hf[0] if hf else None):
                ctx.add(Parsed(table))
                return
        except pa.ArrowInvalid:
            pass  # a bad line somewhere: the robust route finds and numbers it
    ctx.add(parse_lines(lines_from_buffer(data), ctx.fields_or(), source))


def _read_text_path(path: Path, ctx: _Context) -> None:
    with open(path, "rb") as fh:
        first_line = fh.readline()
    first = first_line.rstrip(b"\n")
    hf = header_fields(first.decode("utf-8", errors="replace").strip())
    # No scan of the whole file: other untidy text is caught by the typed read or by
    # fast_result_ok.
    if first_line[:1] not in (b" ", b"\n"):
        try:
            table = read_csv_fast(str(path), hf or ctx.fields_or(), skip_rows=1 if hf else 0)
            if fast_result_ok(table, hf[0] if hf else None):
                ctx.add(Parsed(table))
                return
        except pa.ArrowInvalid:
            pass
    ctx.add(parse_lines(lines_from_buffer(path.read_bytes()), ctx.fields_or(), str(path)))


# ------------------------------------------------------------------------- parquet


def _read_parquet(src: Any, source: str, ctx: _Context) -> None:
    """Parquet as AWS delivers it: snake_case columns, INT_32/INT_64/STRING, and
    ``-`` or ``None`` strings standing for missing values."""
    t = pq.read_table(src)
    fields = [(f.aws_name if (f := lookup(name)) else name) for name in t.column_names]
    names = column_names(fields)
    out: dict[str, Any] = {}
    to_check: dict[str, pa.Array] = {}
    check_fields: list[str] = []
    for col, aws, src_name in zip(names, fields, t.column_names, strict=True):
        arr = t.column(src_name)
        target = raw_type(aws)
        typ = arr.type
        if pa.types.is_dictionary(typ):
            arr = arr.cast(typ.value_type)
            typ = arr.type
        if pa.types.is_timestamp(typ):
            arr = arr.cast(pa.timestamp("s", tz=typ.tz)).cast(pa.int64())
            typ = arr.type
        if pa.types.is_string(target) or not pa.types.is_integer(typ):
            to_check[col] = arr.cast(pa.large_string())
            check_fields.append(aws)
            out[col] = None
        else:
            out[col] = arr  # integers: cast below, range-checked
    checked, bad_rows = convert_strings(to_check, check_fields, null_tokens=("-", "None"))
    for col in checked.column_names:
        out[col] = checked.column(col)
    for col, aws in zip(names, fields, strict=True):
        arr = out[col]
        target = raw_type(aws)
        if arr.type != target:
            try:
                out[col] = arr.cast(target)
            except pa.ArrowInvalid:
                wide = arr.cast(pa.int64())
                outside = pc.fill_null(
                    pc.or_(pc.less(wide, -(2**31)), pc.greater(wide, 2**31 - 1)), False
                )
                for r in np.flatnonzero(outside.to_numpy(zero_copy_only=False)):
                    bad_rows.setdefault(int(r), f"{aws}: {wide[int(r)].as_py()} out of range")
                out[col] = pc.if_else(outside, pa.scalar(None, pa.int64()), wide).cast(target)
    table = pa.table(out)
    bad = []
    if bad_rows:
        rows = sorted(bad_rows)
        for r in rows:
            record = t.slice(r, 1).to_pylist()[0]
            values = {aws: record[n] for aws, n in zip(fields, t.column_names, strict=True)}
            text = format_record(fields, values)
            bad.append({"source": source, "line": r + 1, "reason": bad_rows[r], "text": text})
        keep = np.ones(len(table), dtype=bool)
        keep[rows] = False
        table = table.filter(pa.array(keep))
    ctx.add(Parsed(table, None, bad))


# ---------------------------------------------------------------- CloudWatch Logs


def _read_cwl_document(doc: Any, source: str, ctx: _Context) -> None:
    if isinstance(doc, list):
        _read_cwl_events(doc, source, ctx)
        return
    if not isinstance(doc, Mapping):
        raise TypeError(f"{source}: not a CloudWatch Logs export (a JSON object or list)")
    fmt = doc.get("logFormat")
    fields = ctx.fields or (parse_format(fmt) if fmt else None)
    if "logStreams" in doc:
        streams = doc["logStreams"]
        if isinstance(streams, Mapping):
            items = sorted(streams.items())
        else:  # [{"logStreamName": ..., "events": [...]}, ...]
            items = [(s["logStreamName"], s.get("events", [])) for s in streams]
        for name, events in items:
            _read_cwl_events(events, f"{source}#{name}", ctx, fields, stream=name)
    elif "events" in doc:
        _read_cwl_events(doc["events"], source, ctx, fields)
    else:
        raise ValueError(f"{source}: expected 'logStreams' or 'events' in a CloudWatch export")


def _read_cwl_events(
    events: Sequence[Mapping],
    source: str,
    ctx: _Context,
    fields: Sequence[str] | None = None,
    stream: str | None = None,
) -> None:
    """Events as FilterLogEvents/GetLogEvents return them. The dicts are turned into
    Arrow arrays by pyarrow (C++), not a Python loop."""
    if not len(events):
        return
    arr = pa.array(events, type=_EVENT_TYPE)  # extra keys (ingestionTime, eventId) ignored
    messages = arr.field("message")
    parsed = parse_lines(messages, list(fields or ctx.fields_or()), source, headers=False)
    kept = pa.array(parsed.kept, pa.int64())
    streams = arr.field("logStreamName")
    if stream is not None:
        streams = pc.fill_null(streams, stream)
    table = parsed.table
    table = table.append_column("log_stream", streams.take(kept).cast(pa.string()))
    table = table.append_column("event_timestamp", arr.field("timestamp").take(kept))
    if stream is None and parsed.bad:
        names = streams.to_pylist()
        for b in parsed.bad:
            b["source"] = f"{source}#{names[b['line'] - 1] or '?'}"
    ctx.add(Parsed(table, parsed.kept, parsed.bad))
