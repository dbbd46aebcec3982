"""Logs Insights' sort order: AWS's "updated natural sort".

From the ``sort`` command's page (CloudWatch Logs User Guide, "sort"): in ascending
order every non-number value comes before every number value (a number value holds only
a number); non-numbers are compared chunk by chunk, a chunk being a run of digits or a
run of other characters; runs of digits compare by length first, then by value; other
runs by Unicode code point. Descending order is the exact reverse. So ``52.95.1.1``
sorts before ``172.31.5.5`` (the run ``52`` is shorter than ``172``).

The engine sorts rows by a float key per row: :func:`sort_key` ranks the distinct
values once and maps the ranks back, so a column of a million flow-log records with a
few thousand addresses costs a few thousand comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from labkit.logsinsights.functions import to_num
from labkit.logsinsights.values import Val, format_value, is_cat

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_CHUNK = re.compile(r"[0-9]+|[^0-9]+")
_MAX_CODE_POINT = 0x10FFFF


def _chunk_key(chunk: str) -> str:
    # A digit run becomes "0", its length as one code point, then its digits: against a
    # non-digit run the first character decides, as in Unicode order (a non-digit run
    # never starts with a digit); against another digit run the length decides first.
    if "0" <= chunk[0] <= "9":
        return "0" + chr(min(len(chunk), _MAX_CODE_POINT)) + chunk
    return chunk


def natural_key(value) -> tuple:
    """A key whose Python order is AWS's ascending order (``value`` as Insights prints it)."""
    text = value if isinstance(value, str) else format_value(value, "str")
    if _NUMBER.fullmatch(text):
        return (1, float(text), text)
    return (0, tuple(_chunk_key(c) for c in _CHUNK.findall(text)))


def text_ranks(values: Sequence[str]) -> np.ndarray:
    """The rank (0, 1, ...) of each value in AWS's ascending order (equal values share one)."""
    texts = list(values)
    order = sorted(range(len(texts)), key=lambda i: natural_key(texts[i]))
    ranks = np.empty(len(texts), dtype=np.float64)
    rank, previous = -1, None
    for i in order:
        if texts[i] != previous:
            rank += 1
            previous = texts[i]
        ranks[i] = rank
    return ranks


def sort_key(v: Val, n: int) -> np.ndarray:
    """A float per row that orders the rows as Logs Insights sorts this column (NaN = missing)."""
    if v.kind in ("num", "time", "bool"):
        return to_num(v, n)
    s = v.series(n)
    if is_cat(s):
        categories = [format_value(c, "str") for c in s.cat.categories]
        codes = s.cat.codes.to_numpy()
    else:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        categories = [format_value(u, "str") for u in uniques]
    if not categories:
        return np.full(n, np.nan)
    ranks = text_ranks(categories)
    return np.where(codes < 0, np.nan, ranks[np.clip(codes, 0, None)])
