"""Every kind of source: files, gzip, directories, Parquet, CloudWatch Logs events,
subscription payloads, NDJSON; and the version check."""

import base64
import gzip
import json
import subprocess
import sys
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import flowlogs as fl
from labkit.flowlogs.reader import FlowLogVersionWarning

LINES = [
    "2 012345678901 eni-0abc1d2e3f4a5b6c7 10.0.1.10 192.168.1.10 0 0 1 60 5040 1736935200 1736935259 ACCEPT OK",  # noqa: E501
    "2 012345678901 eni-0abc1d2e3f4a5b6c7 203.0.113.9 10.0.1.10 50123 22 6 1 40 1736935210 1736935211 REJECT OK",  # noqa: E501
    "2 012345678901 eni-0abc1d2e3f4a5b6c7 - - - - - - - 1736935260 1736935319 - NODATA",
]
HEADER = " ".join(fl.DEFAULT_FIELDS)


def test_plain_gz_and_bytes_agree(tmp_path):
    text = HEADER + "\n" + "\n".join(LINES)  # no final newline
    (tmp_path / "a.log").write_text(text)
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(text.encode()))
    a = fl.read(tmp_path / "a.log")
    b = fl.read(str(tmp_path / "b.log.gz"))
    c = fl.read(text.encode())
    d = fl.read(iter(LINES))
    for other in (b, c, d):
        assert a.equals(other)
    assert len(a) == 3 and a.account_id[0] == "012345678901"


def test_directory_recursive_sorted(tmp_path):
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "2.log").write_text(HEADER + "\n" + LINES[1] + "\n")
    (tmp_path / "x" / "1.log").write_text(HEADER + "\n" + LINES[0] + "\n")
    (tmp_path / "README.md").write_text("not a flow log")
    df = fl.read(tmp_path)
    assert list(df.srcaddr) == ["10.0.1.10", "203.0.113.9"]


def test_directory_bad_line_names_the_file(tmp_path):
    (tmp_path / "ok.log").write_text(HEADER + "\n" + LINES[0] + "\n")
    (tmp_path / "zz.log").write_text(HEADER + "\n" + LINES[1] + "\n2 3\n")
    with pytest.raises(fl.FlowLogParseError, match=r"zz\.log, line 3"):
        fl.read(tmp_path)
    df = fl.read(tmp_path, on_error="collect")
    assert len(df) == 2 and df.attrs["bad_lines"][0]["source"].endswith("zz.log")


def test_parquet_as_aws_writes_it(tmp_path):
    t = pa.table({
        "version": pa.array([2, 2, 2], pa.int32()),
        "account_id": ["012345678901"] * 3,
        "interface_id": ["eni-0abc1d2e3f4a5b6c7"] * 3,
        "srcaddr": ["10.0.1.10", "None", "-"],
        "dstaddr": ["192.168.1.10", "-", "-"],
        "srcport": pa.array([0, None, None], pa.int32()),
        "dstport": pa.array([0, None, None], pa.int32()),
        "protocol": pa.array([1, None, None], pa.int32()),
        "packets": pa.array([60, None, None], pa.int64()),
        "bytes": pa.array([5040, None, None], pa.int64()),
        "start": pa.array([1736935200] * 3, pa.int64()),
        "end": pa.array([1736935259] * 3, pa.int64()),
        "action": ["ACCEPT", "-", "None"],
        "log_status": ["OK", "NODATA", "SKIPDATA"],
    })
    p = tmp_path / "x.log.parquet"
    pq.write_table(t, p)
    df = fl.read(p)
    assert df.srcaddr.isna().tolist() == [False, True, True]
    assert df.action.isna().tolist() == [False, True, True]
    assert str(df.srcport.dtype) == "int32[pyarrow]"
    assert df.protocol_name[0] == "ICMP"
    text = fl.read([HEADER] + LINES[:1])
    assert df.iloc[:1].equals(text) or df.iloc[:1].reset_index(drop=True).astype(str).equals(
        text.astype(str))


def test_parquet_bad_value_reported(tmp_path):
    t = pa.table({"version": ["2", "x"], "srcaddr": ["1.1.1.1", "2.2.2.2"]})
    p = tmp_path / "bad.parquet"
    pq.write_table(t, p)
    df = fl.read(p, on_error="collect")
    assert len(df) == 1
    assert df.attrs["bad_lines"][0]["line"] == 2 and "version" in df.attrs["bad_lines"][0]["reason"]


def _events(stream="eni-0abc1d2e3f4a5b6c7-all"):
    return [
        {"logStreamName": stream, "timestamp": 1736935200000 + i, "message": m,
         "ingestionTime": 1736935500000, "eventId": str(i)}
        for i, m in enumerate(LINES)
    ]


def test_cloudwatch_events():
    df = fl.read(_events())
    assert len(df) == 3
    assert list(df.columns[-2:]) == ["log_stream", "event_timestamp"]
    assert df.log_stream[0] == "eni-0abc1d2e3f4a5b6c7-all"
    assert str(df.event_timestamp.dtype) == "timestamp[ms, tz=UTC][pyarrow]"
    assert fl.read({"events": _events()}).equals(df)


def test_cloudwatch_events_bad_message():
    ev = _events()
    ev[1]["message"] = "2 012345678901 eni-x oops"
    with pytest.raises(fl.FlowLogParseError, match="line 2"):
        fl.read(ev)
    df = fl.read(ev, on_error="collect")
    assert list(df.event_timestamp.astype("int64") // 10**6) != []
    assert len(df) == 2 and df.attrs["bad_lines"][0]["source"].endswith("-all")
    assert df.srcaddr.tolist() == ["10.0.1.10", None] or df.srcaddr.isna().tolist() == [
        False, True]


def test_event_without_message_is_a_bad_line():
    ev = _events()
    del ev[1]["message"]
    with pytest.raises(fl.FlowLogParseError, match="line 2: the event has no message"):
        fl.read(ev)
    df = fl.read(ev, on_error="collect")
    assert len(df) == 2 and df.attrs["bad_lines"][0]["source"] == "<events>#eni-0abc1d2e3f4a5b6c7-all"


def test_cloudwatch_export_file_with_format(tmp_path):
    fmt = "${srcaddr} ${action} ${log-status}"
    doc = {
        "logGroupName": "/x",
        "logFormat": fmt,
        "logStreams": {
            "eni-2-all": [{"timestamp": 2000, "message": "10.0.0.2 REJECT OK"}],
            "eni-1-all": [{"timestamp": 1000, "message": "10.0.0.1 ACCEPT OK"}],
        },
    }
    p = tmp_path / "export.json"
    p.write_text(json.dumps(doc))
    df = fl.read(p)
    assert list(df.columns) == ["srcaddr", "action", "log_status", "log_stream", "event_timestamp"]
    assert list(df.log_stream) == ["eni-1-all", "eni-2-all"]
    assert fl.read(p.read_text() and doc).equals(df)
    p2 = tmp_path / "list.json"
    p2.write_text(json.dumps(_events()))
    assert len(fl.read(p2)) == 3


def test_no_boto3_import():
    code = "import sys, labkit.flowlogs; sys.exit('boto3' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------- CloudWatch Logs subscription payloads

STREAM = "eni-0abc1d2e3f4a5b6c7-all"


def _written_events():
    """The records of LINES as CloudWatch Logs events, built by the writer."""
    return fl.write(fl.read(LINES), None)


def _payload(events, stream=STREAM, kind="DATA_MESSAGE"):
    """A subscription payload, in the shape of the CloudWatch Logs User Guide's example
    ("Validate the flow of log events"): owner, logGroup, logStream, subscriptionFilters,
    messageType, logEvents of {id, timestamp, message}."""
    return {
        "owner": "012345678901",
        "logGroup": "/labkit/flowlogs",
        "logStream": stream,
        "subscriptionFilters": ["to-firehose"],
        "messageType": kind,
        "logEvents": [
            {"id": f"{36000000000000000000000000000000000000000000000000000000 + i}",
             "timestamp": e["timestamp"], "message": e["message"]}
            for i, e in enumerate(events)
        ],
    }


def _gz(doc) -> bytes:
    return gzip.compress(json.dumps(doc).encode())


def _quiet_read(*args, **kwargs):
    """read() that fails on any warning: the sources below agree with their format."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fl.read(*args, **kwargs)


def test_subscription_payload_as_lambda_and_kinesis_receive_it(tmp_path):
    """CloudWatch Logs User Guide, "Using CloudWatch Logs subscription filters" and "Validate
    the flow of log events": what a subscription delivers is gzip'd JSON (base64 in Lambda's
    ``awslogs.data`` and in Kinesis records) with messageType DATA_MESSAGE and logEvents."""
    events = _written_events()
    expected = fl.read(events)
    data = _gz(_payload(events))
    (tmp_path / "one.gz").write_bytes(data)
    for source in (
        tmp_path / "one.gz",
        data,
        gzip.decompress(data),
        json.loads(gzip.decompress(data)),
        {"awslogs": {"data": base64.b64encode(data).decode()}},  # the event Lambda receives
    ):
        df = _quiet_read(source)
        assert df.equals(expected), type(source)
        assert df.attrs["bad_lines"] == [] and df.attrs["control_messages"] == []
    assert list(df.log_stream.unique()) == [STREAM] and df.srcaddr[1] == "203.0.113.9"


def test_control_message_is_skipped_and_reported_never_malformed(tmp_path):
    """"Validate the flow of log events": CloudWatch Logs may send CONTROL_MESSAGE records,
    mainly to check that the destination is reachable; they carry no log data."""
    control = _payload([], stream="", kind="CONTROL_MESSAGE")
    control["logEvents"] = [{"id": "", "timestamp": 1736935000000, "message": "checking the destination"}]
    p = tmp_path / "firehose-object"  # Firehose objects have no extension
    p.write_bytes(_gz(control) + _gz(_payload(_written_events())))
    df = fl.read(p, on_error="raise")
    assert len(df) == 3 and df.attrs["bad_lines"] == []
    assert df.attrs["control_messages"] == [
        {"source": str(p), "payload": 1, "messages": ["checking the destination"]}
    ]
    only_control = fl.read(_gz(control))
    assert len(only_control) == 0 and len(only_control.attrs["control_messages"]) == 1


def test_firehose_objects_concatenated_or_newline_delimited(tmp_path):
    """Amazon Data Firehose, "Understand data delivery": to S3, Firehose concatenates records
    without delimiters unless a newline delimiter is configured; CloudWatch Logs records
    reach Firehose gzip'd ("Writing to Amazon Data Firehose using CloudWatch Logs"), or
    decompressed when the stream decompresses them."""
    events = _written_events()
    first, second = _payload(events[:2]), _payload(events[2:], stream="eni-2-all")
    expected = fl.read(events)
    expected.loc[2, "log_stream"] = "eni-2-all"
    shapes = {
        "members.gz": _gz(first) + _gz(second),  # gzip members, no delimiter
        "plain": (json.dumps(first) + json.dumps(second)).encode(),  # decompressed, no delimiter
        "lines.json": (json.dumps(first) + "\n" + json.dumps(second) + "\n").encode(),
        "pretty.json": (json.dumps(first, indent=2) + "\n" + json.dumps(second, indent=2)).encode(),
    }
    for name, data in shapes.items():
        (tmp_path / name).write_bytes(data)
        assert _quiet_read(tmp_path / name).equals(expected), name
    # a directory takes the .gz and .json objects (a name without extension is read when named)
    assert len(fl.read(tmp_path)) == 9


def test_bad_record_in_a_payload_names_file_payload_stream_and_event(tmp_path):
    events = _written_events()
    events[1]["message"] = "2 012345678901 eni-x oops"
    p = tmp_path / "two.gz"
    p.write_bytes(_gz(_payload(events[:1])) + _gz(_payload(events)))
    with pytest.raises(fl.FlowLogParseError, match=rf"two\.gz payload 2 {STREAM}, line 2: expected 14"):
        fl.read(p)
    df = fl.read(p, on_error="collect")
    assert len(df) == 3
    [bad] = df.attrs["bad_lines"]
    assert bad["source"] == f"{p} payload 2 {STREAM}" and bad["text"] == "2 012345678901 eni-x oops"


def test_unknown_message_type_and_foreign_json_are_bad_lines(tmp_path):
    odd = _payload(_written_events(), kind="SOMETHING_ELSE")
    p = tmp_path / "odd.ndjson"
    p.write_text(json.dumps(_payload(_written_events())) + "\n" + json.dumps(odd) + "\n" + '{"a": 1}\n')
    with pytest.raises(fl.FlowLogParseError, match=r"odd\.ndjson, line 2: subscription payload 2: message"):
        fl.read(p)
    df = fl.read(p, on_error="collect")
    assert len(df) == 3
    assert [(b["line"], b["reason"][:24]) for b in df.attrs["bad_lines"]] == [
        (2, "subscription payload 2: "), (3, "not a CloudWatch Logs ev")]


# ------------------------------------------------------------------------------ NDJSON


def test_ndjson_events_one_per_line(tmp_path):
    """One event per line, as ``aws logs filter-log-events ... | jq -c '.events[]'`` writes
    them (FilterLogEvents' events: timestamp, message, logStreamName, ingestionTime, eventId)."""
    events = _written_events()
    for i, e in enumerate(events):
        e.update(ingestionTime=1736935500000, eventId=str(i))
    ndjson = "".join(json.dumps(e) + "\n" for e in events)
    (tmp_path / "events.ndjson").write_text(ndjson)
    (tmp_path / "gaps.jsonl").write_text(ndjson.replace("\n", "\n\n", 1))  # a blank line: slow route
    expected = fl.read(events)
    assert _quiet_read(tmp_path / "events.ndjson").equals(expected)
    assert _quiet_read(tmp_path / "gaps.jsonl").equals(expected)
    assert _quiet_read(ndjson).equals(expected)  # text holding NDJSON
    only_messages = "".join(json.dumps({"message": m}) + "\n" for m in LINES)
    df = _quiet_read(only_messages.encode())
    assert len(df) == 3 and df.event_timestamp.isna().all() and df.log_stream.isna().all()


@pytest.mark.parametrize("gap", ["", "\n"])
def test_ndjson_bad_message_and_bad_json_are_numbered_by_file_line(tmp_path, gap):
    events = _written_events()
    lines = [json.dumps(e) for e in events]
    lines[1] = json.dumps({**events[1], "message": "2 3"})
    lines.insert(2, '{"timestamp": 1, "message": ')  # cut short
    p = tmp_path / "x.ndjson"
    p.write_text(gap + "\n".join(lines) + "\n")
    df = fl.read(p, on_error="collect")
    assert len(df) == 2
    bad = sorted((b["line"], b["reason"][:9]) for b in df.attrs["bad_lines"])
    offset = len(gap)
    assert bad == [(2 + offset, "expected "), (3 + offset, "not JSON:")]  # then line 4 is read
    assert df.attrs["bad_lines"][0]["source"].startswith(str(p))


# -------------------------------------------------------------------------- versions


def test_version_that_disagrees_with_the_format_warns_with_file_and_line(tmp_path):
    """Amazon VPC User Guide, "Flow log records": version is the highest version among the
    format's fields. Version 2 records read with the lab's (version 5) format, or a custom
    version 3 record read as the default format, were written with another format."""
    values = {"version": 2, "account-id": "012345678901", "interface-id": "eni-1", "start": 1, "end": 2,
              "log-status": "OK", "flow-direction": "ingress", "traffic-path": 1}
    v2_lines = [fl.format_record(fl.LAB_FIELDS, values)] * 2
    p = tmp_path / "lab.log"
    p.write_text("\n" + "\n".join(v2_lines) + "\n")  # a blank first line: robust route
    says = r"lab\.log, line 2: the record says version 2, .* of version 5"
    with pytest.warns(FlowLogVersionWarning, match=says):
        df = fl.read(p, format=fl.LAB_FORMAT)
    assert len(df) == 2 and (df.version == 2).all()  # kept as read
    assert df.attrs["version_mismatches"] == [
        {"source": str(p), "line": 2, "version": 2, "expected": 5, "records": 2}]

    header = " ".join(fl.DEFAULT_FIELDS)
    v3 = LINES[0].replace("2 ", "3 ", 1)
    q = tmp_path / "custom.log"
    q.write_text(header + "\n" + LINES[1] + "\n\n" + v3 + "\n")  # tidy: the fast route
    with pytest.warns(FlowLogVersionWarning, match=r"custom\.log, line 4: .* version 3, .* 1 record"):
        fl.read(q)
    events = [{"timestamp": 1, "message": m} for m in (LINES[0], v3)]
    with pytest.warns(FlowLogVersionWarning, match=r"<events>, line 2"):
        fl.read(events)
    with pytest.warns(FlowLogVersionWarning, match=r"payload 1 .*, line 2"):
        fl.read(_gz(_payload(events)))


def test_parquet_version_checked_and_agreeing_sources_are_quiet(tmp_path):
    df = fl.read(LINES)
    pq.write_table(pa.table({"version": pa.array([2, 5], pa.int32()), "srcaddr": ["a", "b"]}),
                   tmp_path / "v.parquet")
    with pytest.warns(FlowLogVersionWarning, match=r"v\.parquet, line 2"):
        fl.read(tmp_path / "v.parquet")
    fl.write(df, tmp_path / "ok.parquet")
    fl.write(df, tmp_path / "ok.log.gz")
    for source in (tmp_path / "ok.parquet", tmp_path / "ok.log.gz", LINES, _written_events()):
        assert _quiet_read(source).attrs["version_mismatches"] == []
    assert _quiet_read(["10.0.0.1 ACCEPT"], format="${srcaddr} ${action}").attrs["version_mismatches"] == []


# ----------------------------------------------------------------------- round trip

_RECORD = st.tuples(
    st.integers(0, 65535), st.integers(0, 65535), st.sampled_from([1, 6, 17]), st.integers(1, 10**6),
    st.sampled_from(["ACCEPT", "REJECT"]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_RECORD, min_size=1, max_size=12), cuts=st.lists(st.integers(1, 11), max_size=3),
       framing=st.sampled_from(["gzip members", "concatenated", "newlines", "ndjson events"]))
def test_round_trip_through_every_json_framing(records, cuts, framing):
    lines = [
        f"2 012345678901 eni-0abc1d2e3f4a5b6c7 10.0.1.10 198.51.100.{i % 250} {sp} {dp} {proto} "
        f"{n} {n * 40} {1736935200 + i} {1736935260 + i} {action} OK"
        for i, (sp, dp, proto, n, action) in enumerate(records)
    ]
    events = fl.write(fl.read(lines), None)
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    payloads = [_payload(events[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    if framing == "gzip members":
        data = b"".join(_gz(p) for p in payloads)
    elif framing == "concatenated":
        data = "".join(json.dumps(p) for p in payloads).encode()
    elif framing == "newlines":
        data = "\n".join(json.dumps(p) for p in payloads).encode()
    else:
        data = "\n".join(json.dumps(e) for e in events).encode()
    assert _quiet_read(data).equals(fl.read(events))
