"""lab.athena: the same SQL on Athena (live, answered by botocore's Stubber) and on DuckDB (offline).

Specification: Amazon Athena User Guide, "Create tables for flow logs in Apache Parquet format"
(https://docs.aws.amazon.com/athena/latest/ug/vpc-flow-logs-parquet.html: the columns and their
types) and "... using partition projection" (vpc-flow-logs-partition-projection-parquet-example.html:
``projection.*`` and ``storage.location.template``); the Athena API reference for
StartQueryExecution, GetQueryExecution (states QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED;
Statistics.DataScannedInBytes) and GetQueryResults (the first row of a SELECT's first page holds
the column names; NextToken pages the rest). "CREATE DATABASE"
(https://docs.aws.amazon.com/athena/latest/ug/create-database.html: ``WITH DBPROPERTIES``, custom
properties that ``aws glue get-database`` shows as the database's Parameters); the AWS Glue API
(GetDatabase, GetTables, DeleteTable, DeleteDatabase; EntityNotFoundException; deleting a database
deletes its tables).
"""

from __future__ import annotations

import re

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber

from labkit import LabError
from labkit.analysis import athena
from labkit.analysis.athena import ATHENA_COLUMNS, athena_ddl, database_ddl, partition_of, run_athena
from labkit.lab import Lab, inventory
from labkit.lab.replay import ReplayLab
from labkit.lab.sampledata import SAMPLE_DIR

ACCOUNT = "210987654321"
REGION = "eu-west-1"
BUCKET = f"flowlogs-lab-flowlogs-{ACCOUNT}-{REGION}"


def _live_lab() -> Lab:
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=REGION)
    return Lab(mode="live", name="flowlogs-lab", region=REGION, session=session, account_id=ACCOUNT)


@pytest.fixture
def live(monkeypatch):
    monkeypatch.setattr(athena, "_tables_ready", set())
    monkeypatch.setattr("labkit.lab.wait.time.sleep", lambda s: None)
    lab = _live_lab()
    stubber = Stubber(lab.client("athena"))
    with stubber:
        yield lab, stubber
    stubber.assert_no_pending_responses()


def _expect_run(stubber, sql: str, query_id: str, states: list[str], reason: str = "",
                scanned: int = 0) -> None:
    stubber.add_response(
        "start_query_execution", {"QueryExecutionId": query_id},
        {"QueryString": sql, "QueryExecutionContext": {"Database": "flowlogs_lab"},
         "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena-results/"}})
    for state in states:
        status = {"State": state, **({"StateChangeReason": reason} if reason else {})}
        stubber.add_response("get_query_execution", {"QueryExecution": {
            "QueryExecutionId": query_id, "Status": status,
            "Statistics": {"DataScannedInBytes": scanned, "EngineExecutionTimeInMillis": 42}}},
            {"QueryExecutionId": query_id})


def _page(rows: list[list[str]], token: str | None = None) -> dict:
    page = {"ResultSet": {
        "Rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
        "ResultSetMetadata": {"ColumnInfo": [
            {"Name": "srcaddr", "Type": "varchar"}, {"Name": "total", "Type": "bigint"}]}}}
    if token:
        page["NextToken"] = token
    return page


def test_ddl_is_awss_parquet_table_with_projection_over_the_hive_layout():
    lab = _live_lab()
    ddl = athena_ddl(lab, first_year=2026)
    for name, kind in ATHENA_COLUMNS:
        assert f"`{name}` {kind}" in ddl
    assert "PARTITIONED BY (`year` string, `month` string, `day` string, `hour` string)" in ddl
    assert "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" in ddl
    prefix = f"s3://{BUCKET}/AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region={REGION}/"
    assert f"LOCATION '{prefix}'" in ddl
    template = f"{prefix}year=${{year}}/month=${{month}}/day=${{day}}/hour=${{hour}}"
    assert f'"storage.location.template" = "{template}"' in ddl
    assert '"projection.enabled" = "true"' in ddl
    assert '"projection.year.range" = "2026,2036"' in ddl
    assert '"projection.hour.range" = "0,23"' in ddl and '"projection.hour.digits" = "2"' in ddl


def test_live_creates_the_table_once_polls_and_pages_results(live):
    lab, stubber = live
    _expect_run(stubber, database_ddl(lab), "q-db", ["SUCCEEDED"])
    _expect_run(stubber, athena_ddl(lab), "q-ddl", ["QUEUED", "SUCCEEDED"])
    sql = "SELECT srcaddr, sum(bytes) AS total FROM vpc_flow_logs GROUP BY 1"
    _expect_run(stubber, sql, "q-1", ["QUEUED", "RUNNING", "SUCCEEDED"], scanned=123456)
    stubber.add_response("get_query_results", _page([["srcaddr", "total"], ["10.0.1.10", "900"]], "t2"),
                         {"QueryExecutionId": "q-1"})
    stubber.add_response("get_query_results", _page([["10.0.1.11", "80"]]),
                         {"QueryExecutionId": "q-1", "NextToken": "t2"})
    frame = run_athena(lab, sql, progress=False)
    assert frame["srcaddr"].tolist() == ["10.0.1.10", "10.0.1.11"]
    assert frame["total"].tolist() == [900, 80] and str(frame["total"].dtype) == "Int64"
    assert frame.attrs["statistics"]["DataScannedInBytes"] == 123456
    # The second query goes straight to StartQueryExecution: the table exists now.
    _expect_run(stubber, sql, "q-2", ["SUCCEEDED"])
    stubber.add_response("get_query_results", _page([["srcaddr", "total"]]), {"QueryExecutionId": "q-2"})
    assert run_athena(lab, sql, progress=False).empty


def test_live_database_and_table_carry_the_labs_ownership():
    lab = _live_lab()
    assert database_ddl(lab) == ("CREATE DATABASE IF NOT EXISTS `flowlogs_lab` "
                                 "WITH DBPROPERTIES ('Project' = 'flowlogs-lab', 'ManagedBy' = 'labkit')")
    ddl = athena_ddl(lab)
    assert '"Project" = "flowlogs-lab"' in ddl and '"ManagedBy" = "labkit"' in ddl


OURS = {"Project": "flowlogs-lab", "ManagedBy": "labkit"}


@pytest.fixture
def glue_only(monkeypatch):
    """A confirmed live lab whose account holds nothing but what the Glue Stubber answers."""
    for other in ("_ec2_candidates", "_iam_candidates", "_log_group_candidates", "_bucket_candidates"):
        monkeypatch.setattr(inventory, other, lambda *args: iter(()))
    lab = _live_lab()
    stubber = Stubber(lab.client("glue"))
    with stubber:
        yield lab, stubber
    stubber.assert_no_pending_responses()


def _glue_catalog(stubber, database_parameters: dict, tables: dict[str, dict]) -> None:
    database = {"Name": "flowlogs_lab", "Parameters": database_parameters}
    stubber.add_response("get_database", {"Database": database}, {"Name": "flowlogs_lab"})
    stubber.add_response("get_tables", {"TableList": [
        {"Name": name, "DatabaseName": "flowlogs_lab", "Parameters": parameters}
        for name, parameters in tables.items()]}, {"DatabaseName": "flowlogs_lab"})


def test_live_teardown_drops_the_labs_athena_table_then_its_database(glue_only, capsys, monkeypatch):
    lab, stubber = glue_only
    monkeypatch.setattr(athena, "_tables_ready", {(ACCOUNT, REGION, "flowlogs_lab")})
    _glue_catalog(stubber, OURS, {"vpc_flow_logs": {**OURS, "EXTERNAL": "TRUE"}})
    stubber.add_response("delete_table", {}, {"DatabaseName": "flowlogs_lab", "Name": "vpc_flow_logs"})
    stubber.add_response("delete_database", {}, {"Name": "flowlogs_lab"})
    report = lab.teardown(progress=False)
    assert [(o.kind, o.id) for o in report.deleted] == [("glue-table", "flowlogs_lab.vpc_flow_logs"),
                                                       ("glue-database", "flowlogs_lab")]
    assert "glue-database flowlogs_lab" in capsys.readouterr().out  # shown before it goes
    # The next live query creates the database and table again.
    assert (ACCOUNT, REGION, "flowlogs_lab") not in athena._tables_ready


def test_live_teardown_leaves_a_glue_catalog_the_lab_did_not_make(glue_only):
    lab, stubber = glue_only
    _glue_catalog(stubber, {"Project": "flowlogs-lab"}, {"vpc_flow_logs": {}})  # no ManagedBy=labkit
    report = lab.teardown(progress=False)  # and no delete queued: any would fail the Stubber
    assert report.deleted == []
    assert {f.item.kind: f.why for f in report.left_alone} == {
        "glue-table": "not created by labkit: left alone (no ManagedBy=labkit tag)",
        "glue-database": "not created by labkit: left alone (no ManagedBy=labkit tag)"}


def test_live_teardown_keeps_the_labs_database_while_it_holds_someone_elses_table(glue_only):
    """DeleteDatabase would take every table in it: a user's table keeps the database."""
    lab, stubber = glue_only
    _glue_catalog(stubber, OURS, {"vpc_flow_logs": OURS, "users_table": {}})
    stubber.add_response("delete_table", {}, {"DatabaseName": "flowlogs_lab", "Name": "vpc_flow_logs"})
    report = lab.teardown(progress=False)
    assert [(o.kind, o.id) for o in report.deleted] == [("glue-table", "flowlogs_lab.vpc_flow_logs")]
    assert {f.item.id: f.why for f in report.left_alone} == {
        "flowlogs_lab.users_table": "not created by labkit: left alone (no ManagedBy=labkit tag)",
        "flowlogs_lab": "holds tables labkit did not create: left alone with them"}


def test_no_glue_database_means_nothing_to_drop(glue_only):
    lab, stubber = glue_only
    stubber.add_client_error("get_database", "EntityNotFoundException", "Database flowlogs_lab not found",
                             400, expected_params={"Name": "flowlogs_lab"})
    assert inventory.inventory_items(lab) == []


def test_live_failure_says_athenas_reason(live):
    lab, stubber = live
    athena._tables_ready.add((ACCOUNT, REGION, "flowlogs_lab"))
    sql = "SELECT nope FROM vpc_flow_logs"
    _expect_run(stubber, sql, "q-bad", ["RUNNING", "FAILED"],
                reason="COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved")
    with pytest.raises(LabError, match="q-bad FAILED: COLUMN_NOT_FOUND"):
        run_athena(lab, sql, progress=False)


def test_live_needs_confirmation_before_creating_the_table(monkeypatch):
    monkeypatch.setattr(athena, "_tables_ready", set())
    lab = _live_lab()
    lab.confirmed = False
    with Stubber(lab.client("athena")), pytest.raises(LabError, match="not confirmed"):
        run_athena(lab, "SELECT 1 FROM vpc_flow_logs", progress=False)


# ------------------------------------------------------------------- offline: DuckDB


REPLAY = ReplayLab("flowlogs-lab")
SAMPLE_OBJECTS = sorted((SAMPLE_DIR / "s3-parquet").rglob("*.parquet"))


def test_partitions_from_hive_and_plain_keys():
    hive = ("AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=us-east-1/year=2026/month=01/"
            "day=15/hour=10/1_vpcflowlogs_us-east-1_fl-1_20260115T1005Z_abcd1234.log.parquet")
    plain = ("AWSLogs/1/vpcflowlogs/us-east-1/2025/01/15/"
             "1_vpcflowlogs_us-east-1_fl-1_20250115T2355Z_ab.log.parquet")
    assert partition_of(hive) == ("2026", "01", "15", "10")
    assert partition_of(plain) == ("2025", "01", "15", "23")
    with pytest.raises(LabError, match="not where VPC Flow Logs puts objects"):
        partition_of("elsewhere/file.parquet")


def test_offline_counts_every_record_of_the_objects():
    records = sum(pq.ParquetFile(p).metadata.num_rows for p in SAMPLE_OBJECTS)
    frame = run_athena(REPLAY, "SELECT count(*) AS n FROM vpc_flow_logs")
    assert frame["n"].tolist() == [records]
    stats = frame.attrs["statistics"]
    assert stats["ObjectsRead"] == stats["ObjectsTotal"] == len(SAMPLE_OBJECTS)


def test_partition_conditions_prune_objects_and_bytes():
    everything = run_athena(REPLAY, "SELECT sum(bytes) AS b FROM vpc_flow_logs")
    one_hour = run_athena(REPLAY, "SELECT sum(bytes) AS b FROM vpc_flow_logs "
                                  "WHERE year = '2025' AND month = '01' AND day = '15' AND hour = '11'")
    all_stats, hour_stats = everything.attrs["statistics"], one_hour.attrs["statistics"]
    hour_objects = [p for p in SAMPLE_OBJECTS if "T11" in p.name]
    assert hour_stats["ObjectsRead"] == len(hour_objects) < all_stats["ObjectsRead"]
    assert hour_stats["DataScannedInBytes"] < all_stats["DataScannedInBytes"]
    expected = sum(pq.read_table(p, columns=["bytes"])["bytes"].to_numpy().sum() for p in hour_objects)
    assert one_hour["b"].tolist() == [expected]
    # A partition condition under OR cannot prune: everything is read, the answer is still right.
    either = run_athena(REPLAY, "SELECT count(*) AS n FROM vpc_flow_logs "
                                "WHERE hour = '11' OR action = 'REJECT'")
    assert either.attrs["statistics"]["ObjectsRead"] == len(SAMPLE_OBJECTS)


def test_bytes_scanned_count_only_the_columns_read():
    narrow = run_athena(REPLAY, "SELECT count(DISTINCT srcaddr) AS n FROM vpc_flow_logs")
    wide = run_athena(REPLAY, "SELECT * FROM vpc_flow_logs LIMIT 1")
    assert narrow.attrs["statistics"]["DataScannedInBytes"] < wide.attrs["statistics"]["DataScannedInBytes"]
    assert list(wide.columns) == [n for n, _ in ATHENA_COLUMNS] + ["year", "month", "day", "hour"]


def test_athena_functions_are_translated_for_duckdb():
    frame = run_athena(REPLAY, """
        SELECT date_trunc('hour', from_unixtime("start")) AS hour_start,
               approx_distinct(srcaddr) AS sources, count_if(action = 'REJECT') AS rejected
        FROM vpc_flow_logs GROUP BY 1 ORDER BY 1""")
    starts = {s // 3600 * 3600 for p in SAMPLE_OBJECTS for s in pq.read_table(p, columns=["start"])["start"]
              .drop_null().to_pylist()}
    assert [int(t.timestamp()) for t in frame["hour_start"]] == sorted(starts)
    assert str(frame["hour_start"].dt.tz) == "UTC"
    assert (frame["rejected"] > 0).all()


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT * FROM other_table", "one table, vpc_flow_logs: 'other_table'"),
    ("DROP TABLE vpc_flow_logs", "queries \\(SELECT ...\\), not DROP"),
    ("SELECT count(*) FROM vpc_flow_logs; SELECT 1", "one statement at a time"),
    ("SELECT FROM WHERE", "could not be parsed"),
    ("SELECT no_such_column FROM vpc_flow_logs", "failed offline \\(DuckDB\\)"),
    # Athena converts the instant to the zone; DuckDB's translation would drop it or read the time as local.
    ("SELECT from_unixtime(start, 'Europe/Paris') FROM vpc_flow_logs", "from_unixtime with a time zone"),
    ("SELECT from_unixtime(start, 2, 30) FROM vpc_flow_logs", "from_unixtime with a time zone or offset"),
    ("SELECT from_unixtime(start) AT TIME ZONE 'Asia/Tokyo' FROM vpc_flow_logs", "AT TIME ZONE cannot run"),
])
def test_offline_refusals_are_clear(sql, message):
    with pytest.raises(LabError, match=message):
        run_athena(REPLAY, sql)


def test_objects_load_once_and_a_query_sees_exactly_the_objects_it_is_given():
    objects = athena.offline_objects(REPLAY)
    rows = [pq.read_metadata(o.path).num_rows for o in objects]
    count = "SELECT count(*) AS n FROM vpc_flow_logs"
    assert athena.query_objects(count, objects)["n"].tolist() == [sum(rows)]
    loaded = dict(athena._STORE._ids)
    assert athena.query_objects(count, objects)["n"].tolist() == [sum(rows)]
    assert athena._STORE._ids == loaded, "the same objects are not loaded again"
    # Fewer objects (another listing): only theirs are seen; the others' rows are dropped.
    assert athena.query_objects(count, objects[:5])["n"].tolist() == [sum(rows[:5])]
    assert athena.query_objects(count, objects)["n"].tolist() == [sum(rows)]


def test_columns_absent_from_the_objects_are_null_like_athenas():
    frame = run_athena(REPLAY, "SELECT count(az_id) AS with_az, count(*) AS n FROM vpc_flow_logs")
    assert frame["with_az"].tolist() == [0] and frame["n"].iloc[0] > 0
    assert re.fullmatch(r"\d+", str(frame["n"].iloc[0]))


def test_replay_lab_answers_sql_over_the_sample_objects():
    """Replay mode: lab.athena runs on the sample's Parquet objects, no emulator, no account."""
    answer = REPLAY.athena("SELECT action, count(*) AS n FROM vpc_flow_logs WHERE log_status = 'OK' "
                           "GROUP BY action ORDER BY action")
    assert list(answer["action"]) == ["ACCEPT", "REJECT"]
    assert answer["n"].sum() > 0
