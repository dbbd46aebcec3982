"""Vectorised Logs Insights expressions: operators and scalar functions over columns.

Values are :class:`~labkit.logsinsights.values.Val` columns. String work on a
categorical column (the discovered ``srcAddr``, ``action``, ...) is done once per
distinct value and mapped back through the codes, which is what makes ``like``,
``isIpv4InSubnet`` and friends cheap on a million events.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from labkit.logsinsights.linear_regex import LinearRegex
from labkit.logsinsights.values import Val, format_value, is_cat

# ---------------------------------------------------------------- helpers

# per_value applies its function to at most this many distinct values per call (see there).
_SLICE = 65_536


def per_value(s: pd.Series, func: Callable[[pd.Series], np.ndarray], fill) -> np.ndarray:
    """Apply ``func`` to the distinct values of ``s`` and broadcast the answers back.

    ``func`` gets a Series of the non-null distinct values (object dtype) and returns an
    array of the same length; rows whose value is missing get ``fill``.
    """
    if is_cat(s):
        uniques = pd.Series(np.asarray(s.cat.categories, dtype=object))
        codes = s.cat.codes.to_numpy()
    else:
        codes, u = pd.factorize(s, use_na_sentinel=True)
        uniques = pd.Series(np.asarray(u, dtype=object))
    if len(uniques) == 0:
        return np.full(len(s), fill, dtype=object if fill is None else None)
    if len(uniques) <= _SLICE:
        res = np.asarray(func(uniques))
    else:  # in slices: one C call over a million values would hold the GIL, stalling other threads
        res = np.concatenate([np.asarray(func(uniques.iloc[i:i + _SLICE].reset_index(drop=True)))
                              for i in range(0, len(uniques), _SLICE)])
    out = res[np.clip(codes, 0, None)]
    missing = codes < 0
    if missing.any():
        if fill is None:
            if out.dtype.kind in "iub":
                out = out.astype(float)
            if out.dtype.kind == "f":
                out[missing] = np.nan
            else:
                out = out.astype(object)
                out[missing] = None
        else:
            out[missing] = fill
    return out


def to_num(v: Val, n: int) -> np.ndarray:
    """Numeric view of a column: numbers as they are, numeric-looking strings parsed."""
    if v.is_scalar:
        x = v.scalar
        if isinstance(x, str):
            try:
                x = float(x)
            except ValueError:
                x = np.nan
        elif x is None:
            x = np.nan
        return np.full(n, float(x))
    if v.kind in ("num", "time"):
        return v.s.to_numpy(dtype=np.float64, na_value=np.nan)
    if v.kind == "bool":
        return v.s.to_numpy(dtype=np.float64)
    return per_value(v.s, lambda u: pd.to_numeric(u, errors="coerce").to_numpy(dtype=float), np.nan).astype(
        np.float64
    )


def to_str(v: Val, n: int) -> pd.Series:
    """String view of a column (object dtype, None for missing)."""
    if v.is_scalar:
        val = None if v.scalar is None else format_value(v.scalar, v.kind)
        return pd.Series([val] * n, dtype=object)
    if v.kind == "str":
        if is_cat(v.s):
            return v.s.astype(object).where(v.s.notna(), None)
        return v.s.astype(object).where(v.s.notna(), None)
    return pd.Series([None if pd.isna(x) else format_value(x, v.kind) for x in v.s], dtype=object)


def notnull(v: Val, n: int) -> np.ndarray:
    if v.is_scalar:
        return np.full(n, v.scalar is not None)
    if v.kind == "bool":
        return np.ones(n, dtype=bool)
    return v.s.notna().to_numpy()


def bool_of(v: Val, n: int) -> np.ndarray:
    if v.is_scalar:
        return np.full(n, bool(v.scalar) if v.scalar is not None else False)
    if v.kind == "bool":
        return v.s.to_numpy(dtype=bool)
    if v.kind in ("num", "time"):
        x = v.s.to_numpy(dtype=float, na_value=np.nan)
        return np.nan_to_num(x, nan=0.0) != 0
    return v.s.notna().to_numpy() & (v.s.astype(object) != "").to_numpy()


def boolean(a: np.ndarray) -> Val:
    return Val(pd.Series(np.asarray(a, dtype=bool)), "bool")


def number(a: np.ndarray, kind: str = "num") -> Val:
    return Val(pd.Series(np.asarray(a, dtype=np.float64)), kind)


def strings(s: pd.Series) -> Val:
    return Val(s.reset_index(drop=True), "str")


# ---------------------------------------------------------------- operators

_NUM_OPS = {
    "=": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _looks_numeric(x) -> bool:
    if isinstance(x, int | float) and not isinstance(x, bool):
        return True
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def compare(op: str, a: Val, b: Val, n: int) -> Val:
    """``= != < <= > >=`` with Logs Insights' rule: numbers compare as numbers."""
    numeric_side = a.kind in ("num", "time") or b.kind in ("num", "time")
    if not numeric_side and a.is_scalar and b.is_scalar:
        return boolean(np.full(n, _cmp_scalar(op, a.scalar, b.scalar)))
    if numeric_side:
        x, y = to_num(a, n), to_num(b, n)
        with np.errstate(invalid="ignore"):
            res = _NUM_OPS[op](x, y)
        res &= ~(np.isnan(x) | np.isnan(y))
        return boolean(res)
    # string against string (or string literal)
    if b.is_scalar or a.is_scalar:
        col, lit, flip = (a, b.scalar, False) if b.is_scalar else (b, a.scalar, True)
        eff = _flip(op) if flip else op
        lit_num = _looks_numeric(lit)

        def fn(u: pd.Series) -> np.ndarray:
            return _cmp_values(eff, u, lit, lit_num)

        return boolean(per_value(col.s, fn, False))
    # two string columns: numeric where both sides are numbers, else as strings
    xs, ys = to_str(a, n), to_str(b, n)
    xn, yn = to_num(a, n), to_num(b, n)
    both = ~(np.isnan(xn) | np.isnan(yn))
    with np.errstate(invalid="ignore"):
        num_res = _NUM_OPS[op](xn, yn)
    present = xs.notna().to_numpy() & ys.notna().to_numpy()
    str_res = np.zeros(n, dtype=bool)
    if present.any():
        sx = xs[present].astype(str).to_numpy()
        sy = ys[present].astype(str).to_numpy()
        str_res[present] = _NUM_OPS[op](sx, sy)
    return boolean(np.where(both, num_res, str_res & present))


def _flip(op: str) -> str:
    return {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)


def _cmp_scalar(op, x, y) -> bool:
    if x is None or y is None:
        return False
    if _looks_numeric(x) and _looks_numeric(y):
        return bool(_NUM_OPS[op](float(x), float(y)))
    return bool(_NUM_OPS[op](str(x), str(y)))


def _cmp_values(op: str, u: pd.Series, lit, lit_num: bool) -> np.ndarray:
    if op in ("=", "!=") and not lit_num:
        eq = (u.astype(str) == str(lit)).to_numpy()
        return eq if op == "=" else ~eq
    if lit_num:
        un = pd.to_numeric(u, errors="coerce").to_numpy(dtype=float)
        isnum = ~np.isnan(un)
        with np.errstate(invalid="ignore"):
            res = _NUM_OPS[op](un, float(lit))
        if op in ("=", "!="):
            # non-numeric strings: compare as text
            eq = (u.astype(str) == str(lit)).to_numpy()
            text = eq if op == "=" else ~eq
            return np.where(isnum, res, text)
        text = _NUM_OPS[op](u.astype(str).to_numpy(), str(lit))
        return np.where(isnum, res, text)
    return _NUM_OPS[op](u.astype(str).to_numpy(), str(lit))


def arith(op: str, a: Val, b: Val, n: int) -> Val:
    x, y = to_num(a, n), to_num(b, n)
    with np.errstate(all="ignore"):
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            r = np.where(y == 0, np.nan, x / np.where(y == 0, 1, y))
        elif op == "%":
            r = np.where(y == 0, np.nan, np.fmod(x, np.where(y == 0, 1, y)))
        elif op == "^":
            r = np.power(x, y)
        else:  # pragma: no cover - grammar only produces the above
            raise ValueError(op)
    kind = "time" if (a.kind == "time") != (b.kind == "time") and op in "+-" else "num"
    return number(r, kind)


def like(v: Val, pattern: str, regex: LinearRegex | None, n: int) -> np.ndarray:
    """``like``: a regex search (RE2, linear time) when ``regex`` is given, else a substring test."""
    if v.is_scalar:
        if v.scalar is None:
            return np.zeros(n, dtype=bool)
        s = str(v.scalar)
        return np.full(n, regex.search(s) if regex is not None else pattern in s)
    s = v.s if v.kind == "str" else to_str(v, n)
    if regex is not None:

        def fn(u: pd.Series) -> np.ndarray:
            return regex.search_many(u.astype(str).tolist())
    else:

        def fn(u: pd.Series) -> np.ndarray:
            return u.astype(str).str.contains(pattern, regex=False).to_numpy(dtype=bool)

    return per_value(s, fn, False).astype(bool)


# ---------------------------------------------------------------- IP helpers


def _ipv4_int(u: pd.Series) -> np.ndarray:
    """Dotted-quad strings to uint32 (as int64); -1 where not a valid IPv4 address."""
    s = u.astype(str)
    ok = s.str.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})").to_numpy(dtype=bool)
    out = np.full(len(s), -1, dtype=np.int64)
    if ok.any():
        parts = s[ok].str.split(".", expand=True).astype(np.int64).to_numpy()
        good = (parts <= 255).all(axis=1)
        vals = (parts[:, 0] << 24) | (parts[:, 1] << 16) | (parts[:, 2] << 8) | parts[:, 3]
        idx = np.flatnonzero(ok)
        out[idx[good]] = vals[good]
    return out


def _valid_ip(u: pd.Series, version: int | None) -> np.ndarray:
    out = np.zeros(len(u), dtype=bool)
    for i, x in enumerate(u.astype(str)):
        try:
            ip = ipaddress.ip_address(x)
        except ValueError:
            continue
        out[i] = version is None or ip.version == version
    return out


def _in_subnet(v: Val, cidr: str, n: int, version: int | None) -> np.ndarray:
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return np.zeros(n, dtype=bool)
    if version is not None and net.version != version:
        return np.zeros(n, dtype=bool)
    s = v.s if (not v.is_scalar and v.kind == "str") else to_str(v, n)
    if net.version == 4:
        lo = int(net.network_address)
        mask = int(net.netmask)

        def fn(u: pd.Series) -> np.ndarray:
            ints = _ipv4_int(u)
            return (ints >= 0) & ((ints & mask) == lo)
    else:

        def fn(u: pd.Series) -> np.ndarray:
            out = np.zeros(len(u), dtype=bool)
            for i, x in enumerate(u.astype(str)):
                try:
                    out[i] = ipaddress.ip_address(x) in net
                except ValueError:
                    pass
            return out

    return per_value(s, fn, False).astype(bool)


# ---------------------------------------------------------------- time helpers


def floor_period(ms: np.ndarray, dur) -> np.ndarray:
    """Floor epoch milliseconds to a period (fixed length, or calendar month/quarter/year)."""
    if dur.unit == "fixed":
        p = float(dur.ms)
        return np.floor(ms / p) * p
    valid = ~np.isnan(ms)
    out = np.full(len(ms), np.nan)
    if valid.any():
        t = pd.to_datetime(ms[valid].astype(np.int64), unit="ms")
        freq = {"month": "M", "quarter": "Q", "year": "Y"}[dur.unit]
        start = t.to_period(freq).start_time
        out[valid] = start.as_unit("ms").asi8.astype(float)
    return out


def ceil_period(ms: np.ndarray, dur) -> np.ndarray:
    fl = floor_period(ms, dur)
    if dur.unit == "fixed":
        return np.where(fl == ms, ms, fl + dur.ms)
    valid = ~np.isnan(ms)
    out = np.full(len(ms), np.nan)
    if valid.any():
        t = pd.to_datetime(ms[valid].astype(np.int64), unit="ms")
        freq = {"month": "M", "quarter": "Q", "year": "Y"}[dur.unit]
        end = (t.to_period(freq) + 1).start_time.as_unit("ms").asi8.astype(float)
        out[valid] = np.where(fl[valid] == ms[valid], ms[valid], end)
    return out


# ---------------------------------------------------------------- scalar functions


def _str_map(v: Val, n: int, fn: Callable[[pd.Series], pd.Series]) -> Val:
    s = v.s if (not v.is_scalar and v.kind == "str") else to_str(v, n)
    res = per_value(s, lambda u: np.asarray(fn(u.astype(str)), dtype=object), None)
    return strings(pd.Series(res, dtype=object))


def _trim(side: str, args: list[Val], n: int) -> Val:
    chars = None
    if len(args) > 1:
        chars = args[1].scalar if args[1].is_scalar else None

    def fn(u):
        return getattr(u.str, side)(chars)

    return _str_map(args[0], n, fn)


def call_scalar(name: str, args: list[Val], n: int, node) -> Val:
    a = args[0] if args else None
    if name == "abs":
        return number(np.abs(to_num(a, n)))
    if name == "ceil":
        return number(np.ceil(to_num(a, n)))
    if name == "floor":
        return number(np.floor(to_num(a, n)))
    if name == "sqrt":
        with np.errstate(invalid="ignore"):
            return number(np.sqrt(to_num(a, n)))
    if name == "log":
        with np.errstate(all="ignore"):
            return number(np.log(to_num(a, n)))
    if name in ("greatest", "least"):
        stack = np.vstack([to_num(x, n) for x in args])
        with np.errstate(all="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                r = np.nanmax(stack, axis=0) if name == "greatest" else np.nanmin(stack, axis=0)
        return number(r)
    if name == "ispresent":
        return boolean(notnull(a, n))
    if name in ("isempty", "isblank"):
        s = to_str(a, n)
        nn = s.notna().to_numpy()
        txt = s.fillna("").astype(str)
        if name == "isblank":
            txt = txt.str.strip()
        return boolean(~nn | (txt == "").to_numpy())
    if name == "coalesce":
        kinds = {x.kind for x in args}
        if kinds <= {"num"} or kinds <= {"time"}:
            out = to_num(args[0], n).copy()
            for x in args[1:]:
                miss = np.isnan(out)
                if not miss.any():
                    break
                out[miss] = to_num(x, n)[miss]
            return number(out, args[0].kind)
        out = to_str(args[0], n)
        for x in args[1:]:
            miss = out.isna()
            if not miss.any():
                break
            out = out.where(~miss, to_str(x, n))
        return strings(out)
    if name == "concat":
        parts = [to_str(x, n).fillna("").astype(str) for x in args]
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return strings(out.astype(object))
    if name == "strlen":
        s = to_str(a, n)
        return number(per_value(s, lambda u: u.astype(str).str.len().to_numpy(dtype=float), np.nan))
    if name == "tolower":
        return _str_map(a, n, lambda u: u.str.lower())
    if name == "toupper":
        return _str_map(a, n, lambda u: u.str.upper())
    if name == "trim":
        return _trim("strip", args, n)
    if name == "ltrim":
        return _trim("lstrip", args, n)
    if name == "rtrim":
        return _trim("rstrip", args, n)
    if name == "substr":
        start = int(args[1].scalar) if args[1].is_scalar else 0
        length = int(args[2].scalar) if len(args) > 2 and args[2].is_scalar else None
        end = None if length is None else start + length
        return _str_map(a, n, lambda u: u.str.slice(start, end))
    if name == "replace":
        old = str(args[1].scalar)
        new = str(args[2].scalar)
        return _str_map(a, n, lambda u: u.str.replace(old, new, regex=False))
    if name == "strcontains":
        sub = str(args[1].scalar)
        return number(like(a, sub, None, n).astype(float))
    if name in ("isvalidip", "isvalidipv4", "isvalidipv6"):
        ver = {"isvalidip": None, "isvalidipv4": 4, "isvalidipv6": 6}[name]
        s = to_str(a, n)
        return boolean(per_value(s, lambda u: _valid_ip(u, ver), False).astype(bool))
    if name in ("isipinsubnet", "isipv4insubnet", "isipv6insubnet"):
        ver = {"isipinsubnet": None, "isipv4insubnet": 4, "isipv6insubnet": 6}[name]
        cidr = args[1].scalar if args[1].is_scalar else None
        if cidr is None:
            return boolean(np.zeros(n, dtype=bool))
        return boolean(_in_subnet(a, cidr, n, ver))
    if name == "frommillis":
        return number(to_num(a, n), "time")
    if name == "tomillis":
        return number(to_num(a, n), "num")
    raise ValueError(f"Unknown function: {name}")  # pragma: no cover - parser rejects it
