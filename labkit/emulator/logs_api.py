"""CloudWatch Logs reads answered from our columnar store, Logs Insights for real.

moto keeps groups and streams; events live in :mod:`logstore`.
``PutLogEvents`` is validated and answered by moto, then its accepted events move
into our store; ``DescribeLogStreams`` is moto's answer with the event statistics
of our store. ``GetLogEvents``, ``FilterLogEvents``,
``StartQuery``, ``GetQueryResults``, ``StopQuery``, ``DescribeQueries`` and
``GetLogRecord`` are answered here.

As on AWS, ``StartQuery`` answers a queryId at once and the query runs in the
background: under the emulator's lock it takes a snapshot of the groups' events
(column references, no copy), then a thread of its own runs the query outside the
lock (a large table in a worker process, :mod:`insights_worker`), so a heavy query never
makes other requests wait. ``GetQueryResults`` says ``Scheduled``/``Running`` until it
is done, then ``Complete`` (or ``Failed``);
``StopQuery`` makes it ``Cancelled`` (its result is dropped when it ends).
``GetLogEvents`` and ``FilterLogEvents`` answer when done, but they too take a view of the
group under the lock and read it (filter patterns and all) with the lock released.
Saved queries (``PutQueryDefinition``...) are in :mod:`query_definitions`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labkit.emulator import insights_worker, logstore, moto_adapter
from labkit.emulator.awsproto import AwsError, Call, json_body
from labkit.emulator.hooks import LOCK, after, before
from labkit.logsinsights import (
    EventTable,
    InvalidFilterPatternError,
    MalformedQueryError,
    parse_query,
)

MAX_EVENTS = 10_000
MAX_LOG_GROUPS_PER_QUERY = 50
# Queries running at once (each on a thread of its own); more wait as "Scheduled".
QUERY_WORKERS = 2
_WORKERS = threading.BoundedSemaphore(QUERY_WORKERS)
_NO_STATISTICS = {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0}

log = logging.getLogger("labkit.emulator")


def _group_name(params: dict, *, required: bool = True) -> str | None:
    name = params.get("logGroupName")
    ident = params.get("logGroupIdentifier")
    if name and ident:
        raise AwsError("InvalidParameterException",
                       "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    name = name or _name_of(ident)
    if not name and required:
        raise AwsError("InvalidParameterException",
                       "Either logGroupName or logGroupIdentifier should be specified.")
    return name


def _name_of(identifier: str | None) -> str | None:
    if not identifier:
        return None
    if identifier.startswith("arn:"):
        rest = identifier.split(":log-group:", 1)[-1]
        return rest[:-2] if rest.endswith(":*") else rest
    return identifier


def _require_group(region: str, name: str) -> None:
    if not moto_adapter.log_group_exists(region, name):
        raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")


# ---- writing ------------------------------------------------------------------------------


@after("logs", "PutLogEvents")
def move_put_events(call: Call, body: bytes):
    name = _group_name(call.params, required=False) or ""
    stream = call.params.get("logStreamName", "")
    taken = moto_adapter.take_put_events(call.region, name, stream)
    if taken is not None:
        timestamps, messages, ingestion_ms = taken
        logstore.group(call.region, name).append(stream, timestamps, messages, ingestion_ms)


@after("logs", "DescribeLogStreams")
def describe_stream_statistics(call: Call, body: bytes) -> bytes | None:
    store = logstore.group(call.region, _group_name(call.params, required=False) or "", create=False)
    if store is None:
        return None
    answer = json.loads(body)
    for described in answer.get("logStreams", []):
        stats = store.stream_stats.get(described.get("logStreamName"))
        if stats is not None:
            described.update(firstEventTimestamp=stats.first_event_ms, lastEventTimestamp=stats.last_event_ms,
                             lastIngestionTime=stats.last_ingestion_ms, storedBytes=stats.stored_bytes,
                             uploadSequenceToken=str(stats.uploads))
    return json.dumps(answer).encode()


@after("logs", "DeleteLogGroup")
def forget_group(call: Call, body: bytes):
    logstore.drop_group(call.region, _group_name(call.params, required=False) or "")


@after("logs", "DeleteLogStream")
def forget_stream(call: Call, body: bytes):
    store = logstore.group(call.region, _group_name(call.params, required=False) or "", create=False)
    if store is not None:
        store.drop_stream(call.params.get("logStreamName", ""))


# ---- GetLogEvents / FilterLogEvents -------------------------------------------------------


def _limit(params: dict) -> int:
    # A limit outside 1-10,000 never gets here: input_errors refuses it as AWS does.
    return int(params.get("limit") or MAX_EVENTS)


@contextmanager
def _lock_released():
    """Let other requests in while this one reads its view (as Condition.wait does: release, retake).

    The layer holds the emulator's lock around each call; a read that may take long (a filter
    pattern over a million events) gives it up for its work on a :class:`logstore.GroupView`.
    """
    LOCK.release()
    try:
        yield
    finally:
        LOCK.acquire()


@before("logs", "GetLogEvents")
def get_log_events(call: Call):
    p = call.params
    name = _group_name(p)
    _require_group(call.region, name)
    stream_name = p.get("logStreamName", "")
    if not moto_adapter.log_stream_exists(call.region, name, stream_name):
        raise AwsError("ResourceNotFoundException", "The specified log stream does not exist.")
    limit = _limit(p)
    token = p.get("nextToken")
    kind, _, pos = (token or "").partition("/")
    if token and (kind not in ("f", "b") or not pos.isdigit()):
        raise AwsError("InvalidParameterException", "The specified nextToken is invalid.")
    store = logstore.group(call.region, name)
    view = store.view()
    with _lock_released():
        rows = view.select(streams=[stream_name], start=p.get("startTime"), end=p.get("endTime"),
                           end_inclusive=False)
        n = len(rows)
        if token:
            at = min(int(pos), n)
            lo, hi = (at, min(n, at + limit)) if kind == "f" else (max(0, at - limit), at)
        elif p.get("startFromHead"):
            lo, hi = 0, min(n, limit)
        else:
            lo, hi = max(0, n - limit), n
        page = rows[lo:hi]
        events = [
            {"timestamp": int(view.ts[r]), "message": m, "ingestionTime": int(view.ingestion[r])}
            for r, m in zip(page.tolist(), view.messages(page), strict=True)
        ]
    store.remember(view)
    return json_body({"events": events, "nextForwardToken": f"f/{hi:056d}",
                      "nextBackwardToken": f"b/{lo:056d}"})


@before("logs", "FilterLogEvents")
def filter_log_events(call: Call):
    """FilterLogEvents, its filtering done outside the lock.

    ``searchedLogStreams`` is always empty: "As of May 15, 2020, this parameter is no longer
    supported. This parameter returns an empty list." (FilterLogEvents, CloudWatch Logs API Reference).
    """
    p = call.params
    name = _group_name(p)
    _require_group(call.region, name)
    if p.get("logStreamNames") and p.get("logStreamNamePrefix"):
        raise AwsError("InvalidParameterException",
                       "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    limit = _limit(p)
    last = None
    if p.get("nextToken"):
        token = logstore.decode_token(p["nextToken"])
        if not token or "last" not in token:
            raise AwsError("InvalidParameterException", "The specified nextToken is invalid.")
        last = token["last"]
    store = logstore.group(call.region, name)
    view = store.view()
    with _lock_released():
        try:
            rows = view.select(streams=p.get("logStreamNames"), prefix=p.get("logStreamNamePrefix"),
                               start=p.get("startTime"), end=p.get("endTime"),
                               pattern=p.get("filterPattern"))
        except InvalidFilterPatternError as exc:
            raise AwsError("InvalidParameterException", exc.message) from exc
        start_at = 0
        if last is not None:
            last_ts, last_row = last
            ts = view.ts[rows]
            later = (ts > last_ts) | ((ts == last_ts) & (rows > last_row))
            start_at = int(np.argmax(later)) if later.any() else len(rows)
        events = view.filter_page(rows, start_at, limit)
    store.remember(view)
    answer: dict = {"events": events, "searchedLogStreams": []}
    if start_at + limit < len(rows) and events:
        last_row = rows[start_at + len(events) - 1]
        answer["nextToken"] = logstore.encode_token({"last": [int(view.ts[last_row]), int(last_row)]})
    return json_body(answer)


# ---- Logs Insights ------------------------------------------------------------------------


@dataclass
class _Query:
    query_id: str
    query_string: str
    groups: list[str]
    created_ms: int
    status: str
    results: list = field(default_factory=list)
    statistics: dict = field(default_factory=dict)
    table: EventTable | None = None
    region: str = "us-east-1"
    error: str = ""


QUERIES: OrderedDict[str, _Query] = OrderedDict()


def reset() -> None:
    QUERIES.clear()


def _query_groups(call: Call) -> list[str]:
    p = call.params
    given = [k for k in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if p.get(k)]
    if len(given) > 1:
        raise AwsError("InvalidParameterException",
                       "Only one of logGroupName, logGroupNames, logGroupIdentifiers may be specified")
    names = []
    if p.get("logGroupName"):
        names = [p["logGroupName"]]
    elif p.get("logGroupNames"):
        names = list(p["logGroupNames"])
    elif p.get("logGroupIdentifiers"):
        names = [_name_of(i) for i in p["logGroupIdentifiers"]]
    if not names and "SOURCE" not in (p.get("queryString") or ""):
        raise AwsError("InvalidParameterException",
                       "Either logGroupName, logGroupNames or logGroupIdentifiers must be specified")
    if len(names) > MAX_LOG_GROUPS_PER_QUERY:
        raise AwsError("InvalidParameterException", "Query can have at most 50 log groups")
    for n in names:
        if not moto_adapter.log_group_exists(call.region, n):
            raise AwsError("ResourceNotFoundException", f"Log group '{n}' does not exist")
    return names


def _malformed(exc: MalformedQueryError):
    body = json.dumps({
        "__type": "MalformedQueryException",
        "message": exc.message,
        "queryCompileError": exc.query_compile_error(),
    }).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"),
               ("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Length", str(len(body)))]
    return "400 Bad Request", headers, body


def _snapshot(region: str, names: list[str]) -> list[tuple[logstore.GroupStore, EventTable]]:
    """Under the lock: each group's store and a snapshot of its events (references, no copy)."""
    sources = []
    for name in names:
        store = logstore.group(region, name)
        store.flush()
        sources.append((store, store.table.snapshot()))
    return sources


def _combine(tables: list[EventTable]) -> EventTable:
    """One table over several groups' snapshots (outside the lock: this copies)."""
    if len(tables) == 1:
        return tables[0]
    frames = [t._base for t in tables if len(t)]
    if not frames:
        return EventTable()
    combined = {c: pd.concat([pd.Series(f[c]).astype(object if c in ("@logStream", "@log") else f[c].dtype)
                              for f in frames], ignore_index=True)
                for c in frames[0]}
    return EventTable(pd.DataFrame(combined))


@before("logs", "StartQuery")
def start_query(call: Call):
    p = call.params
    names = _query_groups(call)
    text = p.get("queryString") or ""
    start, end = p.get("startTime"), p.get("endTime")
    if start is None or end is None:
        raise AwsError("InvalidParameterException", "startTime and endTime are required")
    if int(end) < int(start):
        raise AwsError("InvalidParameterException", "End time should not be before the start time")
    try:
        parse_query(text)  # a malformed query is refused now, as AWS does, not when it runs
    except MalformedQueryError as exc:
        return _malformed(exc)
    limit = p.get("limit")
    if limit is not None and not 1 <= int(limit) <= MAX_EVENTS:
        raise AwsError("InvalidParameterException", "limit must be between 1 and 10000")
    sources = _snapshot(call.region, names)
    query_id = str(uuid.uuid4())
    q = _Query(query_id, text, names, int(time.time() * 1000), "Scheduled", region=call.region)
    QUERIES[query_id] = q
    while len(QUERIES) > 200:
        QUERIES.popitem(last=False)
    window = {"start_ms": int(start) * 1000, "end_ms": int(end) * 1000 + 999, "limit": limit}
    threading.Thread(target=_run, args=(q, sources, window), daemon=True,
                     name=f"insights-{query_id[:8]}").start()
    return json_body({"queryId": query_id})


def _run(q: _Query, sources: list, window: dict) -> None:
    """A query's thread: runs it on its snapshot, outside the lock (a large one in the worker process)."""
    with _WORKERS:
        with LOCK:  # StopQuery changes the status under the lock too
            if q.status != "Scheduled":  # stopped while it waited
                return
            q.status = "Running"
        try:
            table = _combine([snapshot for _store, snapshot in sources])
            results, stats = insights_worker.run(q.query_string, table, window)
            stats.update(estimatedRecordsSkipped=0.0, estimatedBytesSkipped=0.0,
                         logGroupsScanned=float(len(q.groups)))
        except Exception as exc:  # noqa: BLE001 - the query fails, as on AWS; the emulator lives on
            log.error("Logs Insights query %s failed: %r", q.query_id, exc)
            with LOCK:
                if q.status == "Running":
                    q.status, q.error = "Failed", f"{type(exc).__name__}: {exc}"
            return
        with LOCK:
            if len(sources) == 1:
                store, snapshot = sources[0]
                if logstore.group(store.region, store.name, create=False) is store:
                    store.table.adopt(snapshot)  # keep the fields it discovered for the next query
            if q.status == "Running":
                q.results, q.statistics, q.table, q.status = results, stats, table, "Complete"


def _query(call: Call) -> _Query:
    q = QUERIES.get(call.params.get("queryId", ""))
    if q is None:
        raise AwsError("ResourceNotFoundException", "Query does not exist.")
    return q


@before("logs", "GetQueryResults")
def get_query_results(call: Call):
    q = _query(call)
    answer = {"queryLanguage": "CWLI", "results": q.results,
              "statistics": q.statistics or dict(_NO_STATISTICS), "status": q.status}
    if q.error:
        answer["error"] = q.error  # not in AWS's answer shape (boto3 drops it); for raw readers
    return json_body(answer)


@before("logs", "StopQuery")
def stop_query(call: Call):
    q = _query(call)
    if q.status in ("Scheduled", "Running"):
        q.status = "Cancelled"
        return json_body({"success": True})
    return json_body({"success": False})


@before("logs", "DescribeQueries")
def describe_queries(call: Call):
    p = call.params
    wanted_group = p.get("logGroupName")
    status = p.get("status")
    rows = []
    for q in reversed(QUERIES.values()):
        if q.region != call.region:
            continue
        if wanted_group and wanted_group not in q.groups:
            continue
        if status and q.status != status:
            continue
        rows.append({"queryLanguage": "CWLI", "queryId": q.query_id, "queryString": q.query_string,
                     "status": q.status, "createTime": q.created_ms,
                     "logGroupName": q.groups[0] if q.groups else ""})
    limit = int(p.get("maxResults") or 1000)
    return json_body({"queries": rows[:limit]})


@before("logs", "GetLogRecord")
def get_log_record(call: Call):
    ptr = call.params.get("logRecordPointer", "")
    tables = [q.table for q in reversed(QUERIES.values()) if q.region == call.region and q.table]
    tables += [s.table for (region, _n), s in logstore.STORES.items() if region == call.region]
    for table in tables:
        try:
            row = table.row_of_ptr(ptr)
            if row < len(table) and table.ptr(row) == ptr:
                return json_body({"logRecord": table.get_log_record(ptr)})
        except (ValueError, IndexError, TypeError):
            continue
    raise AwsError("InvalidParameterException", "The specified log record pointer is not valid.")


def _reset_all() -> None:
    logstore.reset()
    reset()


def _register_reset() -> None:
    from labkit.emulator import layer

    if _reset_all not in layer.RESET_CALLBACKS:
        layer.RESET_CALLBACKS.append(_reset_all)


_register_reset()
