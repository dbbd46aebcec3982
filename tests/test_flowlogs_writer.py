"""labkit.flowlogs.write and its building blocks: the exact inverse of read.

AWS's formats, from the Amazon VPC User Guide: "Flow log records" (fields, `-` for a value
that does not apply, Parquet data types), "Flow log files" (S3 text objects gzip'd with a
header line; Parquet objects), and the CloudWatch Logs delivery ("Publish flow logs to
CloudWatch Logs": one log stream per network interface).
"""

import gzip

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import flowlogs as fl
from labkit.flowlogs.fields import CATEGORIES, FIELDS
from labkit.lab import sampledata as sd

V5 = fl.parse_format(fl.LAB_FORMAT)


def _frame(rows: list[dict], fields: list[str]) -> pd.DataFrame:
    """A frame as read() returns it, built by reading the records' text lines."""
    lines = [" ".join("-" if r.get(f) is None else str(r[f]) for f in fields) for r in rows]
    return fl.read(lines, format=fields)


def test_record_lines_from_an_arrow_table_with_ints_timestamps_and_gaps():
    table = pa.table({
        "version": pa.array([2, 2], pa.int32()),
        "account_id": ["012345678901", "012345678901"],
        "start": pa.array([1418530010, None], pa.int64()),
        "end": pa.array(pd.to_datetime([1418530070, 1418530070], unit="s", utc=True)),
        "action": pa.array(["ACCEPT", None]).dictionary_encode(),
    })
    lines = fl.record_lines(table, "${version} ${account-id} ${start} ${end} ${action} ${log-status}")
    assert isinstance(lines, pa.StringArray)
    assert lines.to_pylist() == [
        "2 012345678901 1418530010 1418530070 ACCEPT -",
        "2 012345678901 - 1418530070 - -",
    ]


def test_record_lines_from_a_dataframe_with_categoricals():
    df = pd.DataFrame({
        "interface_id": ["eni-1", "eni-2"],
        "action": pd.Categorical(["REJECT", "ACCEPT"]),
        "srcport": pd.array([22, None], dtype="Int32"),
    })
    assert fl.record_lines(df, ["interface-id", "srcport", "action"]).to_pylist() == [
        "eni-1 22 REJECT",
        "eni-2 - ACCEPT",
    ]
    assert fl.record_lines(df.iloc[:0], ["interface-id"]).to_pylist() == []


def test_text_object_is_deterministic_with_the_header_first():
    fields = ["version", "srcaddr", "log-status"]
    df = _frame([{"version": 2, "srcaddr": "10.0.0.1", "log-status": "OK"}], fields)
    body = fl.text_object(df, fields)
    assert body == fl.text_object(df, fields)
    assert body[:2] == b"\x1f\x8b" and body[4:8] == b"\0\0\0\0"  # gzip, mtime 0
    assert gzip.decompress(body) == b"version srcaddr log-status\n2 10.0.0.1 OK\n"
    assert fl.text_object(df, "${version}", compress=False) == b"version\n2\n"


def test_parquet_object_has_aws_names_and_types():
    """Parquet data types from the "Available fields" table: INT_32 / INT_64 / STRING."""
    df = sd.load()
    data = fl.parquet_object(df, V5)
    schema = pq.read_schema(pa.BufferReader(data))
    assert schema.names == [FIELDS[f].column for f in V5]
    want = {"INT_32": pa.int32(), "INT_64": pa.int64(), "STRING": pa.string()}
    assert [schema.field(c).type for c in schema.names] == [want[FIELDS[f].parquet] for f in V5]
    table = pq.read_table(pa.BufferReader(data))
    nodata = pc_equal(table, "log_status", "NODATA")
    assert nodata.column("srcport").null_count == nodata.num_rows  # integers: null
    assert set(nodata.column("srcaddr").to_pylist()) == {"-"}  # strings: "-", as in text


def test_parquet_object_is_gzip_compressed_and_deterministic():
    """"Flow log files": "Data in Parquet format with Gzip compression"."""
    df = sd.load()
    data = fl.parquet_object(df, V5)
    assert data == fl.parquet_object(df, V5)
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    group = meta.row_group(0)
    assert {group.column(c).compression for c in range(group.num_columns)} == {"GZIP"}


def pc_equal(table: pa.Table, column: str, value: str) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.equal(table.column(column), value))


@pytest.mark.parametrize("name", ["out.log", "out.log.gz", "out.parquet"])
def test_write_then_read_gives_the_frame_back(tmp_path, name):
    df = sd.load().drop(columns=["log_stream", "event_timestamp"])
    path = fl.write(df, tmp_path / name)
    pd.testing.assert_frame_equal(fl.read(path), df)


def test_cloudwatch_events_round_trip_with_stream_and_timestamp():
    df = sd.load()
    events = fl.write(df)
    assert events[0].keys() == {"timestamp", "message", "logStreamName"}
    assert events[0]["logStreamName"].endswith("-all")
    back = fl.read(events, format=fl.fields_of_frame(df))
    pd.testing.assert_frame_equal(back, df)
    plain = df.drop(columns=["log_stream", "event_timestamp"])
    fresh = fl.write(plain, "cloudwatch")
    assert fresh[0]["timestamp"] == int(plain.start.iloc[0].timestamp()) * 1000
    assert fresh[0]["logStreamName"] == plain.interface_id.iloc[0] + "-all"


def test_write_refuses_an_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.log\.gz"):
        fl.write(sd.load(), tmp_path / "out.csv")


def test_concat_of_reads_keeps_every_dtype():
    """Each sample Parquet object read on its own, then concatenated: the dtypes do not move
    (protocol used to turn into float64)."""
    files = sorted((sd.SAMPLE_DIR / "s3-parquet").rglob("*.parquet"))
    frames = [fl.read(p) for p in files]
    assert len({tuple(f.dtypes.astype(str)) for f in frames}) == 1
    whole = pd.concat(frames, ignore_index=True)
    assert (whole.dtypes == frames[0].dtypes).all()
    assert str(whole.protocol.dtype) == "int32[pyarrow]"
    assert list(whole.log_status.cat.categories) == sorted(CATEGORIES["log-status"])


_VALUE = {
    "int32": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
    "int64": st.one_of(st.none(), st.integers(0, 2**62)),
    "time": st.one_of(st.none(), st.integers(0, 2**33)),
    "string": st.one_of(
        st.none(), st.text("abcXYZ019.:-_/", min_size=1, max_size=12).filter(lambda s: s != "-")
    ),
}


def _value(name: str):
    kind = FIELDS[name].kind
    if kind == "category":
        return st.one_of(st.none(), st.sampled_from(CATEGORIES[name]))
    return _VALUE[kind]


@st.composite
def frames(draw):
    fields = draw(st.lists(st.sampled_from(list(FIELDS)), min_size=1, max_size=8, unique=True))
    rows = draw(st.lists(st.fixed_dictionaries({f: _value(f) for f in fields}), min_size=1, max_size=6))
    return _frame(rows, fields), fields


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames())
@pytest.mark.filterwarnings("ignore::labkit.flowlogs.FlowLogVersionWarning")  # random versions, on purpose
def test_property_read_inverts_write(tmp_path, frame_and_fields):
    df, fields = frame_and_fields
    for name in ("p.log", "p.log.gz", "p.parquet"):
        pd.testing.assert_frame_equal(fl.read(fl.write(df, tmp_path / name)), df)
    if "start" in fields and df.start.notna().all():
        back = fl.read(fl.write(df), format=fields)
        pd.testing.assert_frame_equal(back.drop(columns=["log_stream", "event_timestamp"]), df)
