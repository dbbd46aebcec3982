"""Fields Logs Insights discovers in JSON log events.

As "Supported logs and discovered fields" (CloudWatch Logs User Guide) describes: every
leaf of a JSON object event becomes a field, nested objects joined with dots
(``user.name``) and arrays with indices (``users.0.email``). Numbers are numbers;
``true``/``false`` and everything else are text; ``null`` is missing.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from labkit.logsinsights.values import Val


def json_fields(messages: pa.Array) -> dict[str, Val]:
    """The discovered fields of the JSON events among ``messages`` (full length, missing elsewhere)."""
    n = len(messages)
    stripped = pc.utf8_trim_whitespace(messages)
    is_json = pc.fill_null(pc.starts_with(stripped, "{"), False).to_numpy(zero_copy_only=False)
    if not is_json.any():
        return {}
    rows = np.flatnonzero(is_json)
    docs = stripped.take(pa.array(rows))
    columns = _read_with_arrow(docs)
    if columns is None:
        columns = _read_with_python(docs.to_pylist())
    return {name: _full_length(values, rows, n) for name, values in columns.items()}


def _read_with_arrow(docs: pa.Array) -> dict[str, list] | None:
    """Arrow's JSON reader: fast, but only when every event has the same shape and no arrays."""
    data = ("\n".join(pc.replace_substring(docs, "\n", " ").to_pylist()) + "\n").encode()
    try:
        table = pajson.read_json(pa.BufferReader(data))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(docs):
        return None
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    if any(pa.types.is_list(f.type) or pa.types.is_large_list(f.type) for f in table.schema):
        return None  # arrays are flattened with indices: the Python path does that
    return {name: col.to_pylist() for name, col in zip(table.column_names, table.columns, strict=True)}


def _read_with_python(docs: list[str]) -> dict[str, list]:
    columns: dict[str, list] = {}
    for i, text in enumerate(docs):
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        for name, value in _leaves(doc, ""):
            columns.setdefault(name, [None] * len(docs))[i] = value
    return columns


def _leaves(value, prefix: str):
    """(dotted name, value) for every leaf under ``value``; arrays contribute their indices."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, f"{prefix}{key}.")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, f"{prefix}{index}.")
    elif prefix:
        yield prefix[:-1], value


def _full_length(values: list, rows: np.ndarray, n: int) -> Val:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        full = np.full(n, np.nan)
        full[rows] = [np.nan if v is None else float(v) for v in values]
        return Val(pd.Series(full), "num")
    full_text = np.full(n, None, dtype=object)
    full_text[rows] = [_text(v) for v in values]
    return Val(pd.Series(full_text, dtype=object), "str")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)  # true / false / a number among text values
