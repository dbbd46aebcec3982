"""FilterLogEvents filter patterns: each syntax element, and AWS's refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.logsinsights import InvalidFilterPatternError, compile_filter_pattern

FLOW = [
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 22 6 20 4249 "
    "1418530010 1418530070 REJECT OK",
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
    "1418530010 1418530070 ACCEPT OK",
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 "
    "1418530010 1418530070 REJECT OK",
    "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
]
TEXT = ["ERROR WARN message", "ERROR message", "WARN message", "Exiting with ERRORCODE: -1"]
APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /index.html HTTP/1.0" 404 5324',
    '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 403 4355',
]
JSON = [
    '{"eventType": "UpdateTrail", "sourceIPAddress": "123.123.0.1", "arrayKey": ["value", "x"],'
    ' "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null,'
    ' "ThisFlag": true, "latency": 700}',
    '{"eventType": "Other", "sourceIPAddress": "111.111.111.111", "latency": 20}',
    "not json at all",
]


def hits(pattern, messages):
    mask = compile_filter_pattern(pattern)(pd.Series(messages))
    assert isinstance(mask, np.ndarray) and mask.dtype == bool
    return [i for i, x in enumerate(mask) if x]


def test_empty_pattern_matches_everything():
    assert hits("", TEXT) == [0, 1, 2, 3]
    assert hits("   ", TEXT) == [0, 1, 2, 3]
    assert hits(None, TEXT) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("ERROR", [0, 1, 3]),  # substring: ERRORCODE counts
        ("ERROR WARN", [0]),  # all terms
        ("?ERROR ?WARN", [0, 1, 2, 3]),  # any term
        ("ERROR -WARN", [1, 3]),  # exclusion
        ('"ERROR" - "Exiting"', [0, 1]),  # the user guide's spacing
        ('"with ERRORCODE"', [3]),  # quoted phrase
        ("error", []),  # case-sensitive
        ("%ERR(OR|ORCODE):%", [3]),  # regex
    ],
)
def test_terms(pattern, expected):
    assert hits(pattern, TEXT) == expected


def test_flow_log_example_from_the_vpc_guide():
    pattern = (
        '[version, account, eni, source, destination, srcport, destport="22", '
        'protocol="6", packets, bytes, windowstart, windowend, action="REJECT", '
        "flowlogstatus]"
    )
    assert hits(pattern, FLOW) == [0]


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("[v, a, e, src, dst, sp, dp=22, rest, ...]", [0, 1]),  # numeric =
        ("[v, a, e, src, dst, sp, dp!=22, ...]", [2]),  # numeric != (NODATA '-' is no number)
        ("[..., action=REJECT, status]", [0, 2]),  # leading ellipsis
        ("[v, a, e, src=172.31.9.*, ...]", [0, 2]),  # wildcard
        ("[v, a, e, src, dst, sp>30000, ...]", [0, 2]),
        ("[v, a, e, src, dst, sp<=20641, ...]", [1]),
        ("[v, a, e, src, dst, sp>=49761 && sp<50000, ...]", [0, 2]),
        ("[v, a, e, src, dst, sp, dp=22 || dp=3389, ...]", [0, 1, 2]),
        ("[v, a, e, ..., action, status=NODATA]", [3]),  # middle ellipsis
        ("[v, a, e]", []),  # field count must match without ellipsis
    ],
)
def test_space_delimited_flow(pattern, expected):
    assert hits(pattern, FLOW) == expected


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("[ip, user, username, timestamp, request, status_code, bytes > 5000]", [1]),
        ("[ip, user, username, timestamp, request, status_code = 200, bytes]", [0]),
        ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", [1, 2]),
        ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", [1]),
        ("[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]", [1]),
        ("[..., status_code, bytes]", [0, 1, 2]),
        ("[ip, user, ...]", [0, 1, 2]),
        ("[..., request=*.html*, status_code=4*,]", [1]),  # the guide's trailing comma
    ],
)
def test_space_delimited_brackets_and_quotes_are_one_field(pattern, expected):
    assert hits(pattern, APACHE) == expected


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ('{ $.eventType = "UpdateTrail" }', [0]),
        ("{ $.eventType = Update* }", [0]),
        ("{ $.sourceIPAddress != 123.123.* }", [1]),
        ('{ $.arrayKey[0] = "value" }', [0]),
        ("{ $.objectList[1].id = 2 }", [0]),
        ("{ $.SomeObject IS NULL }", [0]),
        ("{ $.SomeOtherObject NOT EXISTS }", [0, 1]),
        ("{ $.ThisFlag IS TRUE }", [0]),
        ("{ $.latency >= 500 }", [0]),
        ("{ $.latency < 1e3 && $.eventType = Other }", [1]),
        ("{ ($.latency > 600 || $.eventType = Other) && $.sourceIPAddress = 111.* }", [1]),
        ("{ $.arrayKey = 1 }", []),  # an array is not a value node
    ],
)
def test_json_patterns(pattern, expected):
    assert hits(pattern, JSON) == expected


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("{ $.a = 1", "If a filter pattern starts with '{' it must end with '}'"),
        ("[a, b", "If a filter pattern starts with '[' it must end with ']'"),
        ("foo.bar", "Invalid character(s) in term 'foo.bar'"),
        ("?", "Invalid character(s) in term '?'"),
        ('""', "Invalid character(s) in term '\"\"'"),
        ("[a=1 && b=2]", "Invalid filter pattern"),  # && across two fields
        ("[a > x]", "Invalid filter pattern"),  # < > need a number
        ("{ }", "Invalid filter pattern"),
        ("{ $.a = }", "Invalid filter pattern"),
        ("[a, , b]", "Invalid filter pattern"),
    ],
)
def test_invalid_patterns(pattern, message):
    with pytest.raises(InvalidFilterPatternError) as err:
        compile_filter_pattern(pattern)
    assert str(err.value) == message
    assert err.value.code == "InvalidParameterException"


def test_vectorised_on_many_rows():
    msgs = pd.Series(FLOW * 25_000, dtype="str")
    mask = compile_filter_pattern("[..., dp=22, p, pk, b, s, e, action=REJECT, status]")(msgs)
    assert mask.sum() == 25_000  # 8th from the end of 14 fields is dstport
    mask = compile_filter_pattern("[v, a, e, s, d, sp, dp=22, ..., action=REJECT, st]")(msgs)
    assert mask.sum() == 25_000


@settings(max_examples=50, deadline=None)
@given(
    words=st.lists(st.sampled_from(["ERROR", "WARN", "INFO", "x1", "ok"]), min_size=1, max_size=6),
    terms=st.lists(
        st.tuples(st.sampled_from(["", "?", "-"]), st.sampled_from(["ERROR", "WARN", "INFO"])),
        min_size=1,
        max_size=3,
    ),
)
def test_terms_against_python(words, terms):
    msg = " ".join(words)
    must = [t for p, t in terms if p == ""]
    any_ = [t for p, t in terms if p == "?"]
    none = [t for p, t in terms if p == "-"]
    want = (
        all(t in msg for t in must)
        and (not any_ or any(t in msg for t in any_))
        and not any(t in msg for t in none)
    )
    pattern = " ".join(p + t for p, t in terms)
    assert bool(compile_filter_pattern(pattern)(pd.Series([msg]))[0]) == want
