"""FilterLogEvents filter patterns, compiled to a vectorised matcher.

``compile_filter_pattern(pattern)`` returns ``match(messages) -> numpy bool mask``.
Supported, as the CloudWatch Logs "Filter pattern syntax" documents it:

- empty pattern: every event;
- terms: ``ERROR Exception`` (all, case-sensitive substrings), ``"quoted phrase"``,
  ``?ERROR ?WARN`` (any), ``-DEBUG`` (none), and ``%regex%``;
- space-delimited: ``[ip, user, ..., status_code=4*, bytes>1000]`` with ``= != < <= > >=``,
  ``*`` wildcards in values, ``...`` ellipsis, ``&&``/``||`` within one field;
- JSON: ``{ $.a.b[0] = "x" && ($.n > 5 || $.c IS NULL) }``, ``NOT EXISTS``, ``IS TRUE``.

Space-delimited patterns split every message once with pyarrow and compare whole token
columns, judging each distinct token value once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from labkit.logsinsights.errors import InvalidFilterPatternError
from labkit.logsinsights.linear_regex import LinearRegex, UnsupportedRegexError, compile_linear, escape

Matcher = Callable[[pd.Series], np.ndarray]

_NUM_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_TERM_CHARS = re.compile(r"\w+")


def _invalid(msg: str = "Invalid filter pattern") -> InvalidFilterPatternError:
    return InvalidFilterPatternError(msg)


def _wildcard(value: str) -> LinearRegex:
    # RE2, like every regex built from a user's pattern: "*a*a*a*b" must not backtrack
    return compile_linear("(?s)" + ".*".join(escape(p) for p in value.split("*")))


def _arrow_strings(messages: pd.Series) -> pa.Array:
    arr = pa.array(messages.astype(object).where(messages.notna(), None), type=pa.string())
    return arr


# ---------------------------------------------------------------- value conditions


@dataclass(frozen=True)
class Cond:
    """``field OP value`` for space-delimited and JSON patterns."""

    op: str  # = != < <= > >=
    value: object  # str (may hold * wildcards) or float
    numeric: bool

    def test_values(self, u: pd.Series) -> np.ndarray:
        """Judge distinct string values (object Series)."""
        if self.numeric:
            nums = pd.to_numeric(u, errors="coerce").to_numpy(dtype=float)
            ok = ~np.isnan(nums)
            with np.errstate(invalid="ignore"):
                res = {
                    "=": nums == self.value,
                    "!=": nums != self.value,
                    "<": nums < self.value,
                    "<=": nums <= self.value,
                    ">": nums > self.value,
                    ">=": nums >= self.value,
                }[self.op]
            return res & ok
        text = u.astype(str)
        if "*" in str(self.value):
            rx = _wildcard(str(self.value))
            hit = np.fromiter((rx.fullmatch(x) for x in text), bool, len(text))
        else:
            hit = (text == self.value).to_numpy()
        return hit if self.op == "=" else ~hit

    def test_json(self, v) -> bool:
        if isinstance(v, dict | list) or v is None or isinstance(v, bool):
            return False
        if self.numeric:
            if isinstance(v, int | float):
                x = float(v)
            else:
                return False
            return {
                "=": x == self.value,
                "!=": x != self.value,
                "<": x < self.value,
                "<=": x <= self.value,
                ">": x > self.value,
                ">=": x >= self.value,
            }[self.op]
        s = v if isinstance(v, str) else json.dumps(v)
        if "*" in str(self.value):
            hit = _wildcard(str(self.value)).fullmatch(s)
        else:
            hit = s == self.value
        return hit if self.op == "=" else not hit


def _parse_value(op: str, raw: str) -> Cond:
    raw = raw.strip()
    if not raw:
        raise _invalid()
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise _invalid()
        if op not in ("=", "!="):
            raise _invalid()
        return Cond(op, raw[1:-1].replace('\\"', '"'), False)
    if _NUM_RE.fullmatch(raw):
        return Cond(op, float(raw), True)
    if op not in ("=", "!="):
        raise _invalid()
    return Cond(op, raw, False)


# ---------------------------------------------------------------- terms


def _split_terms(text: str) -> list[tuple[str, str]]:
    out = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        prefix = ""
        if text[i] in "?-":
            prefix = text[i]
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise _invalid(f"Invalid character(s) in term '{prefix}'")
        if text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise _invalid("Invalid filter pattern: unterminated quoted term")
            term = text[i + 1 : j].replace('\\"', '"')
            if term == "":
                raise _invalid("Invalid character(s) in term '\"\"'")
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            term = text[i:j]
            if not _TERM_CHARS.fullmatch(term):
                raise _invalid(f"Invalid character(s) in term '{term}'")
            i = j
        out.append((prefix, term))
    return out


def _terms_matcher(text: str) -> Matcher:
    terms = _split_terms(text)
    must = [t for p, t in terms if p == ""]
    any_ = [t for p, t in terms if p == "?"]
    none = [t for p, t in terms if p == "-"]

    def match(messages: pd.Series) -> np.ndarray:
        arr = _arrow_strings(messages)
        mask = np.ones(len(arr), dtype=bool)
        for t in must:
            mask &= pc.fill_null(pc.match_substring(arr, t), False).to_numpy(zero_copy_only=False)
        if any_:
            hit = np.zeros(len(arr), dtype=bool)
            for t in any_:
                hit |= pc.fill_null(pc.match_substring(arr, t), False).to_numpy(zero_copy_only=False)
            mask &= hit
        for t in none:
            mask &= ~pc.fill_null(pc.match_substring(arr, t), True).to_numpy(zero_copy_only=False)
        return mask

    return match


def _regex_matcher(body: str) -> Matcher:
    try:
        rx = compile_linear(body)
    except UnsupportedRegexError as exc:
        raise _invalid(str(exc)) from None

    def match(messages: pd.Series) -> np.ndarray:
        present = messages.notna().to_numpy()
        out = np.zeros(len(messages), dtype=bool)
        out[present] = rx.search_many(messages[present].astype(str).tolist())
        return out

    return match


# ---------------------------------------------------------------- space-delimited


@dataclass(frozen=True)
class Slot:
    name: str | None  # None for an ellipsis
    expr: tuple  # disjunction of conjunctions of Cond: ((c, c), (c,)) ; () = no condition


def _split_top(text: str, sep: str) -> list[str]:
    parts, cur, i, quote = [], [], 0, False
    while i < len(text):
        ch = text[i]
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quote = not quote
        if not quote and text.startswith(sep, i):
            parts.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    if quote:
        raise _invalid()
    parts.append("".join(cur))
    return parts


_COND_RE = re.compile(r"\s*([A-Za-z_$][\w$.-]*)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$", re.DOTALL)


def _parse_slot(text: str) -> Slot:
    t = text.strip()
    if t in ("...", "\u2026"):
        return Slot(None, ())
    if re.fullmatch(r"[A-Za-z_$][\w$.-]*", t):
        return Slot(t, ())
    name = None
    disj = []
    for alt in _split_top(t, "||"):
        conj = []
        for piece in _split_top(alt, "&&"):
            m = _COND_RE.match(piece)
            if not m:
                raise _invalid()
            fname, op, raw = m.groups()
            if name is None:
                name = fname
            elif fname != name:
                raise _invalid()  # && / || may only combine conditions on one field
            conj.append(_parse_value(op, raw))
        disj.append(tuple(conj))
    return Slot(name, tuple(disj))


def _slot_test(slot: Slot, u: pd.Series) -> np.ndarray:
    if not slot.expr:
        return np.ones(len(u), dtype=bool)
    out = np.zeros(len(u), dtype=bool)
    for conj in slot.expr:
        hit = np.ones(len(u), dtype=bool)
        for c in conj:
            hit &= c.test_values(u)
        out |= hit
    return out


def _tokens(messages: pd.Series) -> pa.ListArray:
    arr = _arrow_strings(messages)
    grouped = pc.fill_null(pc.match_substring_regex(arr, r'["\[]'), False)
    if not pc.any(grouped).as_py():
        out = pc.utf8_split_whitespace(arr)
        return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
    rx = re.compile(r'\[([^\]]*)\]|"((?:[^"\\]|\\.)*)"|(\S+)')
    lists = []
    for x in arr.to_pylist():
        if x is None:
            lists.append(None)
            continue
        lists.append(
            [
                a if a else (b if b else c)
                for a, b, c in ((m.group(1), m.group(2), m.group(3)) for m in rx.finditer(x))
            ]
        )
    return pa.array(lists, type=pa.list_(pa.string()))


def _judge(values: pa.Array, slot: Slot) -> np.ndarray:
    """Test one token column (one value per candidate row) against a slot, per distinct value."""
    if not slot.expr:
        return np.ones(len(values), dtype=bool)
    enc = pc.dictionary_encode(values)
    uniq = pd.Series(enc.dictionary.to_pylist(), dtype=object)
    res = _slot_test(slot, uniq) if len(uniq) else np.zeros(0, dtype=bool)
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    out = np.zeros(len(values), dtype=bool)
    ok = idx >= 0
    out[ok] = res[idx[ok]]
    return out


def _match_row(tokens: list[str], slots: list[Slot]) -> bool:
    """Per-row backtracking match (used only for patterns with several ellipses)."""

    def rec(i: int, j: int) -> bool:
        if j == len(slots):
            return i == len(tokens)
        s = slots[j]
        if s.name is None:
            return any(rec(k, j + 1) for k in range(i, len(tokens) + 1))
        if i >= len(tokens):
            return False
        return bool(_slot_test(s, pd.Series([tokens[i]], dtype=object))[0]) and rec(i + 1, j + 1)

    return rec(0, 0)


def _delimited_matcher(inner: str) -> Matcher:
    raw = _split_top(inner, ",")
    trailing_blank = len(raw) > 1 and raw[-1].strip() == ""
    if trailing_blank:
        raw = raw[:-1]  # AWS's own example ends "status_code=4*,]": one more, unnamed field
    if any(r.strip() == "" for r in raw):
        raise _invalid()
    slots = [_parse_slot(r) for r in raw]
    if trailing_blank:
        slots.append(Slot("", ()))
    ell = [i for i, s in enumerate(slots) if s.name is None]
    fixed = len(slots) - len(ell)
    lead = bool(ell) and ell[0] == 0
    trail = bool(ell) and ell[-1] == len(slots) - 1
    middle = [i for i in ell if 0 < i < len(slots) - 1]
    vectorisable = not ell or ((len(middle) == 0) or (len(middle) == 1 and not lead and not trail))
    if lead and trail and fixed:
        vectorisable = False

    def match(messages: pd.Series) -> np.ndarray:
        parts = _tokens(messages)
        n = len(parts)
        lengths = (
            pc.fill_null(pc.list_value_length(parts), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        )
        if not vectorisable:
            return np.fromiter(
                (ln >= 0 and _match_row(t, slots) for ln, t in zip(lengths, parts.to_pylist(), strict=True)),
                bool,
                n,
            )
        if not ell:
            cand = lengths == len(slots)
        else:
            cand = lengths >= fixed
        rows = np.flatnonzero(cand)
        if len(rows) == 0:
            return np.zeros(n, dtype=bool)
        flat = pc.list_flatten(parts)
        offs = parts.offsets.to_numpy()
        offs = offs - offs[0]
        start = offs[:-1][rows]
        end = start + lengths[rows]
        ok = np.ones(len(rows), dtype=bool)
        mid = middle[0] if middle else None
        for i, slot in enumerate(slots):
            if slot.name is None or not slot.expr:
                continue
            if not ell:
                pos = start + i
            elif lead and not trail:
                pos = end - (len(slots) - i)
            elif trail and not lead:
                pos = start + i
            elif mid is not None:
                pos = start + i if i < mid else end - (len(slots) - i)
            else:  # only ellipses around nothing
                continue
            sel = np.flatnonzero(ok)
            if len(sel) == 0:
                break
            vals = flat.take(pa.array(pos[sel]))
            ok[sel] = _judge(vals, slot)
        out = np.zeros(n, dtype=bool)
        out[rows[ok]] = True
        return out

    return match


# ---------------------------------------------------------------- JSON

_JSON_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<and>&&)|(?P<or>\|\|)"
    r"|(?P<sel>\$(?:\.[A-Za-z0-9_@-]+|\[\d+\])*)"
    r"|(?P<op>!=|<=|>=|=|<|>)"
    r"|(?P<kw>IS\s+NULL|IS\s+TRUE|IS\s+FALSE|NOT\s+EXISTS|EXISTS)(?![\w])"
    r'|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<word>[^\s()&|]+))"
)


def _json_tokens(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    text = text.rstrip()
    while i < len(text):
        m = _JSON_TOKEN.match(text, i)
        if not m or m.end() == i:
            raise _invalid()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        i = m.end()
    return out


def _selector_path(sel: str) -> list:
    path = []
    for m in re.finditer(r"\.([A-Za-z0-9_@-]+)|\[(\d+)\]", sel):
        path.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return path


_MISSING = object()


def _lookup(doc, path):
    cur = doc
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or p >= len(cur):
                return _MISSING
            cur = cur[p]
        else:
            if not isinstance(cur, dict) or p not in cur:
                return _MISSING
            cur = cur[p]
    return cur


def _json_matcher(inner: str) -> Matcher:
    toks = _json_tokens(inner)
    pos = 0

    def peek(kind=None):
        if pos < len(toks) and (kind is None or toks[pos][0] == kind):
            return toks[pos]
        return None

    def take(kind):
        nonlocal pos
        t = peek(kind)
        if t is None:
            raise _invalid()
        pos += 1
        return t[1]

    def p_or():
        node = p_and()
        while peek("or"):
            take("or")
            node = ("or", node, p_and())
        return node

    def p_and():
        node = p_atom()
        while peek("and"):
            take("and")
            node = ("and", node, p_atom())
        return node

    def p_atom():
        if peek("lp"):
            take("lp")
            node = p_or()
            take("rp")
            return node
        path = _selector_path(take("sel"))
        if peek("kw"):
            kw = " ".join(take("kw").split())
            return ("kw", path, kw)
        op = take("op")
        if peek("str"):
            raw = take("str")
        elif peek("word"):
            raw = take("word")
        else:
            raise _invalid()
        return ("cond", path, _parse_value(op, raw))

    tree = p_or()
    if pos != len(toks):
        raise _invalid()

    def ev(node, doc) -> bool:
        tag = node[0]
        if tag == "or":
            return ev(node[1], doc) or ev(node[2], doc)
        if tag == "and":
            return ev(node[1], doc) and ev(node[2], doc)
        v = _lookup(doc, node[1])
        if tag == "kw":
            kw = node[2]
            if kw == "NOT EXISTS":
                return v is _MISSING
            if kw == "EXISTS":
                return v is not _MISSING
            if kw == "IS NULL":
                return v is None
            return v is (kw == "IS TRUE")
        if v is _MISSING:
            return False
        return node[2].test_json(v)

    def match(messages: pd.Series) -> np.ndarray:
        # one json.loads per distinct JSON message (non-JSON messages never match)
        codes, uniq = pd.factorize(messages, use_na_sentinel=True)
        res = np.zeros(len(uniq), dtype=bool)
        for k, text in enumerate(uniq):
            if not isinstance(text, str) or not text.lstrip().startswith("{"):
                continue
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            res[k] = ev(tree, doc)
        out = np.zeros(len(messages), dtype=bool)
        ok = codes >= 0
        out[ok] = res[codes[ok]]
        return out

    return match


# ---------------------------------------------------------------- entry point


def compile_filter_pattern(pattern: str | None) -> Matcher:
    """Compile a FilterLogEvents filter pattern; raise :class:`InvalidFilterPatternError`."""
    text = (pattern or "").strip()
    if not text:
        return lambda messages: np.ones(len(messages), dtype=bool)
    if text.startswith("{"):
        if not text.endswith("}"):
            raise _invalid("If a filter pattern starts with '{' it must end with '}'")
        body = text[1:-1].strip()
        if not body:
            raise _invalid()
        return _json_matcher(body)
    if text.startswith("["):
        if not text.endswith("]"):
            raise _invalid("If a filter pattern starts with '[' it must end with ']'")
        body = text[1:-1].strip()
        if not body:
            raise _invalid()
        return _delimited_matcher(body)
    if len(text) > 1 and text.startswith("%") and text.endswith("%"):
        return _regex_matcher(text[1:-1])
    return _terms_matcher(text)
