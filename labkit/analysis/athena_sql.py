"""Athena's SQL read offline: one query, checked, translated to DuckDB, with what it needs to read.

Athena runs Trino SQL. Offline, the same text runs on DuckDB after sqlglot translates it
(``from_unixtime`` -> ``EPOCH_MS``, ``approx_distinct`` -> ``APPROX_COUNT_DISTINCT``, ...).
What cannot be translated raises a :class:`LabError` naming the construct, never a quietly
different query. Besides the DuckDB text, a :class:`PlannedQuery` says which columns the query
reads (Athena bills the Parquet columns it reads) and which conditions on the partition
columns prune objects before anything is read, as partition projection does on Athena.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from labkit.errors import LabError

__all__ = ["PlannedQuery", "plan_query"]


@dataclass(frozen=True)
class PlannedQuery:
    """One Athena query, ready for DuckDB.

    ``duckdb_sql`` is the translated query; ``columns`` the table columns it reads (every
    column for ``SELECT *``); ``partition_filter`` a DuckDB boolean expression over the
    partition columns that every row the query can see satisfies (``None``: read them all).
    """

    duckdb_sql: str
    columns: frozenset[str]
    partition_filter: str | None


def plan_query(sql: str, table: str, table_columns: list[str], partition_columns: list[str]) -> PlannedQuery:
    """Check that ``sql`` is one SELECT over ``table`` and translate it (Athena -> DuckDB)."""
    statement = _parse_one(sql)
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper()
        raise LabError(f"offline, lab.athena runs queries (SELECT ...), not {kind}: the table "
                       f"{table} already exists; lab.athena_ddl() shows how Athena creates it live")
    references = _table_references(statement, table)
    known = set(table_columns) | set(partition_columns)
    if any(isinstance(star, exp.Star) for star in statement.find_all(exp.Star)):
        columns = frozenset(table_columns)
    else:
        columns = frozenset(c.name.lower() for c in statement.find_all(exp.Column)
                            if c.name.lower() in known) - set(partition_columns)
    partition_filter = None
    if len(references) == 1:
        partition_filter = _partition_filter(references[0], set(partition_columns))
    statement = statement.transform(_from_unixtime_in_milliseconds)
    try:
        duckdb_sql = statement.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise LabError(f"this Athena SQL has no DuckDB equivalent, so it cannot run offline: {error}. "
                       "Rewrite that part, or run it on Athena (live mode)") from None
    return PlannedQuery(duckdb_sql, columns, partition_filter)


def _from_unixtime_in_milliseconds(node: exp.Expression) -> exp.Expression:
    """``from_unixtime(x)`` is a timestamp(3) in UTC on Athena. DuckDB's own translation, a
    TIMESTAMPTZ, goes through the ICU calendar in every ``date_trunc``; a plain timestamp of
    the same milliseconds (the session's zone is UTC) is the same instant, three times faster."""
    if isinstance(node, exp.UnixToTime) and any(node.args.get(a) for a in ("zone", "hours", "minutes")):
        # sqlglot writes DuckDB's TO_TIMESTAMP(x) and drops the zone: a quietly different answer.
        raise LabError("from_unixtime with a time zone or offset cannot run offline (DuckDB's "
                       "translation would drop the zone): keep times in UTC offline, or run it on "
                       "Athena (live mode)")
    if isinstance(node, exp.AtTimeZone):
        # DuckDB reads a plain timestamp AT TIME ZONE as local time there, Athena converts the
        # instant: the same SQL, another answer.
        raise LabError("AT TIME ZONE cannot run offline (DuckDB would read the UTC time as local "
                       "time in that zone): keep times in UTC offline, or run it on Athena (live mode)")
    if isinstance(node, exp.UnixToTime) and not any(node.args.get(a) for a in ("scale", "format")):
        millis = exp.cast(exp.Mul(this=exp.Paren(this=node.this.copy()), expression=exp.Literal.number(1000)),
                          "BIGINT")
        return exp.Anonymous(this="EPOCH_MS", expressions=[millis])
    return node


def _parse_one(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = f" (line {first.get('line')}, column {first.get('col')})" if first else ""
        raise LabError(f"Athena's SQL could not be parsed{where}: {first.get('description', error)}"
                       ) from None
    if len(statements) != 1:
        raise LabError(f"lab.athena runs one statement at a time, not {len(statements)}")
    return statements[0]


def _table_references(statement: exp.Expression, table: str) -> list[exp.Table]:
    """Every reference to ``table``; any other table (not a WITH name) is refused."""
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    references = []
    for ref in statement.find_all(exp.Table):
        name = ref.name.lower()
        if name == table:
            references.append(ref)
        elif name not in ctes:
            full = ".".join(p for p in (ref.db, ref.name) if p)
            raise LabError(f"offline there is one table, {table}: {full!r} does not exist here")
    return references


def _partition_filter(reference: exp.Table, partitions: set[str]) -> str | None:
    """The conditions of the WHERE around the one table reference that name only partition
    columns, AND-ed, as DuckDB SQL. Only AND-ed conditions of that SELECT prune: anything
    under OR, NOT or a subquery could also admit other partitions."""
    select = reference.find_ancestor(exp.Select)
    source = select.args.get("from_") if select is not None else None
    if source is None or source.this is not reference or select.args.get("joins"):
        return None
    where = select.args.get("where")
    if where is None:
        return None
    names = {"", reference.name.lower(), reference.alias_or_name.lower()}
    kept = [c for c in _conjuncts(where.this) if _only_partitions(c, partitions, names)]
    if not kept:
        return None
    return " AND ".join(f"({c.sql(dialect='duckdb')})" for c in kept)


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    if isinstance(condition, exp.And):
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    return [condition]


def _only_partitions(condition: exp.Expression, partitions: set[str], names: set[str]) -> bool:
    if condition.find(exp.Select, exp.Subquery) is not None:
        return False
    columns = list(condition.find_all(exp.Column))
    return bool(columns) and all(c.name.lower() in partitions and c.table.lower() in names for c in columns)
