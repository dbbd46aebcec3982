"""Logs Insights answers checked against AWS's documentation, one page per test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit.logsinsights import EventTable, MalformedQueryError, parse_query, run_query
from labkit.logsinsights.parser import UNSUPPORTED_COMMANDS, UNSUPPORTED_FUNCTIONS

T0 = 1_714_521_600  # 2024-05-01 00:00:00 UTC, in seconds


def _events(messages: list[str]) -> EventTable:
    ts = (T0 + np.arange(len(messages), dtype=np.int64)) * 1000
    return EventTable(pd.DataFrame({
        "@timestamp": ts,
        "@message": messages,
        "@logStream": "eni-0a1b2c3d4e5f60718-all",
        "@log": "123456789012:/lab/flowlogs",
        "@ingestionTime": ts + 300_000,
    }))


def _query(table: EventTable, text: str):
    return run_query(text, table, start_ms=0, end_ms=2**62)


def _column(result, name: str) -> list[str | None]:
    return [next((f["value"] for f in row if f["field"] == name), None) for row in result.to_aws()]


def _rows(result) -> list[dict[str, str]]:
    """GetQueryResults rows as dicts, without the @ptr every event row carries."""
    return [{f["field"]: f["value"] for f in row if f["field"] != "@ptr"} for row in result.to_aws()]


def _record(src: str, dst: str, *, action: str = "ACCEPT", packets: int = 1) -> str:
    return (f"2 123456789012 eni-0a1b2c3d4e5f60718 {src} {dst} 443 49152 6 {packets} {packets * 60} "
            f"{T0} {T0 + 42} {action} OK")


# ---------------------------------------------------------------- sort


SORT_PAGE_EXAMPLE = "!: # *%04 0# 5A 111A 2345_ @ @_ A A9876fghj a12345hfh 0 01 1 2 3".split()


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sort_is_awss_updated_natural_sort(direction):
    """The "sort" page's own example, ascending and (its exact reverse) descending.

    AWS: CloudWatch Logs User Guide, "sort"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html).
    """
    shuffled = list(np.random.default_rng(3).permutation(SORT_PAGE_EXAMPLE))
    table = _events(shuffled)
    got = _column(_query(table, f'parse @message "*" as v | sort v {direction} | display v'), "v")
    assert got == (SORT_PAGE_EXAMPLE if direction == "asc" else SORT_PAGE_EXAMPLE[::-1])


def test_sort_compares_digit_runs_by_length_so_addresses_sort_naturally():
    """52.95.1.1 before 172.31.5.5 (52 is a shorter run than 172), unlike a string sort.

    AWS: "sort" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html).
    """
    table = _events([_record("172.31.5.5", "10.0.0.1"), _record("52.95.1.1", "10.0.0.1"),
                     _record("9.9.9.9", "10.0.0.1")])
    got = _column(_query(table, "fields srcAddr | sort srcAddr asc"), "srcAddr")
    assert got == ["9.9.9.9", "52.95.1.1", "172.31.5.5"]


def test_sort_by_an_aggregate_expression_sorts_by_its_stats_column():
    """`stats count(*) by srcAddr | sort count(*) desc`, as the "sort" page's flow-log example does.

    AWS: "sort" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html).
    """
    table = _events([_record("10.0.0.1", "8.8.8.8")] + [_record("10.0.0.2", "8.8.8.8")] * 3
                    + [_record("10.0.0.3", "8.8.8.8")] * 2)
    res = _query(table, "stats count(*) by srcAddr | sort count(*) desc")
    assert _column(res, "srcAddr") == ["10.0.0.2", "10.0.0.3", "10.0.0.1"]
    assert _column(res, "count(*)") == ["3", "2", "1"]


def test_sorting_by_an_aggregate_no_stats_computed_is_refused():
    with pytest.raises(MalformedQueryError, match="only allowed in stats"):
        parse_query("stats count(*) by srcAddr | sort sum(bytes) desc")


def test_sortsfirst_and_sortslast_pick_by_the_sort_order():
    """sortsFirst/sortsLast: the value that sorts first / last, in the natural order of "sort".

    AWS: "Functions to use with stats" on the stats page
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Stats.html).
    """
    table = _events([_record(a, "10.0.0.1", action=act) for a, act in [
        ("52.95.1.1", "ACCEPT"), ("172.31.5.5", "ACCEPT"), ("9.9.9.9", "ACCEPT"), ("10.1.1.1", "REJECT")]])
    res = _query(table, "stats sortsFirst(srcAddr) as first, sortsLast(srcAddr) as last by action")
    got = {r["action"]: (r["first"], r["last"]) for r in _rows(res)}
    assert got == {"ACCEPT": ("9.9.9.9", "172.31.5.5"), "REJECT": ("10.1.1.1", "10.1.1.1")}


# ---------------------------------------------------------------- discovered fields

DISCOVERED = ["version", "accountId", "interfaceId", "srcAddr", "dstAddr", "srcPort", "dstPort",
              "protocol", "packets", "bytes", "startTime", "endTime", "action", "logStatus"]


def test_default_format_records_discover_awss_names():
    """Every discovered field of a default-format record, by AWS's names (startTime, endTime).

    AWS: "Supported logs and discovered fields"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html).
    """
    table = _events([_record("10.0.1.5", "52.95.1.1", packets=3)])
    record = table.get_log_record(table.ptr(0))
    assert [k for k in record if not k.startswith("@")] == DISCOVERED
    got = _rows(_query(table, "fields startTime, endTime, srcPort, bytes, logStatus"))
    assert got[0] == {
        "startTime": str(T0), "endTime": str(T0 + 42), "srcPort": "443", "bytes": "180", "logStatus": "OK"}


def test_start_and_end_are_not_discovered_names():
    table = _events([_record("10.0.1.5", "52.95.1.1")])
    assert _column(_query(table, "fields start, end"), "start") == [None]


@pytest.mark.parametrize("line", [
    # ${version} ${account-id} ${instance-id} ...: 14 fields, but the third is an instance
    f"2 123456789012 i-0123456789abcdef0 10.0.1.5 52.95.1.1 443 49152 6 1 60 {T0} {T0 + 1} ACCEPT OK",
    # a version-3 custom format of 14 fields
    f"3 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 52.95.1.1 443 49152 6 1 60 {T0} {T0 + 1} ACCEPT OK",
    # the account is not a 12-digit id
    f"2 vpc-0a1b2c3d eni-0a1b2c3d4e5f60718 10.0.1.5 52.95.1.1 443 49152 6 1 60 {T0} {T0 + 1} ACCEPT OK",
])
def test_look_alike_custom_lines_discover_nothing(line):
    """Discovery is for the default format only; custom formats need parse.

    AWS: "Supported logs and discovered fields"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html).
    """
    table = _events([line])
    assert _column(_query(table, "fields srcAddr, interfaceId"), "srcAddr") == [None]
    assert _query(table, "filter ispresent(interfaceId)").statistics["recordsMatched"] == 0


def test_json_events_flatten_objects_with_dots_and_arrays_with_indices():
    """users.0.email: nested objects by dots, arrays by index.

    AWS: "Supported logs and discovered fields"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html).
    """
    doc = {"users": [{"email": "ana@example.com"}, {"email": "bo@example.com", "admin": True}],
           "request": {"id": "r-1", "latency": 12.5}, "tags": ["a", "b"]}
    table = _events([json.dumps(doc), json.dumps({"request": {"id": "r-2", "latency": 3}})])
    res = _query(table, "fields users.0.email, users.1.email, users.1.admin, request.latency, tags.1"
                        " | sort request.latency desc")
    assert _rows(res)[0] == {"users.0.email": "ana@example.com", "users.1.email": "bo@example.com",
                     "users.1.admin": "true", "request.latency": "12.5", "tags.1": "b"}
    assert _query(table, "filter request.latency > 5").statistics["recordsMatched"] == 1


# ---------------------------------------------------------------- statistics


def test_records_matched_counts_matches_before_limit():
    """recordsMatched: "The number of log events that matched the query string" (not the rows shown).

    AWS: CloudWatch Logs API Reference, "QueryStatistics"
    (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_QueryStatistics.html).
    """
    rejected, accepted = _record("10.0.0.1", "8.8.8.8", action="REJECT"), _record("10.0.0.2", "8.8.8.8")
    table = _events([rejected] * 5 + [accepted] * 4)
    res = _query(table, 'filter action = "REJECT" | limit 2')
    assert len(res.frame) == 2
    assert res.statistics["recordsMatched"] == 5
    assert res.statistics["recordsScanned"] == 9
    assert _query(table, "fields @message | limit 1").statistics["recordsMatched"] == 9


# ---------------------------------------------------------------- what the emulator lacks

UNSUPPORTED_COMMAND_QUERIES = {
    "anomaly": "stats count(*) by bin(5m) | anomaly",
    "pattern": "fields @message | pattern @message",
    "diff": "fields @message | diff",
    "unmask": "unmask(@message)",
    "filterIndex": 'filterIndex srcAddr = "10.0.0.1" | fields @message',
    "SOURCE": 'SOURCE logGroups(namePrefix: ["/lab"]) | fields @message',
    "unnest": "fields users | unnest users into user",
    "lookup": "fields srcAddr | lookup hosts srcAddr OUTPUT name",
    "addtotals": "stats sum(bytes) by srcAddr | addtotals",
}


def test_the_list_of_unsupported_commands_is_the_one_tested():
    assert set(UNSUPPORTED_COMMAND_QUERIES) == UNSUPPORTED_COMMANDS


@pytest.mark.parametrize("command", sorted(UNSUPPORTED_COMMAND_QUERIES))
def test_awss_commands_the_emulator_lacks_are_named(command):
    """Commands of AWS's query syntax the emulator does not run fail loudly, naming themselves.

    AWS: "CloudWatch Logs Insights language query syntax"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html).
    """
    with pytest.raises(MalformedQueryError) as err:
        parse_query(UNSUPPORTED_COMMAND_QUERIES[command])
    assert f"{command} is not supported by the offline emulator" in str(err.value)


@pytest.mark.parametrize("function", sorted(UNSUPPORTED_FUNCTIONS.values()))
def test_awss_functions_the_emulator_lacks_are_named(function):
    """Functions AWS has and the emulator does not compute fail loudly, naming themselves.

    AWS: "Functions" in the query syntax
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-operations-functions.html),
    and "Time-series functions" (CWL_QuerySyntax-timeseries-functions).
    """
    examples = {"rate": "rate(bytes, 1m)", "histogram": "histogram(bytes, 10)"}
    call = examples.get(function, f"{function}(bytes)")
    with pytest.raises(MalformedQueryError) as err:
        parse_query(f"fields {call} as x")
    assert f"{function} is not supported by the offline emulator" in str(err.value)


def test_an_unknown_command_is_still_a_plain_syntax_error():
    with pytest.raises(MalformedQueryError, match="unexpected symbol"):
        parse_query("fields a | frobnicate b")
