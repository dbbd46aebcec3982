"""Every kind of source: files, gzip, directories, Parquet, CloudWatch Logs events."""

import gzip
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labkit import flowlogs as fl

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
