"""CloudWatch Logs reads and Logs Insights answered from the emulator's own store, over HTTP."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit.emulator import logstore
from tests.emulator_fixtures import GROUP, build_lab, clients, run

DEFAULT_GROUP = "/lab/default-format"


@pytest.fixture(scope="module")
def traffic(emulator):
    emulator.reset()
    c = clients(emulator.endpoint)
    lab = build_lab(c)
    c["logs"].create_log_group(logGroupName=DEFAULT_GROUP)
    c["ec2"].create_flow_logs(
        ResourceIds=[lab["a"]["vpc"], lab["b"]["vpc"]], ResourceType="VPC", TrafficType="ALL",
        LogGroupName=DEFAULT_GROUP, DeliverLogsPermissionArn=lab["role_arn"], MaxAggregationInterval=60)
    run(c, lab["a"]["instance"], "ping -c 3 192.168.1.10", "nc -z -w 2 192.168.1.10 56121")
    return c, lab


def query(c, group, text, **kw) -> dict:
    now = int(time.time())
    qid = c["logs"].start_query(logGroupName=group, startTime=now - 3600, endTime=now + 3600,
                                queryString=text, **kw)["queryId"]
    for _ in range(50):
        answer = c["logs"].get_query_results(queryId=qid)
        if answer["status"] == "Complete":
            answer["queryId"] = qid
            return answer
        time.sleep(0.1)
    raise AssertionError(answer)


def rows(answer) -> list[dict]:
    return [{f["field"]: f["value"] for f in row} for row in answer["results"]]


def test_rejects_by_destination_port_on_default_format(traffic):
    c, lab = traffic
    answer = query(c, DEFAULT_GROUP, 'filter action="REJECT" | stats count(*) as n by dstPort | sort n desc')
    counts = {r["dstPort"]: int(r["n"]) for r in rows(answer)}
    events = c["logs"].filter_log_events(logGroupName=DEFAULT_GROUP)["events"]
    expected: dict = {}
    for e in events:
        f = e["message"].split()
        if f[12] == "REJECT":
            expected[f[6]] = expected.get(f[6], 0) + 1
    assert counts == expected and counts["56121"] >= 1
    stats = answer["statistics"]
    assert stats["recordsScanned"] == len(events) and stats["recordsMatched"] == sum(expected.values())
    assert stats["bytesScanned"] > 0


def test_parse_on_lab_format(traffic):
    c, lab = traffic
    text = (
        'parse @message "* * * * * * * * * * * * * * * * * * * * * * *" as version, account, eni, src, dst, '
        "srcport, dstport, proto, packets, bytes, start, end, action, status, vpc, subnet, instance, "
        "flags, type, psrc, pdst, direction, path "
        '| filter direction = "egress" and proto = 1 '
        "| stats sum(packets) as pk by src, path"
    )
    got = {(r["src"], r["path"]): int(r["pk"]) for r in rows(query(c, GROUP, text))}
    assert got == {("10.0.1.10", "4"): 3, ("192.168.1.10", "4"): 3}


def test_fields_results_have_pointers_and_get_log_record(traffic):
    c, lab = traffic
    answer = query(c, DEFAULT_GROUP, "fields @timestamp, srcAddr, action | sort @timestamp desc | limit 5")
    assert len(answer["results"]) == 5
    ptr = rows(answer)[0]["@ptr"]
    record = c["logs"].get_log_record(logRecordPointer=ptr)["logRecord"]
    assert record["@message"].startswith("2 123456789012 eni-")
    assert record["@log"] == f"123456789012:{DEFAULT_GROUP}"
    described = c["logs"].describe_queries(logGroupName=DEFAULT_GROUP)["queries"]
    assert answer["queryId"] in {q["queryId"] for q in described}
    assert c["logs"].stop_query(queryId=answer["queryId"])["success"] is False  # already complete


def test_malformed_query_and_unknown_group(traffic):
    c, lab = traffic
    now = int(time.time())
    with pytest.raises(ClientError) as err:
        c["logs"].start_query(logGroupName=GROUP, startTime=now - 60, endTime=now,
                              queryString="stats count(* by srcAddr")
    assert err.value.response["Error"]["Code"] == "MalformedQueryException"
    with pytest.raises(ClientError) as err:
        c["logs"].start_query(logGroupName="/no/such/group", startTime=now - 60, endTime=now,
                              queryString="fields @message")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        c["logs"].get_query_results(queryId="nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        c["logs"].filter_log_events(logGroupName=GROUP, filterPattern="[a, b")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_put_events_paging_and_deletes(traffic):
    c, lab = traffic
    logs = c["logs"]
    logs.create_log_group(logGroupName="/app")
    logs.create_log_stream(logGroupName="/app", logStreamName="one")
    logs.create_log_stream(logGroupName="/app", logStreamName="two")
    base = int(time.time() * 1000) - 600_000
    for stream, offset in (("one", 0), ("two", 1)):
        for batch in range(2):
            events = [{"timestamp": base + 2 * (batch * 7_000 + i) + offset,
                       "message": f"{stream} event {batch * 7_000 + i} {'ERROR' if i % 100 == 0 else 'ok'}"}
                      for i in range(7_000)]  # fmt: skip
            logs.put_log_events(logGroupName="/app", logStreamName=stream, logEvents=events)
    # FilterLogEvents: 10,000 a page by default, in time order, each event once
    seen, token, pages = [], None, 0
    while True:
        page = logs.filter_log_events(logGroupName="/app", **({"nextToken": token} if token else {}))
        seen += page["events"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 3 and len(seen) == 28_000 and len({e["eventId"] for e in seen}) == 28_000
    assert [e["timestamp"] for e in seen] == sorted(e["timestamp"] for e in seen)
    errors = logs.filter_log_events(logGroupName="/app", filterPattern="ERROR", logStreamNames=["two"])
    assert len(errors["events"]) == 140 and all("two" in e["message"] for e in errors["events"])
    windowed = logs.filter_log_events(logGroupName="/app", startTime=base, endTime=base + 19,
                                      logStreamNamePrefix="o")
    assert [e["message"].split()[2] for e in windowed["events"]] == [str(i) for i in range(10)]
    # GetLogEvents: the latest events unless startFromHead, tokens both ways
    tail = logs.get_log_events(logGroupName="/app", logStreamName="one", limit=100)
    assert tail["events"][-1]["message"].startswith("one event 13999")
    head = logs.get_log_events(logGroupName="/app", logStreamName="one", limit=100, startFromHead=True)
    assert head["events"][0]["message"].startswith("one event 0 ")
    nxt = logs.get_log_events(logGroupName="/app", logStreamName="one", limit=100,
                              nextToken=head["nextForwardToken"])
    assert nxt["events"][0]["message"].startswith("one event 100 ")
    back = logs.get_log_events(logGroupName="/app", logStreamName="one", limit=100,
                               nextToken=nxt["nextBackwardToken"])
    assert back["events"] == head["events"]
    streams = {s["logStreamName"]: s for s in logs.describe_log_streams(logGroupName="/app")["logStreams"]}
    assert streams["one"]["lastEventTimestamp"] == base + 2 * 13_999
    assert streams["one"]["storedBytes"] > 0
    # deletes forget the events
    logs.delete_log_stream(logGroupName="/app", logStreamName="one")
    assert len(logs.filter_log_events(logGroupName="/app", limit=10_000)["events"]) == 10_000
    assert all(e["logStreamName"] == "two" for e in logs.filter_log_events(logGroupName="/app")["events"])
    logs.delete_log_group(logGroupName="/app")
    logs.create_log_group(logGroupName="/app")
    assert logs.filter_log_events(logGroupName="/app")["events"] == []
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName="/app", logStreamName="one")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_reset_clears_the_store(emulator, traffic):
    c, lab = traffic
    assert c["logs"].filter_log_events(logGroupName=GROUP)["events"]
    emulator.reset()
    c["logs"].create_log_group(logGroupName=GROUP)
    assert c["logs"].filter_log_events(logGroupName=GROUP)["events"] == []


def test_filter_right_after_new_events_answers_the_new_events(traffic):
    # One attempt only: boto3's retries used to hide a 500 from the store's result cache.
    c, lab = traffic
    logs = boto3.client("logs", endpoint_url=c["logs"].meta.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"total_max_attempts": 1}))
    logs.create_log_group(logGroupName="/fresh")
    logs.create_log_stream(logGroupName="/fresh", logStreamName="s")
    now = int(time.time() * 1000)
    for i in range(3):
        logs.put_log_events(logGroupName="/fresh", logStreamName="s",
                            logEvents=[{"timestamp": now + i, "message": f"event {i}"}])
        events = logs.filter_log_events(logGroupName="/fresh")["events"]
        assert [e["message"] for e in events] == [f"event {k}" for k in range(i + 1)]


def test_store_select_after_append_is_not_the_cached_answer():
    store = logstore.GroupStore("us-east-1", "/unit")
    store.append("s", [1], ["first"], 10)
    assert len(store.select()) == 1
    store.append("s", [2], ["second"], 11)
    assert store.messages(store.select()) == ["first", "second"]
