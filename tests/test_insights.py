"""Logs Insights engine: grammar, AWS sample queries on a hand-made dataset, differential."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.logsinsights import (
    EventTable,
    MalformedQueryError,
    format_time,
    parse_query,
    run_query,
)
from labkit.logsinsights.parser import Dedup, Display, Fields, Filter, Limit, Parse, Sort, Stats

T0 = 1_714_521_600_000  # 2024-05-01 00:00:00 UTC

# version account eni src dst sport dport proto packets bytes start end action status
RECORDS = [
    "2 123456789010 eni-a 10.0.1.10 10.0.2.20 40000 22 6 10 1000 1714521600 1714521660 ACCEPT OK",
    "2 123456789010 eni-a 10.0.1.10 10.0.2.20 40001 22 6 5 500 1714521600 1714521660 ACCEPT OK",
    "2 123456789010 eni-a 203.0.113.7 10.0.1.10 51515 3389 6 1 40 1714521660 1714521720 REJECT OK",
    "2 123456789010 eni-b 203.0.113.7 10.0.1.10 51516 3389 6 1 40 1714521660 1714521720 REJECT OK",
    "2 123456789010 eni-b 198.51.100.9 10.0.1.10 1234 22 6 2 80 1714521720 1714521780 REJECT OK",
    "2 123456789010 eni-b 10.0.2.20 8.8.8.8 5353 53 17 3 300 1714521720 1714521780 ACCEPT OK",
    "2 123456789010 eni-b 10.0.1.10 1.1.1.1 5354 53 17 7 700 1714525200 1714525260 ACCEPT OK",
    "2 123456789010 eni-a - - - - - - - 1714525200 1714525260 - NODATA",
    "2 123456789010 eni-a - - - - - - - 1714528800 1714528860 - SKIPDATA",
    "2 123456789010 eni-b - - - - - - - 1714528860 1714528920 - SKIPDATA",
    '{"level": "ERROR", "latency": 250, "user": {"name": "ana"}}',
]


def _events(msgs=RECORDS) -> pd.DataFrame:
    ts = []
    for m in msgs:
        parts = m.split(" ")
        ts.append(int(parts[10]) * 1000 if len(parts) == 14 else T0 + 30_000)
    return pd.DataFrame(
        {
            "@timestamp": np.array(ts, dtype=np.int64),
            "@message": msgs,
            "@logStream": ["eni-a-all" if " eni-a " in m else "eni-b-all" for m in msgs],
            "@log": "123456789010:/lab/flowlogs",
            "@ingestionTime": np.array(ts, dtype=np.int64) + 300_000,
        }
    )


@pytest.fixture(scope="module")
def table() -> EventTable:
    return EventTable(_events())


def q(table, text, **kw):
    return run_query(text, table, start_ms=0, end_ms=2**62, **kw)


def rows(result):
    return [{c["field"]: c["value"] for c in r} for r in result.to_aws()]


# ---------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("fields @timestamp, @message", [Fields]),
        ("display srcAddr, dstAddr", [Display]),
        ("filter action = 'REJECT'", [Filter]),
        ("stats count(*) by srcAddr", [Stats]),
        ("sort @timestamp desc, srcAddr asc", [Sort]),
        ("limit 5", [Limit]),
        ('parse @message "* * *" as a, b, c', [Parse]),
        ("parse @message /(?<v>\\d+) (?<acct>\\d+)/", [Parse]),
        ("fields x | dedup x, y", [Fields, Dedup]),
        ("# a comment\nfields a # trailing\n| filter a > 1\n| limit 2", [Fields, Filter, Limit]),
    ],
)
def test_every_command_parses(text, kinds):
    assert [type(c) for c in parse_query(text).commands] == kinds


@pytest.mark.parametrize(
    "expr",
    [
        "a = 1",
        "a != 1",
        "a < 1",
        "a <= 1",
        "a > 1",
        "a >= 1",
        "a = 1 and b = 2 or not c = 3",
        "(a = 1 or b = 2) and c = 3",
        'a like "x"',
        "a like /x.*y/",
        "a not like /x/",
        "a =~ /^x$/",
        "a in [1, 2, 3]",
        'a not in ["x", "y"]',
        "a + b * c - d / e % f > -g",
        "-(a) < 2 ^ 3",
        "`weird-name` = 'single' and b = \"double\"",
        "ispresent(a) and isempty(b) and isblank(c)",
        'coalesce(a, b, "z") = "z"',
        'concat(a, "-", b) = "x-y"',
        "strlen(a) > 3 and tolower(a) = 'x' and toupper(a) = 'X'",
        'isIpv4InSubnet(srcAddr, "10.0.0.0/16") and isIpInSubnet(dstAddr, "10.0.0.0/8")',
        "isValidIp(a) and isValidIpV4(a) and not isValidIpV6(a)",
        "abs(a) + floor(b) + ceil(c) > 0",
        "fromMillis(a) > toMillis(b)",
        'trim(a) = ltrim(b) and rtrim(c) = substr(d, 1, 2) and replace(e, "a", "b") = f',
        "greatest(a, b) > least(c, d) and sqrt(a) > log(b)",
        'strcontains(a, "x") = 1',
    ],
)
def test_operators_and_functions_parse(expr):
    parse_query(f"filter {expr}")


@pytest.mark.parametrize(
    "stats",
    [
        "count(*)",
        "count()",
        "count(srcAddr)",
        "count_distinct(srcAddr)",
        "sum(bytes)",
        "avg(bytes)",
        "min(bytes)",
        "max(bytes)",
        "pct(bytes, 95)",
        "earliest(action)",
        "latest(action)",
        "stddev(bytes)",
        "sum(bytes) / count(*)",
    ],
)
def test_aggregates_parse_and_run(table, stats):
    res = q(table, f"stats {stats} by bin(5m)")
    assert res.columns == ["bin(5m)", stats]


@pytest.mark.parametrize("period", ["30s", "1m", "5m", "1h", "1d", "2hrs", "1mo"])
def test_bin_periods(table, period):
    res = q(table, f"stats count(*) by bin({period})")
    assert res.columns == [f"bin({period})", "count(*)"]
    assert res.frame["count(*)"].sum() == len(RECORDS)


@pytest.mark.parametrize(
    "text, line, column, fragment",
    [
        ("fields a |", 1, 11, "unexpected end of query"),
        ("filter a = ", 1, 12, "unexpected end of query"),
        ("filter a ~ b", 1, 10, "unexpected symbol found ~"),
        ("limit x", 1, 7, "unexpected symbol found x"),
        ("fields a\n| filter = 3", 2, 10, "unexpected symbol found ="),
        ("stats frobnicate(x)", 1, 7, "Unknown function: frobnicate"),
        ("fields count(*)", 1, 8, "Aggregate function count is only allowed in stats"),
        ("fields a | dedup a | sort a", 1, 1, "Only limit can follow dedup"),
        ("filter strlen(a, b, c) > 1", 1, 8, "Wrong number of arguments"),
    ],
)
def test_malformed_queries_name_the_position(text, line, column, fragment):
    with pytest.raises(MalformedQueryError) as err:
        parse_query(text)
    e = err.value
    assert (e.line, e.column) == (line, column)
    assert fragment in e.message
    assert f"at line {line} and position {column}" in e.message
    assert e.query_compile_error()["location"]["startCharOffset"] >= 0


def test_column_names_follow_aws():
    qry = parse_query("stats count(*), sum(bytes) as b by bin(1m), srcAddr")
    st = qry.commands[0]
    assert [i.name for i in st.items] == ["count(*)", "b"]
    assert [i.name for i in st.by] == ["bin(1m)", "srcAddr"]


# ---------------------------------------------------------------- AWS sample queries

SAMPLES = {
    # CloudWatch Logs user guide, "Sample queries", Amazon VPC Flow Logs
    "top packet transfers": (
        "stats sum(packets) as packetsTransferred by srcAddr, dstAddr\n"
        "| sort packetsTransferred  desc\n| limit 15"
    ),
    "top byte transfers for a subnet": (
        'filter isIpv4InSubnet(srcAddr, "10.0.0.0/16")\n'
        "| stats sum(bytes) as bytesTransferred by dstAddr\n"
        "| sort bytesTransferred  desc\n| limit 15"
    ),
    "UDP": "filter protocol=17 | stats count(*) by srcAddr",
    "SKIPDATA": 'filter logStatus="SKIPDATA"\n| stats count(*) by bin(1h) as t\n| sort t',
    "rejected": (
        'filter action="REJECT"\n| stats count(*) as numRejections by srcAddr\n'
        "| sort numRejections desc\n| limit 20"
    ),
    "avg min max": "stats avg(bytes), min(bytes), max(bytes) by srcAddr, dstAddr",
    "latest": "fields @timestamp, @message | sort @timestamp desc | limit 25",
}


def test_top_packet_transfers(table):
    res = q(table, SAMPLES["top packet transfers"])
    assert res.columns == ["srcAddr", "dstAddr", "packetsTransferred"]
    got = rows(res)
    assert got[0] == {"srcAddr": "10.0.1.10", "dstAddr": "10.0.2.20", "packetsTransferred": "15"}
    assert got[1] == {"srcAddr": "10.0.1.10", "dstAddr": "1.1.1.1", "packetsTransferred": "7"}


def test_bytes_by_destination_for_subnet(table):
    got = rows(q(table, SAMPLES["top byte transfers for a subnet"]))
    assert got == [
        {"dstAddr": "10.0.2.20", "bytesTransferred": "1500"},
        {"dstAddr": "1.1.1.1", "bytesTransferred": "700"},
        {"dstAddr": "8.8.8.8", "bytesTransferred": "300"},
    ]


def test_udp_sources(table):
    got = sorted(rows(q(table, SAMPLES["UDP"])), key=lambda r: r["srcAddr"])
    assert got == [{"srcAddr": "10.0.1.10", "count(*)": "1"}, {"srcAddr": "10.0.2.20", "count(*)": "1"}]


def test_skipdata_per_hour(table):
    res = q(table, SAMPLES["SKIPDATA"])
    assert res.columns == ["t", "count(*)"]
    assert rows(res) == [{"t": "2024-05-01 02:00:00.000", "count(*)": "2"}]
    assert res.statistics["recordsMatched"] == 2.0
    assert res.statistics["recordsScanned"] == float(len(RECORDS))


def test_rejected_by_source(table):
    got = rows(q(table, SAMPLES["rejected"]))
    assert got == [
        {"srcAddr": "203.0.113.7", "numRejections": "2"},
        {"srcAddr": "198.51.100.9", "numRejections": "1"},
    ]


def test_rejects_per_minute_and_port(table):
    got = rows(q(table, 'filter action="REJECT" | stats count(*) by bin(1m)'))
    assert got == [
        {"bin(1m)": "2024-05-01 00:01:00.000", "count(*)": "2"},
        {"bin(1m)": "2024-05-01 00:02:00.000", "count(*)": "1"},
    ]
    got = rows(
        q(table, 'filter action="REJECT" | stats count(*) as n by srcAddr, dstPort | sort n desc | limit 1')
    )
    assert got == [{"srcAddr": "203.0.113.7", "dstPort": "3389", "n": "2"}]


def test_avg_min_max(table):
    got = rows(
        q(table, SAMPLES["avg min max"] + ' | filter srcAddr = "10.0.1.10" | filter dstAddr = "10.0.2.20"')
    )
    assert got == [
        {
            "srcAddr": "10.0.1.10",
            "dstAddr": "10.0.2.20",
            "avg(bytes)": "750",
            "min(bytes)": "500",
            "max(bytes)": "1000",
        }
    ]


def test_latest_events_shape(table):
    res = q(table, SAMPLES["latest"])
    out = res.to_aws()
    assert len(out) == len(RECORDS)
    assert [c["field"] for c in out[0]] == ["@timestamp", "@message", "@ptr"]
    assert out[0][0]["value"] == "2024-05-01 02:01:00.000"
    ptr = out[0][2]["value"]
    assert table.get_log_record(ptr)["logStatus"] == "SKIPDATA"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_parse_and_run_unchanged(table, name):
    res = q(table, SAMPLES[name])
    assert res.statistics["bytesScanned"] > 0


# ---------------------------------------------------------------- semantics


def test_default_columns_order_and_ptr(table):
    res = q(table, 'filter action = "REJECT"')
    assert res.columns == ["@timestamp", "@message"]
    ts = res.frame["@timestamp"]
    assert ts.is_monotonic_decreasing
    assert all(r[-1]["field"] == "@ptr" for r in res.to_aws())


def test_stats_rows_have_no_ptr(table):
    assert all(c["field"] != "@ptr" for r in q(table, "stats count(*)").to_aws() for c in r)


def test_numbers_compare_numerically_and_strings_keep_zeros(table):
    assert len(q(table, "filter dstPort > 1000").frame) == 2
    assert len(q(table, 'filter dstPort = "22"').frame) == 3
    got = rows(q(table, "fields accountId | limit 1"))
    assert got[0]["accountId"] == "123456789010"
    res = q(
        table,
        'parse @message "* * * * * * * *" as v, a, e, s, d, sp, dp, rest | filter dp > 1000 | fields dp',
    )
    assert set(res.frame["dp"]) == {"3389"}


def test_limits(table):
    assert len(q(table, "fields @message", limit=3).frame) == 3
    assert len(q(table, "fields @message | limit 2").frame) == 2


def test_time_range(table):
    res = run_query("stats count(*)", table, start_ms=T0, end_ms=T0 + 59_999)
    assert rows(res) == [{"count(*)": "3"}]
    assert res.statistics["recordsScanned"] == 3.0


def test_functions_run(table):
    res = q(
        table,
        'filter ispresent(srcAddr) | fields concat(srcAddr, ":", dstPort) as ep,'
        " strlen(srcAddr) as n, tolower(action) as a, isValidIpV4(srcAddr) as ok,"
        ' coalesce(srcAddr, "none") as c, abs(-srcPort) as p | sort n desc | limit 1',
    )
    r = rows(res)[0]
    assert r["ep"].endswith(":3389") or r["ep"].endswith(":22")
    assert r["n"] == "12" and r["a"] == "reject" and r["ok"] == "1"


def test_like_in_regex_dedup(table):
    assert len(q(table, "filter @message like /REJECT/").frame) == 3
    assert len(q(table, 'filter @message like "NODATA"').frame) == 1
    assert len(q(table, "filter srcAddr =~ /^203\\./").frame) == 2
    assert len(q(table, 'filter action in ["REJECT"] and dstPort not in [22]').frame) == 2
    res = q(table, "filter ispresent(srcAddr) | sort @timestamp desc | dedup srcAddr")
    assert len(res.frame) == 4


def test_json_fields_discovered(table):
    got = rows(q(table, 'filter level = "ERROR" | fields level, latency, user.name'))
    assert got[0]["level"] == "ERROR" and got[0]["latency"] == "250"
    assert got[0]["user.name"] == "ana"


def test_parse_regex(table):
    res = q(
        table,
        "parse @message /(?<src>\\d+\\.\\d+\\.\\d+\\.\\d+) (?<dst>\\S+)/"
        ' | filter src = "198.51.100.9" | display dst',
    )
    assert res.columns == ["dst"]
    assert [r["dst"] for r in rows(res)] == ["10.0.1.10"]


def test_event_table_append_is_incremental():
    t = EventTable(_events(RECORDS[:4]))
    assert rows(run_query("stats count(*) by action", t, start_ms=0, end_ms=2**62))
    t.append(_events(RECORDS[4:]))
    got = rows(run_query('filter action = "REJECT" | stats count(*) as n', t, start_ms=0, end_ms=2**62))
    assert got == [{"n": "3"}]


def test_plain_dataframe_accepted():
    res = run_query("stats count(*)", _events(), start_ms=0, end_ms=2**62)
    assert res.to_aws() == [[{"field": "count(*)", "value": str(len(RECORDS))}]]


def test_format_time():
    assert format_time(T0 + 1234) == "2024-05-01 00:00:01.234"


# ---------------------------------------------------------------- differential (hypothesis)

_ACTIONS = ["ACCEPT", "REJECT"]
_ADDRS = ["10.0.1.1", "10.0.1.2", "10.0.2.1", "192.0.2.5", "198.51.100.7"]

record = st.tuples(
    st.sampled_from(_ADDRS),
    st.sampled_from(_ADDRS),
    st.sampled_from([22, 53, 80, 443, 3389]),
    st.sampled_from([1, 6, 17]),
    st.integers(1, 100),
    st.integers(40, 10_000),
    st.sampled_from(_ACTIONS),
    st.integers(0, 7200),
)


def _frame(recs):
    msgs, ts = [], []
    for src, dst, port, proto, pk, by, act, off in recs:
        start = T0 // 1000 + off
        msgs.append(
            f"2 123456789012 eni-1 {src} {dst} 40000 {port} {proto} {pk} {by} {start} {start + 60} {act} OK"
        )
        ts.append(start * 1000)
    events = pd.DataFrame(
        {
            "@timestamp": np.array(ts, dtype=np.int64),
            "@message": msgs,
            "@logStream": "eni-1-all",
            "@log": "1:/g",
            "@ingestionTime": np.array(ts, dtype=np.int64),
        }
    )
    typed = pd.DataFrame(
        recs, columns=["srcAddr", "dstAddr", "dstPort", "protocol", "packets", "bytes", "action", "off"]
    )
    return events, typed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    recs=st.lists(record, min_size=1, max_size=40),
    action=st.sampled_from(_ACTIONS),
    port=st.sampled_from([22, 53, 80, 443, 3389]),
    proto=st.sampled_from([1, 6, 17]),
    agg=st.sampled_from(["count", "sum"]),
    by=st.sampled_from(["srcAddr", "dstAddr", "dstPort", "protocol"]),
    n=st.integers(1, 5),
)
def test_differential_against_pandas(recs, action, port, proto, agg, by, n):
    events, typed = _frame(recs)
    cond = f'action = "{action}" and (dstPort = {port} or protocol = {proto})'
    mask = (typed["action"] == action) & ((typed["dstPort"] == port) | (typed["protocol"] == proto))
    sel = typed[mask]
    aggexpr = "count(*)" if agg == "count" else "sum(bytes)"
    res = run_query(
        f"filter {cond} | stats {aggexpr} as v by {by} | sort v desc, {by} asc | limit {n}",
        events,
        start_ms=0,
        end_ms=2**62,
    )
    exp = sel.groupby(by).size() if agg == "count" else sel.groupby(by)["bytes"].sum()
    exp = exp.reset_index(name="v")
    exp["key"] = exp[by].astype(str)
    num_key = by in ("dstPort", "protocol")
    exp = exp.sort_values(["v", by if num_key else "key"], ascending=[False, True], kind="stable").head(n)
    got = rows(res)
    assert [(r[by], r["v"]) for r in got] == [
        (str(k), str(v)) for k, v in zip(exp["key"], exp["v"], strict=True)
    ]

    res2 = run_query(
        f"filter {cond} | fields srcAddr, bytes | sort bytes desc | limit {n}",
        events,
        start_ms=0,
        end_ms=2**62,
    )
    want = sorted(sel["bytes"].tolist(), reverse=True)[:n]
    assert [int(x) for x in res2.frame["bytes"]] == want


def test_appending_after_a_query_keeps_the_table_queryable():
    # The emulator appends each delivery to its table, between queries: this used to fail
    # ("dtype of categories must be the same") once fields had been discovered.
    import pandas as pd

    from labkit.logsinsights import EventTable, run_query

    def batch(first_ms, actions):
        return pd.DataFrame({
            "@timestamp": [first_ms + i for i in range(len(actions))],
            "@message": pd.array([f"2 123456789012 eni-1 10.0.1.10 192.168.1.10 0 0 1 1 84 1 2 {a} OK"
                                  for a in actions], dtype="string[pyarrow]"),
            "@logStream": ["eni-1-all"] * len(actions),
            "@log": ["123456789012:/g"] * len(actions),
            "@ingestionTime": [first_ms] * len(actions),
        })

    table = EventTable(batch(1_000, ["ACCEPT", "REJECT"]))
    query = "stats count(*) as n by action | sort action"
    first = run_query(query, table, start_ms=0, end_ms=10**13).frame
    assert first["n"].tolist() == [1, 1]
    table.append(batch(2_000, ["REJECT", "REJECT", "ACCEPT"]))
    second = run_query(query, table, start_ms=0, end_ms=10**13).frame
    assert second["action"].tolist() == ["ACCEPT", "REJECT"]
    assert second["n"].tolist() == [2, 3]
