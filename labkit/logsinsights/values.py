"""The value columns a query works on, and how Logs Insights writes a value as text.

Shared by the event table (which builds columns), the functions (which compute them)
and the engine (which returns them), so that those three import this module and never
each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


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
        """True for a literal (one value for every row), False for a column."""
        return self.s is None

    def series(self, n: int) -> pd.Series:
        """The values as a Series of ``n`` rows (a scalar is repeated)."""
        if self.s is not None:
            return self.s
        if self.kind in ("num", "time"):
            v = np.nan if self.scalar is None else float(self.scalar)
            return pd.Series(np.full(n, v, dtype=np.float64))
        if self.kind == "bool":
            return pd.Series(np.full(n, bool(self.scalar)))
        return pd.Series([self.scalar] * n, dtype=object)

    def take(self, idx: np.ndarray) -> Val:
        """The rows at positions ``idx``, in that order."""
        if self.s is None:
            return self
        return Val(self.s.take(idx).reset_index(drop=True), self.kind)


def is_cat(s: pd.Series) -> bool:
    """Whether a column is categorical (string work is then done once per category)."""
    return isinstance(s.dtype, pd.CategoricalDtype)


def format_time(ms: float) -> str:
    """AWS's result format for timestamps: ``2024-05-01 12:00:00.000`` (UTC)."""
    ms = int(ms)
    secs, milli = divmod(ms, 1000)
    t = pd.Timestamp(secs, unit="s")
    return f"{t:%Y-%m-%d %H:%M:%S}.{milli:03d}"


def format_value(v, kind: str) -> str:
    """One value as GetQueryResults writes it: whole numbers without ``.0``, booleans as 1/0."""
    if kind == "time":
        return format_time(v)
    if kind == "bool":
        return "1" if bool(v) else "0"
    if isinstance(v, bool | np.bool_):
        return "1" if v else "0"
    if isinstance(v, float | np.floating):
        if math.isfinite(v) and float(v).is_integer() and abs(v) < 2**63:
            return str(int(v))
        return repr(float(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v)
