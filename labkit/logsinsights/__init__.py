"""CloudWatch Logs Insights and FilterLogEvents filter patterns, in pure Python.

- :func:`parse_query` / :func:`run_query`: StartQuery + GetQueryResults semantics.
- :func:`compile_filter_pattern`: FilterLogEvents ``filterPattern`` as a vectorised mask.
- :class:`EventTable`: the events of a log group with discovered fields cached; keep one
  per log group and :meth:`EventTable.append` new events to it.
- :func:`natural_key`: the order of ``sort``, as a Python sort key (to sort a DataFrame the
  way Logs Insights would: ``df.sort_values(col, key=lambda s: s.map(natural_key))``).
"""

from labkit.logsinsights.engine import QueryResult, run_query
from labkit.logsinsights.errors import InvalidFilterPatternError, MalformedQueryError
from labkit.logsinsights.filter_pattern import compile_filter_pattern
from labkit.logsinsights.natural_sort import natural_key
from labkit.logsinsights.parser import Query, parse_query
from labkit.logsinsights.table import EventTable
from labkit.logsinsights.values import format_time

__all__ = [
    "EventTable",
    "InvalidFilterPatternError",
    "MalformedQueryError",
    "Query",
    "QueryResult",
    "compile_filter_pattern",
    "format_time",
    "natural_key",
    "parse_query",
    "run_query",
]
