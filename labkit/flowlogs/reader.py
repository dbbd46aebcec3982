"""``read()``: every kind of flow-log source into one DataFrame."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labkit.flowlogs.fields import DEFAULT_FIELDS, format_version, lookup
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
JSON_SUFFIXES = (".json", ".ndjson", ".jsonl")

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
      Parquet object (``.parquet``, as S3 delivers it), a JSON file (``.json``,
      ``.ndjson``, ``.jsonl``, or gzip'd: see below), or a directory: every such file
      under it, recursively, in sorted order. A single file is recognised by its
      content whatever its name (a Firehose object has no extension);
    * ``bytes`` (text, gzip, Parquet or JSON, recognised by content);
    * an iterable of lines (``str``);
    * CloudWatch Logs events: the ``events`` list of ``FilterLogEvents`` /
      ``GetLogEvents`` (dicts with ``message``, ``timestamp``, ``logStreamName``,
      ``ingestionTime``), a response dict with ``events``, an export, a subscription
      payload or the event a Lambda function receives (``{"awslogs": {"data": ...}}``).

    JSON sources hold one JSON value, or several one after another, with or without
    newlines between them (NDJSON). Each value is one of:

    * a **subscription payload**, as CloudWatch Logs delivers it to Kinesis, Lambda and
      Firehose (gzip'd JSON; CloudWatch Logs User Guide, "Validate the flow of log
      events"): ``{"messageType": "DATA_MESSAGE", "owner": ..., "logGroup": ...,
      "logStream": "eni-...-all", "subscriptionFilters": [...], "logEvents": [{"id",
      "timestamp", "message"}, ...]}``. Firehose writes several payloads into one S3
      object, concatenated without delimiters (gzip members one after another) unless a
      newline delimiter is configured ("Understand data delivery in Amazon Data
      Firehose"): both are read. ``CONTROL_MESSAGE`` payloads (CloudWatch Logs checking
      that the destination is reachable) carry no records: they are skipped and listed in
      ``df.attrs["control_messages"]`` as ``{source, payload, messages}``; any other
      ``messageType`` is a bad line;
    * a **log event** ``{"timestamp": <ms>, "message": "2 123456789012 eni-..."}``
      (``logStreamName``, ``ingestionTime``, ``eventId`` optional): one per line is the
      NDJSON that ``aws logs filter-log-events ... | jq -c '.events[]'`` or an export
      script produces;
    * a ``FilterLogEvents`` / ``GetLogEvents`` response (``{"events": [...]}``) or a
      plain list of events;
    * the CloudWatch Logs export (a labkit convention)::

        {"logGroupName": "/labkit/flowlogs",
         "logFormat": "${version} ${account-id} ...",     # optional
         "logStreams": {"eni-0abc...-all": [{"timestamp": 1700000000000,
                                             "message": "2 012345678901 ...",
                                             "ingestionTime": 1700000300000}, ...]}}

    ``format`` is a flow-log format (``"${version} ${srcaddr} ..."``) or a list of field
    names. The fields of a record come from, in order: a header line just before it,
    ``format``, the export's ``logFormat``, the default version 2 format. Events and
    payloads do not carry their format: pass ``format`` for a custom one.

    ``on_error="raise"`` (default) raises :class:`FlowLogParseError` at the first
    source holding a bad line (wrong number of fields, a value of the wrong type, text
    that is not JSON, a JSON value that is none of the above), naming the source, the
    line number and the text. ``on_error="collect"`` keeps the good records and lists
    the bad ones in ``df.attrs["bad_lines"]`` as dicts ``{source, line, reason, text}``.
    ``line`` is the line in the file; for events, their position in the list (in a
    subscription payload, in ``logEvents``; ``source`` then names the payload's number
    in the file and its log stream).

    Versions: AWS sets a record's ``version`` to the highest version among the fields of
    its format (Amazon VPC User Guide, "Flow log records"). A record whose ``version``
    differs from that of the format it is read with was probably written with another
    format (a 14-field custom line read as the default format): :func:`read` warns
    (:class:`FlowLogVersionWarning`) once per source, naming the source, the first such
    line and how many records disagree, and lists them in
    ``df.attrs["version_mismatches"]`` as ``{source, line, version, expected, records}``.
    The records are kept as read: AWS documents the rule, but the format decides the
    fields. A source whose header lines switch between formats is not checked.

    ``df.attrs["bad_lines"]``, ``["control_messages"]`` and ``["version_mismatches"]``
    are always set.
    """
    if on_error not in ("raise", "collect"):
        raise ValueError(f"on_error must be 'raise' or 'collect', not {on_error!r}")
    fields = parse_format(format) if format is not None else None
    ctx = _Context(fields, on_error)
    _dispatch(source, ctx)
    raw = concat_raw(ctx.tables) if ctx.tables else _empty(fields or DEFAULT_FIELDS)
    df = finalize(raw)
    df.attrs["bad_lines"] = ctx.bad
    df.attrs["control_messages"] = ctx.control_messages
    df.attrs["version_mismatches"] = ctx.version_mismatches
    for mismatch in ctx.version_mismatches:
        warnings.warn(_version_message(mismatch), FlowLogVersionWarning, stacklevel=2)
    return df


class FlowLogVersionWarning(UserWarning):
    """Records whose ``version`` is not the version of the format they were read with."""


class _Context:
    def __init__(self, fields: list[str] | None, on_error: str):
        self.fields = fields
        self.on_error = on_error
        self.tables: list[pa.Table] = []
        self.bad: list[dict] = []
        self.control_messages: list[dict] = []
        self.version_mismatches: list[dict] = []

    def fields_or(self, fallback: Sequence[str] | None = None) -> list[str]:
        return list(self.fields or fallback or DEFAULT_FIELDS)

    def add(self, parsed: Parsed) -> None:
        if parsed.bad:
            if self.on_error == "raise":
                raise FlowLogParseError(parsed.bad)
            self.bad.extend(parsed.bad)
        if parsed.table.num_columns:
            self.tables.append(parsed.table)

    def add_bad(self, source: str, line: int, reason: str, text: str) -> None:
        self.add(Parsed(pa.table({}), None, [{"source": source, "line": int(line), "reason": reason,
                                              "text": text}]))

    def check_version(
        self, table: pa.Table, fields: Sequence[str], source: str, line_of: Callable[[int], int]
    ) -> None:
        """Warn when records' ``version`` is not their format's (see :func:`read`).
        ``line_of(row)`` is the line number of the table's row ``row``."""
        names = column_names(fields)
        expected = format_version(fields)
        if "version" not in fields or expected is None or table.column_names != names:
            return  # no version to check, or rows of several formats (header lines switched)
        column = table.column(names[list(fields).index("version")])
        differs = pc.fill_null(pc.not_equal(column, expected), False)
        count = pc.sum(differs).as_py() or 0
        if not count:
            return
        row = int(np.flatnonzero(differs.to_numpy(zero_copy_only=False))[0])
        found = column[row].as_py()
        line = line_of(row)
        self.version_mismatches.append(
            {"source": source, "line": line, "version": found, "expected": expected, "records": count}
        )


def _version_message(m: dict) -> str:
    count = m["records"]
    disagree = "1 record disagrees" if count == 1 else f"{count} records of this source disagree"
    return (
        f"{m['source']}, line {m['line']}: the record says version {m['version']}, but the fields it"
        f" was read with are those of version {m['expected']} (AWS writes the highest version among"
        f" a format's fields); {disagree}."
        " Was it written with another format? Pass read(..., format=...) with the flow log's format."
    )


def _empty(fields: Sequence[str]) -> pa.Table:
    names = column_names(fields)
    return pa.table({c: pa.array([], raw_type(f)) for c, f in zip(names, fields, strict=True)})


# ------------------------------------------------------------------------ dispatch


def _dispatch(source: Any, ctx: _Context) -> None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        _read_bytes(bytes(source), "<bytes>", ctx)
    elif isinstance(source, str) and ("\n" in source or not source.strip() or _is_json(source.encode())):
        _read_bytes(source.encode("utf-8"), "<text>", ctx)
    elif isinstance(source, (str, os.PathLike)):
        _read_path(Path(source), ctx)
    elif isinstance(source, Mapping):
        if "messageType" in source or "awslogs" in source:
            _read_json_values([(1, source)], "<events>", ctx)
        else:
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
            fields = ctx.fields_or()
            parsed = parse_lines(arr, fields, "<lines>")
            ctx.check_version(parsed.table, fields, "<lines>", lambda r: int(parsed.kept[r]) + 1)
            ctx.add(parsed)
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
        head = fh.read(256)
    name = path.name.lower()
    if head[:2] == b"\x1f\x8b":
        # gzip.decompress reads every member: Firehose's concatenated payloads included.
        _read_bytes(gzip.decompress(path.read_bytes()), str(path), ctx)
    elif head[:4] == b"PAR1" or name.endswith(PARQUET_SUFFIXES):
        _read_parquet(str(path), str(path), ctx)
    elif name.endswith(JSON_SUFFIXES) or _is_json(head):
        _read_json_bytes(path.read_bytes(), str(path), ctx)
    else:
        _read_text_path(path, ctx)


_LEADING_SPACE = re.compile(rb"\s*")


def _is_json(data: bytes) -> bool:
    """JSON starts with ``{`` or ``[``; no flow-log record or header line does."""
    start = _LEADING_SPACE.match(data).end()
    return data[start : start + 1] in (b"{", b"[")


def _read_bytes(data: bytes, source: str, ctx: _Context) -> None:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:4] == b"PAR1":
        _read_parquet(pa.BufferReader(data), source, ctx)
        return
    if _is_json(data):
        _read_json_bytes(data, source, ctx)
        return
    first_end = data.find(b"\n")
    first = data[: first_end if first_end >= 0 else len(data)]
    hf = header_fields(first.decode("utf-8", errors="replace").strip())
    fields = hf or ctx.fields_or()
    if is_tidy(data):
        try:
            table = read_csv_fast(pa.BufferReader(data), fields, skip_rows=1 if hf else 0)
            if fast_result_ok(table, hf[0] if hf else None):
                ctx.check_version(table, fields, source, lambda r: _record_line(data, r, bool(hf)))
                ctx.add(Parsed(table))
                return
        except pa.ArrowInvalid:
            pass  # a bad line somewhere: the robust route finds and numbers it
    _read_lines(lines_from_buffer(data), fields, source, ctx)


def _read_text_path(path: Path, ctx: _Context) -> None:
    with open(path, "rb") as fh:
        first_line = fh.readline()
    first = first_line.rstrip(b"\n")
    hf = header_fields(first.decode("utf-8", errors="replace").strip())
    fields = hf or ctx.fields_or()
    # No scan of the whole file: other untidy text is caught by the typed read or by
    # fast_result_ok.
    if first_line[:1] not in (b" ", b"\n"):
        try:
            table = read_csv_fast(str(path), fields, skip_rows=1 if hf else 0)
            if fast_result_ok(table, hf[0] if hf else None):
                ctx.check_version(
                    table, fields, str(path), lambda r: _record_line(path.read_bytes(), r, bool(hf))
                )
                ctx.add(Parsed(table))
                return
        except pa.ArrowInvalid:
            pass
    _read_lines(lines_from_buffer(path.read_bytes()), fields, str(path), ctx)


def _read_lines(lines: pa.Array, fields: list[str], source: str, ctx: _Context) -> None:
    """The robust route. ``fields`` are those of the first line's header, if any: the check
    of versions then applies (parse_lines starts from ``ctx.fields`` and switches at headers)."""
    parsed = parse_lines(lines, ctx.fields_or(), source)
    ctx.check_version(parsed.table, fields, source, lambda r: int(parsed.kept[r]) + 1)
    ctx.add(parsed)


def _record_line(data: bytes, row: int, header: bool) -> int:
    """The line number of the ``row``-th record of tidy text read by the fast route (which
    skips blank lines and, with ``header``, the first line). Only called to name a line."""
    lines = lines_from_buffer(data)
    filled = pc.greater(pc.binary_length(pc.utf8_trim_whitespace(lines)), 0)
    nonblank = np.flatnonzero(filled.to_numpy(zero_copy_only=False))
    return int(nonblank[row + (1 if header else 0)]) + 1


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
    keep = np.ones(len(table), dtype=bool)
    if bad_rows:
        rows = sorted(bad_rows)
        for r in rows:
            record = t.slice(r, 1).to_pylist()[0]
            values = {aws: record[n] for aws, n in zip(fields, t.column_names, strict=True)}
            text = format_record(fields, values)
            bad.append({"source": source, "line": r + 1, "reason": bad_rows[r], "text": text})
        keep[rows] = False
        table = table.filter(pa.array(keep))
    kept = np.flatnonzero(keep)
    ctx.check_version(table, fields, source, lambda r: int(kept[r]) + 1)
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
    line_numbers: np.ndarray | None = None,
) -> None:
    """Events as FilterLogEvents/GetLogEvents return them. The dicts are turned into
    Arrow arrays by pyarrow (C++), not a Python loop. ``line_numbers[i]`` is the line
    reported for event ``i`` (default: its position, from 1)."""
    if not len(events):
        return
    arr = pa.array(events, type=_EVENT_TYPE)  # extra keys (ingestionTime, eventId, id) ignored
    messages = arr.field("message")
    if line_numbers is None:
        line_numbers = np.arange(1, len(arr) + 1, dtype=np.int64)
    fields = list(fields or ctx.fields_or())
    parsed = parse_lines(messages, fields, source, line_numbers=line_numbers, headers=False)
    if messages.null_count:  # parse_lines takes a null line for a blank one: never drop it silently
        missing = np.flatnonzero(messages.is_null().to_numpy(zero_copy_only=False))
        parsed.bad.extend(
            {"source": source, "line": int(line_numbers[i]), "reason": "the event has no message", "text": ""}
            for i in missing
        )
        parsed.bad.sort(key=lambda b: b["line"])
    ctx.check_version(parsed.table, fields, source, lambda r: int(line_numbers[parsed.kept[r]]))
    kept = pa.array(parsed.kept, pa.int64())
    streams = arr.field("logStreamName")
    if stream is not None:
        streams = pc.fill_null(streams, stream)
    table = parsed.table
    table = table.append_column("log_stream", streams.take(kept).cast(pa.string()))
    table = table.append_column("event_timestamp", arr.field("timestamp").take(kept))
    if stream is None and parsed.bad:
        names = streams.to_pylist()
        position = {int(n): i for i, n in enumerate(line_numbers)}
        for b in parsed.bad:
            b["source"] = f"{source}#{names[position[b['line']]] or '?'}"
    ctx.add(Parsed(table, parsed.kept, parsed.bad))


# ---------------------------------------------------------- JSON: NDJSON, payloads


_JSON_SPACE = re.compile(r"\s*")


def _read_json_bytes(data: bytes, source: str, ctx: _Context) -> None:
    """JSON values one after another (see :func:`read`). Decoding them value by value costs
    little next to parsing their records (measured: 1 s of 20 for 500,000 NDJSON events)."""
    _read_json_values(_json_values(data.decode("utf-8", errors="replace"), source, ctx), source, ctx)


def _json_values(text: str, source: str, ctx: _Context) -> list[tuple[int, Any]]:
    """(line, value) of each JSON value in ``text``; values may follow each other with or
    without whitespace. Text that is not JSON is a bad line; reading resumes on the next line."""
    decoder = json.JSONDecoder()
    values: list[tuple[int, Any]] = []
    pos, line, counted = 0, 1, 0
    while True:
        pos = _JSON_SPACE.match(text, pos).end()
        if pos >= len(text):
            return values
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            ctx.add_bad(source, line, f"not JSON: {err.msg}", text[pos : min(end, pos + 1000)])
            pos = end
            continue
        values.append((line, value))


def _read_json_values(values: list[tuple[int, Any]], source: str, ctx: _Context) -> None:
    """Each value by its shape; runs of single events are read together."""
    events: list[Mapping] = []
    event_lines: list[int] = []

    def flush() -> None:
        if events:
            _read_cwl_events(events, source, ctx, line_numbers=np.array(event_lines, np.int64))
            events.clear()
            event_lines.clear()

    payloads = 0
    for line, value in values:
        if isinstance(value, Mapping) and "message" in value:
            events.append(value)
            event_lines.append(line)
            continue
        flush()
        if isinstance(value, Mapping) and "messageType" in value:
            payloads += 1
            _read_payload(value, payloads, line, source, ctx)
        elif isinstance(value, Mapping) and "awslogs" in value:
            _read_lambda_event(value, line, source, ctx)
        elif isinstance(value, list) or (
            isinstance(value, Mapping) and ("events" in value or "logStreams" in value)
        ):
            _read_cwl_document(value, source, ctx)
        else:
            text = json.dumps(value)[:200]
            reason = "not a CloudWatch Logs event, subscription payload or export"
            ctx.add_bad(source, line, reason, text)
    flush()


def _read_payload(payload: Mapping, number: int, line: int, source: str, ctx: _Context) -> None:
    """A subscription payload: DATA_MESSAGE's ``logEvents`` are records; CONTROL_MESSAGE is
    CloudWatch Logs checking that the destination is reachable (no records)."""
    kind = payload.get("messageType")
    log_events = payload.get("logEvents") or []
    if kind == "CONTROL_MESSAGE":
        messages = [e.get("message") for e in log_events if isinstance(e, Mapping)]
        ctx.control_messages.append({"source": source, "payload": number, "messages": messages})
        return
    if kind != "DATA_MESSAGE" or not isinstance(log_events, list):
        problem = "logEvents is not a list" if kind == "DATA_MESSAGE" else (
            f"messageType {kind!r} is neither DATA_MESSAGE nor CONTROL_MESSAGE")
        ctx.add_bad(source, line, f"subscription payload {number}: {problem}", json.dumps(payload)[:200])
        return
    stream = payload.get("logStream")
    label = f"{source} payload {number}" + (f" {stream}" if stream else "")
    _read_cwl_events(log_events, label, ctx, stream=stream)


def _read_lambda_event(event: Mapping, line: int, source: str, ctx: _Context) -> None:
    """``{"awslogs": {"data": <base64 of the gzip'd payload>}}``: what Lambda receives."""
    try:
        data = gzip.decompress(base64.b64decode(event["awslogs"]["data"], validate=True))
    except (KeyError, TypeError, ValueError, OSError) as err:
        reason = f"awslogs.data is not base64 of gzip'd JSON: {err}"
        ctx.add_bad(source, line, reason, json.dumps(event)[:200])
        return
    _read_json_bytes(data, f"{source} (awslogs)", ctx)
