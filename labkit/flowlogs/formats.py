"""Flow-log format strings: ``"${version} ${account-id} ..."`` <-> lists of field names."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from labkit.flowlogs.fields import BY_COLUMN, DEFAULT_FIELDS, FIELDS, LAB_FIELDS

DEFAULT_FORMAT = " ".join(f"${{{name}}}" for name in DEFAULT_FIELDS)
"""The version 2 default format, as ``CreateFlowLogs`` would show it."""

LAB_FORMAT = " ".join(f"${{{name}}}" for name in LAB_FIELDS)
"""The lab's custom format: the v2 fields plus v3-v5 fields the notebooks look at."""

_TOKEN = re.compile(r"^\$\{([^${}\s]+)\}$")
_BARE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def parse_format(fmt: str | Iterable[str], strict: bool = False) -> list[str]:
    """Field names (AWS spelling) of a format string, a header line or a list of names.

    ``"${version} ${srcaddr}"``, ``"version srcaddr"`` and ``["version", "srcaddr"]``
    all give ``["version", "srcaddr"]``; snake_case names are turned back into the
    AWS spelling when the field is known. With ``strict=True`` an unknown field
    raises ``ValueError`` naming it (``${no-such-field}``), as AWS refuses it in
    ``CreateFlowLogs``; otherwise unknown fields are kept (parsed as text).
    """
    tokens = fmt.split() if isinstance(fmt, str) else [str(t).strip() for t in fmt]
    if not tokens:
        raise ValueError("empty flow-log format: give at least one ${field}")
    names: list[str] = []
    for token in tokens:
        m = _TOKEN.match(token)
        if m:
            name = m.group(1)
        elif _BARE.match(token):
            name = token
        else:
            raise ValueError(
                f"flow-log format: {token!r} is not a field; write fields as ${{field-name}}"
            )
        if name not in FIELDS and name in BY_COLUMN:
            name = BY_COLUMN[name].aws_name
        if strict and name not in FIELDS:
            raise ValueError(
                f"Unknown fields provided: ${{{name}}} is not a flow-log field "
                f"(known: versions 2-8, see labkit.flowlogs.FIELDS)"
            )
        names.append(name)
    return names


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:  # NaN
        return "-"
    if isinstance(value, _dt.datetime):
        return str(int(value.timestamp()))
    if hasattr(value, "timestamp") and hasattr(value, "tz"):  # pandas Timestamp
        return str(int(value.timestamp()))
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return "-"
    except ImportError:  # pragma: no cover
        pass
    text = str(value)
    return text if text else "-"


def format_record(fields: str | Iterable[str], values: Mapping[str, Any]) -> str:
    """One flow-log record line in the order of ``fields`` (a format string or names).

    ``values`` is keyed by AWS names (``"log-status"``) or column names
    (``"log_status"``); a missing key or None is written as ``-``, as AWS does.
    """
    names = parse_format(fields)
    out = []
    for name in names:
        field = FIELDS.get(name)
        if name in values:
            value = values[name]
        elif field is not None and field.column in values:
            value = values[field.column]
        else:
            value = None
        out.append(_text(value))
    return " ".join(out)
