"""Parse Logs Insights query text into a small typed AST.

The grammar lives in ``insights.lark`` (package data). Every node keeps the exact
source text it came from, because AWS names a result column by the expression as
written (``count(*)``, ``bin(1m)``) unless it is aliased with ``as``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import lark
from lark import Lark, Token, Transformer, v_args

from labkit.logsinsights.errors import MalformedQueryError
from labkit.logsinsights.linear_regex import LinearRegex, UnsupportedRegexError, compile_linear, escape

# ---------------------------------------------------------------- AST: expressions


@dataclass(frozen=True)
class Expr:
    text: str = field(compare=False)


@dataclass(frozen=True)
class FieldRef(Expr):
    name: str


@dataclass(frozen=True)
class Literal(Expr):
    value: object  # float | str
    kind: str  # "num" | "str"


@dataclass(frozen=True)
class Duration(Expr):
    ms: int
    unit: str  # "ms", "month", "quarter", "year" or "fixed"
    count: float


@dataclass(frozen=True)
class Star(Expr):
    pass


@dataclass(frozen=True)
class Call(Expr):
    name: str  # lower-cased
    args: tuple
    pos: int = field(compare=False, default=0)


@dataclass(frozen=True)
class BinOp(Expr):
    op: str  # + - * / % ^  = != < <= > >=  and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True)
class Like(Expr):
    operand: Expr
    pattern: str
    regex: LinearRegex | None  # None: ``pattern`` is a plain substring
    negate: bool


@dataclass(frozen=True)
class In(Expr):
    operand: Expr
    items: tuple
    negate: bool


# ---------------------------------------------------------------- AST: commands


@dataclass(frozen=True)
class Item:
    expr: Expr
    name: str  # the column name: alias, field name, or the expression text
    aliased: bool


@dataclass(frozen=True)
class Fields:
    items: tuple


@dataclass(frozen=True)
class Display:
    items: tuple


@dataclass(frozen=True)
class Filter:
    expr: Expr


@dataclass(frozen=True)
class Stats:
    items: tuple
    by: tuple


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    descending: bool


@dataclass(frozen=True)
class Sort:
    keys: tuple


@dataclass(frozen=True)
class Limit:
    n: int


@dataclass(frozen=True)
class Parse:
    source: str
    regex: LinearRegex  # for a glob, one named group per "*": g0, g1, ...
    names: tuple
    glob: str | None  # the glob text for a glob parse, None for a regex parse


@dataclass(frozen=True)
class Dedup:
    fields: tuple


@dataclass(frozen=True)
class Query:
    text: str
    commands: tuple


# ---------------------------------------------------------------- what AWS has and the emulator lacks

#: Commands of AWS's query syntax ("CloudWatch Logs Insights language query syntax") the
#: emulator does not run. A query using one fails with a MalformedQueryException that
#: names it, never with a quietly different answer.
UNSUPPORTED_COMMANDS = frozenset(
    {"anomaly", "pattern", "diff", "unmask", "filterIndex", "SOURCE", "unnest", "lookup", "addtotals"}
)

#: Functions AWS has that the emulator does not compute (lower case -> AWS's spelling).
UNSUPPORTED_FUNCTIONS = {
    "jsonparse": "jsonParse",
    "jsonstringify": "jsonStringify",
    "unmask": "unmask",
    "rate": "rate",
    "count_over_time": "count_over_time",
    "sum_over_time": "sum_over_time",
    "histogram": "histogram",
}

# The first word of each command: at the start of the query or after a "|" (comments
# skipped). Only consulted for a query that did not parse, so a "|" inside a string can
# at worst change which error such a query gets.
_COMMAND_START = re.compile(r"(?:\A|\|)(?:\s|#[^\n]*)*([A-Za-z]+)(?![A-Za-z0-9_])")

# ---------------------------------------------------------------- function catalogue

#: aggregate functions -> (min args, max args); only allowed inside ``stats``
AGGREGATES = {
    "count": (0, 1),
    "count_distinct": (1, 1),
    "sum": (1, 1),
    "avg": (1, 1),
    "min": (1, 1),
    "max": (1, 1),
    "pct": (2, 2),
    "percentile": (2, 2),
    "stddev": (1, 1),
    "earliest": (1, 1),
    "latest": (1, 1),
    "sortsfirst": (1, 1),
    "sortslast": (1, 1),
}

#: scalar functions -> (min args, max args or None for variadic)
SCALARS = {
    "abs": (1, 1),
    "ceil": (1, 1),
    "floor": (1, 1),
    "sqrt": (1, 1),
    "log": (1, 1),
    "greatest": (1, None),
    "least": (1, None),
    "ispresent": (1, 1),
    "isempty": (1, 1),
    "isblank": (1, 1),
    "coalesce": (1, None),
    "concat": (1, None),
    "strlen": (1, 1),
    "tolower": (1, 1),
    "toupper": (1, 1),
    "trim": (1, 2),
    "ltrim": (1, 2),
    "rtrim": (1, 2),
    "substr": (2, 3),
    "replace": (3, 3),
    "strcontains": (2, 2),
    "isvalidip": (1, 1),
    "isvalidipv4": (1, 1),
    "isvalidipv6": (1, 1),
    "isipinsubnet": (2, 2),
    "isipv4insubnet": (2, 2),
    "isipv6insubnet": (2, 2),
    "bin": (1, 1),
    "datefloor": (2, 2),
    "dateceil": (2, 2),
    "frommillis": (1, 1),
    "tomillis": (1, 1),
}

_UNIT_MS = {
    "ms": 1,
    "msec": 1,
    "s": 1000,
    "sec": 1000,
    "second": 1000,
    "m": 60_000,
    "min": 60_000,
    "minute": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "hour": 3_600_000,
    "d": 86_400_000,
    "day": 86_400_000,
    "w": 7 * 86_400_000,
    "week": 7 * 86_400_000,
}
_UNIT_CALENDAR = {
    "mo": "month",
    "mon": "month",
    "month": "month",
    "q": "quarter",
    "qtr": "quarter",
    "quarter": "quarter",
    "y": "year",
    "yr": "year",
    "year": "year",
}


def _duration(text: str) -> Duration:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text)
    assert m is not None
    count = float(m.group(2) and m.group(1))
    unit = m.group(2)
    if unit not in _UNIT_MS and unit not in _UNIT_CALENDAR and unit.endswith("s"):
        unit = unit[:-1]
    if unit in _UNIT_CALENDAR:
        return Duration(text, ms=0, unit=_UNIT_CALENDAR[unit], count=count)
    return Duration(text, ms=int(count * _UNIT_MS[unit]), unit="fixed", count=count)


def _unquote(tok: str) -> str:
    body = tok[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _glob_regex(glob: str) -> LinearRegex:
    """AWS ``parse`` glob: each ``*`` captures (lazily; a trailing ``*`` takes the rest)."""
    parts = glob.split("*")
    out = ["(?s)"]
    for i, lit in enumerate(parts):
        out.append(escape(lit))
        if i < len(parts) - 1:
            last = i == len(parts) - 2 and parts[-1] == ""
            out.append(f"(?P<g{i}>.*)" if last else f"(?P<g{i}>.*?)")
    return compile_linear("".join(out))


# ---------------------------------------------------------------- lark -> AST


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("labkit.logsinsights").joinpath("insights.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


class _Build(Transformer):
    def __init__(self, text: str):
        super().__init__()
        self.src = text

    def _text(self, meta) -> str:
        return self.src[meta.start_pos : meta.end_pos]

    # ---- atoms
    def number(self, children):
        (tok,) = children
        return Literal(str(tok), value=float(tok), kind="num")

    def string(self, children):
        (tok,) = children
        return Literal(str(tok), value=_unquote(tok), kind="str")

    def field_name(self, children):
        (tok,) = children
        name = str(tok)
        if tok.type == "BQNAME":
            name = name[1:-1]
        return name

    @v_args(meta=True)
    def field(self, meta, children):
        (name,) = children
        return FieldRef(self._text(meta), name=name)

    def alias(self, children):
        return children[0]

    def star(self, children):
        return Star("*")

    def duration(self, children):
        return _duration(str(children[0]))

    @v_args(meta=True)
    def func_call(self, meta, children):
        name_tok, *args = children
        args = tuple(a for a in args if a is not None)
        return Call(self._text(meta), name=str(name_tok).lower(), args=args, pos=name_tok.start_pos)

    # ---- operators
    @v_args(meta=True)
    def arith(self, meta, children):
        left, op, right = children
        return BinOp(self._text(meta), op=str(op), left=left, right=right)

    @v_args(meta=True)
    def compare(self, meta, children):
        left, op, right = children
        return BinOp(self._text(meta), op=str(op), left=left, right=right)

    @v_args(meta=True)
    def and_(self, meta, children):
        return BinOp(self._text(meta), op="and", left=children[0], right=children[1])

    @v_args(meta=True)
    def or_(self, meta, children):
        return BinOp(self._text(meta), op="or", left=children[0], right=children[1])

    @v_args(meta=True)
    def not_(self, meta, children):
        return Not(self._text(meta), operand=children[0])

    @v_args(meta=True)
    def neg(self, meta, children):
        operand = children[0]
        if isinstance(operand, Literal) and operand.kind == "num":
            return Literal(self._text(meta), value=-operand.value, kind="num")
        return Neg(self._text(meta), operand=operand)

    def _regex(self, tok: Token) -> LinearRegex:
        """A ``/regex/flags`` literal compiled on RE2, or a MalformedQueryError naming the problem."""
        text = str(tok)
        end = text.rfind("/")
        body, flags = text[1:end], text[end + 1 :]
        unknown = sorted(set(flags) - {"i"})
        if unknown:
            raise _error(self.src, tok.start_pos, f"Unsupported regex flag {unknown[0]!r}", tok.end_pos)
        if "i" in flags:
            body = f"(?i){body}"
        try:
            return compile_linear(body)
        except UnsupportedRegexError as exc:
            raise _error(self.src, tok.start_pos, str(exc), tok.end_pos) from None

    def pattern(self, children):
        (tok,) = children
        if tok.type == "REGEX":
            rx = self._regex(tok)
            return rx.pattern, rx
        return _unquote(tok), None

    def _like(self, meta, children, negate):
        operand = children[0]
        pattern, regex = children[-1]
        return Like(self._text(meta), operand=operand, pattern=pattern, regex=regex, negate=negate)

    @v_args(meta=True)
    def like(self, meta, children):
        return self._like(meta, children, False)

    @v_args(meta=True)
    def not_like(self, meta, children):
        return self._like(meta, children, True)

    def list(self, children):
        return tuple(c for c in children if c is not None)

    @v_args(meta=True)
    def in_(self, meta, children):
        return In(self._text(meta), operand=children[0], items=children[1], negate=False)

    @v_args(meta=True)
    def not_in(self, meta, children):
        return In(self._text(meta), operand=children[0], items=children[1], negate=True)

    # ---- commands
    def item(self, children):
        expr, alias = children
        if alias is not None:
            return Item(expr, alias, True)
        name = expr.name if isinstance(expr, FieldRef) else expr.text
        return Item(expr, name, False)

    def fields_cmd(self, children):
        return Fields(tuple(children))

    def display_cmd(self, children):
        return Display(tuple(children))

    def filter_cmd(self, children):
        return Filter(children[0])

    def stats_cmd(self, children):
        *items, by = children
        return Stats(tuple(items), tuple(by or ()))

    def by_list(self, children):
        return tuple(children)

    def sort_key(self, children):
        expr, order = children
        return SortKey(expr, descending=(order is not None and str(order) == "desc"))

    def sort_cmd(self, children):
        return Sort(tuple(children))

    def limit_cmd(self, children):
        return Limit(int(children[0]))

    def parse_glob(self, children):
        source, glob_tok, *names = children
        glob = _unquote(glob_tok)
        if glob.count("*") != len(names):
            raise _error(
                self.src,
                glob_tok.start_pos,
                f"parse pattern has {glob.count('*')} wildcards but {len(names)} field names",
                glob_tok.end_pos,
            )
        src = source.name if source is not None else "@message"
        return Parse(src, _glob_regex(glob), tuple(names), glob)

    def parse_regex(self, children):
        source, tok = children
        rx = self._regex(tok)
        src = source.name if source is not None else "@message"
        return Parse(src, rx, rx.group_names, None)

    def dedup_cmd(self, children):
        return Dedup(tuple(c.name for c in children))

    def start(self, children):
        return tuple(children)


def _syntax_error(text: str, e: lark.exceptions.LarkError) -> MalformedQueryError:
    if isinstance(e, lark.exceptions.UnexpectedToken):
        tok: Token = e.token
        if tok.type == "$END":
            return _error(text, len(text), "unexpected end of query")
        return _error(text, tok.start_pos, f"unexpected symbol found {tok!s}", tok.end_pos)
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        pos = e.pos_in_stream
        return _error(text, pos, f"unexpected symbol found {text[pos]}", pos + 1)
    return _error(text, len(text), "unexpected end of query")


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _error(text: str, pos: int, message: str, end: int | None = None) -> MalformedQueryError:
    line, col = _position(text, pos)
    return MalformedQueryError(
        f"{message} at line {line} and position {col}",
        line,
        col,
        start_char_offset=pos,
        end_char_offset=end if end is not None else pos,
    )


def _unsupported_command(text: str) -> MalformedQueryError | None:
    """The error for a query that starts a command AWS has and the emulator lacks, if it does."""
    for m in _COMMAND_START.finditer(text):
        if m.group(1) in UNSUPPORTED_COMMANDS:
            pos = m.start(1)
            return _error(
                text, pos, f"{m.group(1)} is not supported by the offline emulator", pos + len(m.group(1))
            )
    return None


def parse_query(text: str) -> Query:
    """Parse a Logs Insights query; raise :class:`MalformedQueryError` if it does not parse."""
    if not isinstance(text, str) or not text.strip():
        raise MalformedQueryError("Query string is empty", 1, 1, start_char_offset=0, end_char_offset=0)
    try:
        tree = _lark().parse(text)
    except lark.exceptions.LarkError as e:
        # A command the grammar does not know: name it if it is one of AWS's
        raise (_unsupported_command(text) or _syntax_error(text, e)) from None

    try:
        commands = _Build(text).transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, MalformedQueryError):  # a regex or a parse pattern it refused
            raise e.orig_exc from None
        raise _error(text, 0, f"could not compile query: {e.orig_exc}") from None  # pragma: no cover
    query = Query(text, tuple(commands))
    _validate(query)
    return query


# ---------------------------------------------------------------- validation


def _walk(expr):
    yield expr
    for attr in ("left", "right", "operand"):
        child = getattr(expr, attr, None)
        if isinstance(child, Expr):
            yield from _walk(child)
    if isinstance(expr, Call):
        for a in expr.args:
            yield from _walk(a)
    if isinstance(expr, In):
        for a in expr.items:
            yield from _walk(a)


def _check_calls(text: str, expr: Expr, *, aggregates_ok: bool) -> None:
    for node in _walk(expr):
        if isinstance(node, Star) and node is expr:
            raise _error(text, 0, "unexpected symbol found *")
        if not isinstance(node, Call):
            continue
        name = node.name
        if name in AGGREGATES:
            if not aggregates_ok:
                raise _error(
                    text,
                    node.pos,
                    f"Aggregate function {name} is only allowed in stats",
                    node.pos + len(name),
                )
            lo, hi = AGGREGATES[name]
        elif name in SCALARS:
            lo, hi = SCALARS[name]
        elif name in UNSUPPORTED_FUNCTIONS:
            spelled = UNSUPPORTED_FUNCTIONS[name]
            raise _error(
                text, node.pos, f"{spelled} is not supported by the offline emulator", node.pos + len(name)
            )
        else:
            raise _error(text, node.pos, f"Unknown function: {name}", node.pos + len(name))
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            raise _error(
                text, node.pos, f"Wrong number of arguments for function {name}", node.pos + len(name)
            )
        for i, a in enumerate(node.args):
            if isinstance(a, Star) and not (name == "count" and i == 0):
                raise _error(text, node.pos, f"unexpected symbol found * in {name}")
            if isinstance(a, Duration) and name not in ("bin", "datefloor", "dateceil"):
                raise _error(text, node.pos, f"unexpected symbol found {a.text}")
        if name == "bin" and not isinstance(node.args[0], Duration):
            raise _error(text, node.pos, "bin() needs a time period such as 5m")
        if name in ("datefloor", "dateceil") and not isinstance(node.args[1], Duration):
            raise _error(text, node.pos, f"{name}() needs a time period such as 1h")


def _aggregates_computed_before(commands) -> set[Call]:
    """Aggregate calls that an earlier ``stats`` returned as columns (``count(*)``, ``sum(bytes)``)."""
    found: set[Call] = set()
    for cmd in commands:
        if isinstance(cmd, Stats):
            found = {it.expr for it in cmd.items if isinstance(it.expr, Call) and it.expr.name in AGGREGATES}
    return found


def _validate(query: Query) -> None:
    text = query.text
    for i, cmd in enumerate(query.commands):
        if isinstance(cmd, Fields | Display):
            for it in cmd.items:
                _check_calls(text, it.expr, aggregates_ok=False)
        elif isinstance(cmd, Filter):
            _check_calls(text, cmd.expr, aggregates_ok=False)
        elif isinstance(cmd, Stats):
            if not cmd.items:
                raise _error(text, 0, "stats needs at least one aggregate function")
            for it in cmd.items:
                _check_calls(text, it.expr, aggregates_ok=True)
                if not any(isinstance(n, Call) and n.name in AGGREGATES for n in _walk(it.expr)):
                    # allowed only if it refers to earlier aggregates by alias
                    refs = {n.name for n in _walk(it.expr) if isinstance(n, FieldRef)}
                    earlier = {x.name for x in cmd.items}
                    if not refs or not refs <= earlier:
                        raise _error(text, 0, f"stats item {it.expr.text} is not an aggregate")
            for it in cmd.by:
                _check_calls(text, it.expr, aggregates_ok=False)
        elif isinstance(cmd, Sort):
            computed = _aggregates_computed_before(query.commands[:i])
            for k in cmd.keys:
                # sorting by an aggregate means sorting by the stats column it names
                _check_calls(text, k.expr, aggregates_ok=k.expr in computed)
        elif isinstance(cmd, Dedup):
            rest = query.commands[i + 1 :]
            if any(not isinstance(c, Limit) for c in rest):
                raise _error(text, 0, "Only limit can follow dedup")
