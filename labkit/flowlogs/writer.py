"""Writing flow logs as AWS delivers them: the exact inverse of :func:`labkit.flowlogs.read`.

``write(df, destination)`` writes a DataFrame (as ``read`` returns it) to a text object
(``.log``, ``.log.gz``), a Parquet object (``.parquet``) or CloudWatch Logs events
(``destination=None``). The building blocks below are what the emulator's delivery
calls, one aggregation window at a time; their names and signatures are stable:

* :func:`record_lines` -- one record line per row, as an Arrow string array;
* :func:`text_object` -- an S3 text object: the header line, then the records (gzip'd);
* :func:`parquet_object` -- an S3 Parquet object with AWS's column names and types.

All of them take a ``pyarrow.Table`` or a DataFrame with snake_case columns (``account_id``,
``log_status`` ...); time columns may hold Unix seconds or timestamps, string columns may
be categoricals; a null value or a missing column is written as ``-``, as AWS does.
Nothing loops over records in Python.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labkit.flowlogs.fields import BY_COLUMN, FIELDS, column_name
from labkit.flowlogs.formats import parse_format

MISSING = "-"
CLOUDWATCH_STREAM_SUFFIX = "-all"
"""VPC Flow Logs names a CloudWatch Logs stream after the interface: ``eni-0abc...-all``."""

# Columns ``read`` adds that are not flow-log fields: never written as fields. The names
# are recomputed from the numbers; the CloudWatch ones become the events' stream and time.
NAME_COLUMNS = ("protocol_name", "tcp_flags_names", "traffic_path_name")
CLOUDWATCH_COLUMNS = ("log_stream", "event_timestamp")
DERIVED_COLUMNS = NAME_COLUMNS + CLOUDWATCH_COLUMNS

_PARQUET_ARROW_TYPES = {"INT_32": pa.int32(), "INT_64": pa.int64(), "STRING": pa.string()}

PARQUET_GZIP_LEVEL = 6
"""AWS delivers Parquet "with Gzip compression" ("Flow log files"). Level 6 writes a busy network's
5-minute objects in 40% of the time of Arrow's default, 9 (2.9 s against 7.1 s for 100 objects
of 3,500 records), for 0.08% more bytes."""


# ------------------------------------------------------------------- building blocks


def record_lines(table: pa.Table | pd.DataFrame, fields: str | Sequence[str]) -> pa.StringArray:
    """One flow-log record line per row, its values in the order of ``fields``.

    ``fields`` are AWS names (``["version", "account-id", ...]``) or a format string
    (``"${version} ${account-id} ..."``). Values are joined by one space; a null value
    or a column the table does not have is written as ``-``.
    """
    names = parse_format(fields)
    table = _as_table(table)
    columns = [_text_column(table, name) for name in names]
    if table.num_rows == 0:
        return pa.array([], pa.string())
    if all(isinstance(c, pa.Scalar) for c in columns):  # no column at all: every value "-"
        columns[0] = pa.nulls(table.num_rows, pa.string())
    if len(columns) == 1:
        lines = pc.fill_null(columns[0], MISSING)
    else:
        lines = pc.binary_join_element_wise(*columns, " ", null_handling="replace", null_replacement=MISSING)
    return lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines


def text_object(table: pa.Table | pd.DataFrame, fields: str | Sequence[str], compress: bool = True) -> bytes:
    """An S3 text object: the header line (the AWS names, space-separated), then one line
    per record, each ending in a newline. Gzip'd with mtime 0 (the same bytes every time)
    when ``compress``."""
    names = parse_format(fields)
    lines = record_lines(table, names)
    body = _newline_terminated(lines)
    data = (" ".join(names) + "\n").encode() + body
    return gzip.compress(data, compresslevel=9, mtime=0) if compress else data


def parquet_object(table: pa.Table | pd.DataFrame, fields: str | Sequence[str]) -> bytes:
    """An S3 Parquet object as AWS writes it: one column per field in format order, named
    by its snake_case name, typed INT_32 / INT_64 / STRING (``Field.parquet``); integers
    and times null when missing, strings ``-`` (as in the text records); gzip-compressed."""
    names = list(dict.fromkeys(parse_format(fields)))
    table = _as_table(table)
    arrays, columns = [], []
    for name in names:
        field = FIELDS.get(name)
        target = _PARQUET_ARROW_TYPES[field.parquet if field else "STRING"]
        values = _text_column(table, name) if pa.types.is_string(target) else _int_column(table, name)
        if isinstance(values, pa.Scalar):
            values = pa.nulls(table.num_rows, target)
        if pa.types.is_string(target):
            values = pc.fill_null(values, MISSING)
        arrays.append(values.cast(target))
        columns.append(field.column if field else column_name(name))
    sink = io.BytesIO()
    pq.write_table(
        pa.Table.from_arrays(arrays, names=columns), sink, compression="gzip",
        compression_level=PARQUET_GZIP_LEVEL, use_dictionary=True, write_statistics=True, store_schema=False,
    )
    return sink.getvalue()


# ------------------------------------------------------------------------------ write


def write(df: pd.DataFrame, destination: str | Path | None = None,
          format: str | Sequence[str] | None = None) -> Path | list[dict]:  # noqa: A002 - the AWS word
    """Write flow-log records where AWS would put them; ``read`` of the result gives ``df`` back.

    ``destination``:

    * a path ending ``.log`` (text) or ``.log.gz`` / ``.gz`` (gzip text): the header line,
      then one record per row; returns the path;
    * a path ending ``.parquet``: a Parquet object with AWS's column names and types;
    * ``None`` or ``"cloudwatch"``: returns CloudWatch Logs events, one per row,
      ``{"timestamp": <ms>, "message": <line>}`` plus ``"logStreamName"``
      (``<interface-id>-all``, or the frame's ``log_stream``) when known; the timestamp is
      the frame's ``event_timestamp`` if it has one, else the record's start. Events do
      not carry their format: read them back with ``read(events, format=...)`` (the same
      fields) unless they are in the default format; ``read`` adds the ``log_stream`` and
      ``event_timestamp`` columns.

    ``format`` (a format string or AWS names) chooses the fields and their order; by
    default every column of ``df`` that is not derived by ``read`` (``protocol_name``,
    ``tcp_flags_names``, ``traffic_path_name``, ``log_stream``, ``event_timestamp``).
    """
    fields = parse_format(format) if format is not None else fields_of_frame(df)
    if destination is None or destination == "cloudwatch":
        return cloudwatch_events(df, fields)
    path = Path(destination)
    name = path.name.lower()
    if name.endswith(".parquet"):
        data = parquet_object(df, fields)
    elif name.endswith(".gz"):
        data = text_object(df, fields, compress=True)
    elif name.endswith((".log", ".txt")):
        data = text_object(df, fields, compress=False)
    else:
        raise ValueError(
            f"write: cannot tell the format of {path.name!r}; end the name in .log, .log.gz or "
            ".parquet, or pass destination=None for CloudWatch Logs events"
        )
    path.write_bytes(data)
    return path


def fields_of_frame(df: pd.DataFrame) -> list[str]:
    """The fields a frame holds, in column order (AWS names; unknown columns as they are)."""
    return [
        BY_COLUMN[c].aws_name if c in BY_COLUMN else c
        for c in df.columns
        if c not in DERIVED_COLUMNS
    ]


def cloudwatch_events(df: pd.DataFrame, fields: Sequence[str]) -> list[dict]:
    """CloudWatch Logs events for the rows of ``df`` (see :func:`write`)."""
    table = _as_table(df)
    messages = record_lines(table, fields).to_pylist()
    if "event_timestamp" in table.column_names:
        stamps = _epoch(table.column("event_timestamp"), "ms")
    elif "start" in table.column_names:
        stamps = pc.multiply(_epoch(table.column("start"), "s"), 1000)
    else:
        raise ValueError("write: CloudWatch Logs events need a timestamp: give the frame 'start'")
    if stamps.null_count:
        raise ValueError("write: a record without a start time cannot be a CloudWatch Logs event")
    if "log_stream" in table.column_names:
        streams = _plain(table.column("log_stream"))
    elif "interface_id" in table.column_names:
        streams = pc.binary_join_element_wise(
            _plain(table.column("interface_id")), CLOUDWATCH_STREAM_SUFFIX, ""
        )
    else:
        streams = None
    events = [{"timestamp": t, "message": m} for t, m in zip(stamps.to_pylist(), messages, strict=True)]
    if streams is not None:
        for event, stream in zip(events, streams.to_pylist(), strict=True):
            if stream is not None:
                event["logStreamName"] = stream
    return events


# --------------------------------------------------------------------------- helpers


def _as_table(table: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pd.DataFrame):
        columns = [c for c in table.columns if c not in NAME_COLUMNS]
        return pa.Table.from_pandas(table[columns], preserve_index=False)
    raise TypeError(f"expected a pyarrow.Table or a pandas DataFrame, not {type(table).__name__}")


def _column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    for candidate in (FIELDS[name].column if name in FIELDS else column_name(name), name):
        if candidate in table.column_names:
            return _plain(table.column(candidate))
    return None


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dictionary (categorical) columns decoded to their values."""
    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def _epoch(col: pa.ChunkedArray, unit: str) -> pa.ChunkedArray:
    """Times as integer Unix ``unit`` (timestamps converted, integers kept)."""
    if pa.types.is_timestamp(col.type):
        return col.cast(pa.timestamp(unit, tz=col.type.tz)).cast(pa.int64())
    if pa.types.is_floating(col.type):
        return col.cast(pa.int64())  # whole seconds that went through NaN; raises if not whole
    return col.cast(pa.int64())


def _text_column(table: pa.Table, name: str) -> pa.ChunkedArray | pa.Scalar:
    col = _column(table, name)
    if col is None:
        return pa.scalar(None, pa.string())
    typ = col.type
    if pa.types.is_timestamp(typ):
        col = _epoch(col, "s")
    elif pa.types.is_floating(typ):
        col = col.cast(pa.int64())
    elif pa.types.is_null(typ):
        return pa.scalar(None, pa.string())
    col = col.cast(pa.string())
    # An empty value would shift every later field: AWS writes "-" for it.
    return pc.if_else(pc.equal(pc.binary_length(col), 0), pa.scalar(None, pa.string()), col)


def _int_column(table: pa.Table, name: str) -> pa.ChunkedArray | pa.Scalar:
    col = _column(table, name)
    if col is None or pa.types.is_null(col.type):
        return pa.scalar(None, pa.int64())
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pc.if_else(pc.equal(col, MISSING), pa.scalar(None, col.type), col)
    return _epoch(col, "s")


def _newline_terminated(lines: pa.Array) -> bytes:
    """The lines as one byte string, each followed by ``\\n``, straight from Arrow's buffer."""
    if len(lines) == 0:
        return b""
    joined = pc.binary_join_element_wise(lines, "", "\n")  # "line" + "\n" + ""
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    offsets = joined.buffers()[1]
    bounds = np.frombuffer(offsets, np.int32)[joined.offset : joined.offset + len(joined) + 1]
    return joined.buffers()[2].to_pybytes()[bounds[0] : bounds[-1]]
