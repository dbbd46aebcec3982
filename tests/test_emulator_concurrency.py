"""Heavy log reads do not make other clients wait.

StartQuery answers a queryId at once; the query runs on a snapshot of the group's events
outside the emulator's lock, and GetQueryResults says Scheduled/Running until it is done.
FilterLogEvents answers when it is done, but filters a view of the group outside the lock.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from labkit.emulator import insights_worker
from labkit.logsinsights import EventTable, parse_query, run_query
from tests.emulator_fixtures import clients

pytestmark = pytest.mark.serial  # latency bounds: alone on the machine

N_EVENTS = 200_000
BATCH = 10_000  # PutLogEvents' most events per call: the fast way in over HTTP
GROUP = "/heavy"
# A space-delimited filter pattern over every event: about a second of work on this data.
SPACE_DELIMITED = "[user, n > 100, level = ok, ...]"
HEAVY = (r"parse @message /^user(?<user>\d+) (?<n>\d+) (?<level>\w+)/"
         " | stats count(*) as c, sum(n) as total by level | sort c desc")


def _message(i: int) -> str:
    return f"user{i % 997} {i} {'ERROR' if i % 50 == 0 else 'ok'} request served"


@pytest.fixture
def heavy_group(fresh_emulator):
    logs = clients(fresh_emulator.endpoint)["logs"]
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    base = int(time.time() * 1000) - 3_600_000
    for start in range(0, N_EVENTS, BATCH):
        logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=[
            {"timestamp": base + i, "message": _message(i)} for i in range(start, start + BATCH)])
    return fresh_emulator


def _start(logs) -> str:
    now = int(time.time())
    return logs.start_query(logGroupName=GROUP, startTime=now - 7200, endTime=now + 60,
                            queryString=HEAVY)["queryId"]


def test_other_clients_answer_while_a_heavy_query_runs(heavy_group):
    querier = clients(heavy_group.endpoint)["logs"]
    other = clients(heavy_group.endpoint)["logs"]  # another client, its own connection
    other.describe_log_groups()  # connected before the query starts
    started = time.perf_counter()
    query_id = _start(querier)
    assert time.perf_counter() - started < 1.0  # a queryId at once, not the query's result
    during, latencies, statuses = 0, [], set()
    while time.perf_counter() - started < 60:
        answer = querier.get_query_results(queryId=query_id)
        statuses.add(answer["status"])
        if answer["status"] not in ("Scheduled", "Running"):
            break
        assert answer["results"] == []
        t = time.perf_counter()
        groups = other.describe_log_groups()["logGroups"]
        latencies.append(time.perf_counter() - t)
        assert [g["logGroupName"] for g in groups] == [GROUP]
        during += answer["status"] == "Running"
    assert "Running" in statuses and during >= 1, statuses
    assert max(latencies) < 0.5, latencies
    assert answer["status"] == "Complete"
    rows = [{cell["field"]: cell["value"] for cell in row} for row in answer["results"]]
    errors = [i for i in range(N_EVENTS) if i % 50 == 0]
    assert rows == [
        {"level": "ok", "c": str(N_EVENTS - len(errors)), "total": str(sum(range(N_EVENTS)) - sum(errors))},
        {"level": "ERROR", "c": str(len(errors)), "total": str(sum(errors))},
    ]
    stats = answer["statistics"]
    assert stats["recordsScanned"] == stats["recordsMatched"] == float(N_EVENTS)
    assert stats["bytesScanned"] == float(sum(len(_message(i)) for i in range(N_EVENTS)))
    listed = querier.describe_queries(logGroupName=GROUP)["queries"]
    assert [(q["queryId"], q["status"]) for q in listed] == [(query_id, "Complete")]

    # StopQuery: the query ends Cancelled, and its result is dropped when the worker finishes.
    stopped = _start(querier)
    assert querier.stop_query(queryId=stopped)["success"] is True
    until = time.perf_counter() + 3  # longer than the query takes: its worker has ended by then
    while time.perf_counter() < until:
        answer = querier.get_query_results(queryId=stopped)
        assert answer["status"] == "Cancelled" and answer["results"] == []
        time.sleep(0.2)
    assert querier.stop_query(queryId=stopped)["success"] is False


def _events(first: int, n: int) -> pd.DataFrame:
    line = "2 123456789012 eni-0a1b2c3d 10.0.1.{} 10.0.2.9 443 49152 6 10 840 {} {} ACCEPT OK"
    return pd.DataFrame({"@timestamp": [1_000 * (first + i) for i in range(n)],
                         "@message": [line.format(i % 200, first + i, first + i + 5)
                                      for i in range(first, first + n)]})


def test_a_snapshot_stays_whole_while_its_table_grows_and_hands_back_what_it_discovered():
    table = EventTable(_events(0, 100))
    snapshot = table.snapshot()
    table.append(_events(100, 50))  # events arriving while a query runs on the snapshot
    counted = run_query("stats count(*) as n, sum(bytes) as b", snapshot, start_ms=0, end_ms=10**12)
    assert counted.to_aws()[0] == [{"field": "n", "value": "100"}, {"field": "b", "value": "84000"}]
    assert len(table) == 150 and len(snapshot) == 100
    table.adopt(snapshot)  # the table changed since: nothing of the snapshot's is kept
    assert "bytes" not in table._flow
    fresh = table.snapshot()
    run_query("stats sum(bytes) as b", fresh, start_ms=0, end_ms=10**12)
    table.adopt(fresh)  # unchanged: the discovered field is the table's now
    assert table._flow["bytes"] is fresh._flow["bytes"] and len(table._flow["bytes"]) == 150


def test_a_large_filter_log_events_does_not_block_other_clients(heavy_group):
    """FilterLogEvents takes a view of the group under the lock and filters outside it."""
    reader = clients(heavy_group.endpoint)["logs"]
    ec2 = clients(heavy_group.endpoint)["ec2"]
    ec2.describe_vpcs()  # connected (and EC2's backend warm) before the filter starts
    reader.filter_log_events(logGroupName=GROUP, limit=1)  # the puts are folded into the store
    found: dict = {}

    def filter_all():
        t = time.perf_counter()
        found["answer"] = reader.filter_log_events(logGroupName=GROUP, filterPattern=SPACE_DELIMITED,
                                                   limit=10_000)
        found["seconds"] = time.perf_counter() - t

    worker = threading.Thread(target=filter_all)
    worker.start()
    latencies = []
    while worker.is_alive():
        t = time.perf_counter()
        ec2.describe_vpcs()
        latencies.append(time.perf_counter() - t)
    worker.join()
    # Under the lock, a call made during the filter waited for all of it (one or two calls in all).
    assert len(latencies) >= 3, (found["seconds"], latencies)
    assert max(latencies) < min(1.0, found["seconds"] / 2), (found["seconds"], latencies)
    expected = [i for i in range(N_EVENTS) if i > 100 and i % 50][:10_000]
    assert [e["message"] for e in found["answer"]["events"]] == [_message(i) for i in expected]


def test_the_worker_process_answers_what_the_emulator_would(monkeypatch):
    """A large table's query runs in the worker process: same rows, @ptr values and statistics."""
    monkeypatch.setattr(insights_worker, "PROCESS_MIN_EVENTS", 0)  # this small table goes there too
    table = EventTable(_events(0, 500))
    window = {"start_ms": 0, "end_ms": 10**12, "limit": None}
    for text in ("stats sum(bytes) as b, count(*) as n by srcAddr | sort b desc | limit 5",
                 "fields @timestamp, srcAddr | sort @timestamp desc | limit 3"):
        in_process = run_query(parse_query(text), table.snapshot(), **window)
        assert insights_worker.run(text, table.snapshot(), window) == (in_process.to_aws(),
                                                                       dict(in_process.statistics))
    with pytest.raises(insights_worker.WorkerFailed, match="no_such_function"):
        insights_worker.run("stats no_such_function(bytes)", table.snapshot(), window)
