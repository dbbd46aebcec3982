"""``lab.athena(sql)``: SQL over the flow logs in S3, on Athena live and on DuckDB offline.

Live, the query runs on Amazon Athena over the table :func:`athena_ddl` creates (AWS's
documented table for flow logs in Parquet, with partition projection); results are paged
into pandas. Offline and in replay the same SQL (Trino's dialect, as Athena reads it) is
translated by sqlglot and run by DuckDB over the same Parquet objects: the lab's bucket in
the emulator, or ``data/sample_flowlogs/s3-parquet`` in replay. The table is called
``vpc_flow_logs`` in both, with AWS's Athena column names and the partition columns
``year``, ``month``, ``day``, ``hour`` (strings, as in AWS's table), and a condition on those
prunes whole objects before anything is read, as partition projection does.

Every answer carries ``frame.attrs["statistics"]``: ``DataScannedInBytes`` (live: Athena's
own figure; offline: the bytes of the Parquet column chunks, and footers, of the columns the
query reads in the objects its partitions select, which is what Athena bills for Parquet),
``EngineExecutionTimeInMillis``, and offline ``ObjectsRead`` / ``ObjectsTotal``.

Live, the database and the table carry the lab's ownership (``Project=<lab>``, ``ManagedBy=labkit``)
as Glue parameters (``WITH DBPROPERTIES``, ``TBLPROPERTIES``), so that teardown deletes them and
nothing else of that name. The query results go under ``athena-results/`` in the lab's bucket,
which teardown empties and deletes.

Sources: Amazon Athena User Guide, "CREATE DATABASE" (``WITH DBPROPERTIES``: custom properties,
which ``aws glue get-database`` shows as Parameters), "Create tables for flow logs in Apache Parquet format",
"Create tables for flow logs in Apache Parquet format using partition projection",
"Use partition projection with Amazon Athena" (``storage.location.template``), and the
Athena API reference (StartQueryExecution, GetQueryExecution, GetQueryResults).
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from labkit.analysis.athena_sql import plan_query
from labkit.errors import LabError
from labkit.flowlogs.s3_layout import hive_region_prefix

__all__ = ["ATHENA_COLUMNS", "PARTITION_COLUMNS", "TABLE", "FlowLogObject", "athena_ddl", "database_ddl",
           "database_name", "forget_database", "offline_objects", "partition_of", "query_objects",
           "run_athena"]

TABLE = "vpc_flow_logs"

ATHENA_COLUMNS: list[tuple[str, str]] = [
    ("version", "int"), ("account_id", "string"), ("interface_id", "string"), ("srcaddr", "string"),
    ("dstaddr", "string"), ("srcport", "int"), ("dstport", "int"), ("protocol", "bigint"),
    ("packets", "bigint"), ("bytes", "bigint"), ("start", "bigint"), ("end", "bigint"),
    ("action", "string"), ("log_status", "string"), ("vpc_id", "string"), ("subnet_id", "string"),
    ("instance_id", "string"), ("tcp_flags", "int"), ("type", "string"), ("pkt_srcaddr", "string"),
    ("pkt_dstaddr", "string"), ("region", "string"), ("az_id", "string"), ("sublocation_type", "string"),
    ("sublocation_id", "string"), ("pkt_src_aws_service", "string"), ("pkt_dst_aws_service", "string"),
    ("flow_direction", "string"), ("traffic_path", "int"),
]
"""The columns of AWS's Athena table for flow logs in Parquet (versions 2 to 5), in its order."""

PARTITION_COLUMNS = ["year", "month", "day", "hour"]
"""Hive-compatible per-hour partitions: ``year=2026/month=01/day=15/hour=10``."""

RESULTS_PREFIX = "athena-results/"
_DUCKDB_TYPES = {"int": "INTEGER", "bigint": "BIGINT", "string": "VARCHAR"}
_ATHENA_FINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


# ------------------------------------------------------------------------ the table, live


def database_name(lab) -> str:
    """The Glue database of the lab's table: the lab's name with underscores (Athena's rule)."""
    return lab.name.replace("-", "_")


def _ownership(lab) -> dict[str, str]:
    from labkit.lab.tags import tag_dict

    return tag_dict(lab.tags())


def database_ddl(lab) -> str:
    """CREATE DATABASE for the lab's table, its ownership in the database's properties."""
    properties = ", ".join(f"'{key}' = '{value}'" for key, value in _ownership(lab).items())
    return f"CREATE DATABASE IF NOT EXISTS `{database_name(lab)}` WITH DBPROPERTIES ({properties})"


def table_location(lab) -> str:
    """Where the lab's flow logs are in S3: the Hive-compatible prefix of its account and region."""
    from labkit.lab.names import bucket_name

    return f"s3://{bucket_name(lab)}/{hive_region_prefix(lab.account_id, lab.region)}"


def athena_ddl(lab, first_year: int | None = None) -> str:
    """CREATE EXTERNAL TABLE for the lab's flow logs, as AWS documents it for Parquet objects,
    with partition projection over year/month/day/hour so that Athena needs no
    ``MSCK REPAIR TABLE``; projected years run from ``first_year`` (default: this year) for ten."""
    first_year = first_year or datetime.now(UTC).year
    location = table_location(lab)
    columns = ",\n".join(f"  `{name}` {kind}" for name, kind in ATHENA_COLUMNS)
    partitions = ", ".join(f"`{name}` string" for name in PARTITION_COLUMNS)
    template = location + "year=${year}/month=${month}/day=${day}/hour=${hour}"
    properties = {
        "EXTERNAL": "true",
        "projection.enabled": "true",
        "projection.year.type": "integer",
        "projection.year.range": f"{first_year},{first_year + 10}",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "projection.day.type": "integer",
        "projection.day.range": "1,31",
        "projection.day.digits": "2",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": template,
        **_ownership(lab),
    }
    props = ",\n".join(f'  "{key}" = "{value}"' for key, value in properties.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{TABLE}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'\n"
        f"LOCATION '{location}'\n"
        f"TBLPROPERTIES (\n{props}\n)"
    )


def run_athena(lab, sql: str, progress: bool = True) -> pd.DataFrame:
    """Run ``sql`` over ``vpc_flow_logs``: on Athena live, on DuckDB offline and in replay."""
    if lab.mode == "live":
        return _run_live(lab, sql, progress)
    return _run_offline(lab, sql)


# ------------------------------------------------------------------------------- live


_tables_ready: set[tuple[str, str, str]] = set()


def _run_live(lab, sql: str, progress: bool) -> pd.DataFrame:
    athena = lab.client("athena")
    key = (lab.account_id, lab.region, database_name(lab))
    if key not in _tables_ready:
        lab.require_write("creating the Athena database and table")
        _execute(lab, athena, database_ddl(lab), progress=False)
        _execute(lab, athena, athena_ddl(lab), progress=False)
        _tables_ready.add(key)
    execution = _execute(lab, athena, sql, progress)
    frame = _results(athena, execution["QueryExecutionId"], progress)
    stats = execution.get("Statistics", {})
    frame.attrs["statistics"] = {"DataScannedInBytes": stats.get("DataScannedInBytes", 0),
                                 "EngineExecutionTimeInMillis": stats.get("EngineExecutionTimeInMillis", 0)}
    return frame


def forget_database(lab) -> None:
    """After teardown deleted the database: the next live query creates it (and the table) again."""
    _tables_ready.discard((lab.account_id, lab.region, database_name(lab)))


def _execute(lab, athena, sql: str, progress: bool) -> dict:
    """StartQueryExecution, then GetQueryExecution until the query succeeds (or say why not)."""
    from labkit.lab.names import bucket_name
    from labkit.lab.wait import Pace, Pending, wait_until

    query_id = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database_name(lab)},
        ResultConfiguration={"OutputLocation": f"s3://{bucket_name(lab)}/{RESULTS_PREFIX}"},
    )["QueryExecutionId"]

    def finished():
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        return execution if state in _ATHENA_FINAL else Pending(state)

    pace = Pace(timeout_s=1800, interval_s=0.5, backoff=1.5, max_interval_s=5)
    execution = wait_until(finished, mode=lab.mode, pace=pace, what="Athena query", progress=progress,
                           advice=f"it may still finish: look at query {query_id} in the Athena console")
    status = execution["Status"]
    if status["State"] != "SUCCEEDED":
        raise LabError(f"Athena query {query_id} {status['State']}: "
                       f"{status.get('StateChangeReason', 'no reason given')}")
    return execution


def _results(athena, query_id: str, progress: bool) -> pd.DataFrame:
    """GetQueryResults, page by page, into a typed DataFrame (Athena sends every value as text)."""
    from tqdm.auto import tqdm

    columns: list[dict] = []
    rows: list[list[str | None]] = []
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
    with tqdm(desc="Athena results", unit=" rows", disable=not progress,
              bar_format="{desc}: {n}{unit}") as bar:
        for number, page in enumerate(pages):
            result = page["ResultSet"]
            columns = columns or result["ResultSetMetadata"]["ColumnInfo"]
            page_rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["Rows"]]
            # A SELECT's first page starts with the column names as a row.
            if number == 0 and page_rows and page_rows[0] == [c["Name"] for c in columns]:
                page_rows = page_rows[1:]
            rows += page_rows
            bar.update(len(page_rows))
    frame = pd.DataFrame(rows, columns=[c["Name"] for c in columns])
    for column in columns:
        frame[column["Name"]] = _typed(frame[column["Name"]], column["Type"])
    return frame


def _typed(values: pd.Series, athena_type: str) -> pd.Series:
    kind = athena_type.lower()
    if kind in ("tinyint", "smallint", "integer", "int", "bigint"):
        return pd.to_numeric(values).astype("Int64")
    if kind in ("double", "float", "real") or kind.startswith("decimal"):
        return pd.to_numeric(values).astype("float64")
    if kind == "boolean":
        return values.map({"true": True, "false": False}).astype("boolean")
    if kind.startswith("timestamp") or kind == "date":
        return pd.to_datetime(values, utc=True)
    return values.astype("string")


# ---------------------------------------------------------------------------- offline


@dataclass(frozen=True)
class FlowLogObject:
    """One Parquet flow-log object: where it is, how big, and the partition it belongs to."""

    key: str
    size: int
    path: Path
    year: str
    month: str
    day: str
    hour: str


_HIVE = re.compile(r"/year=(\d{4})/month=(\d{2})/day=(\d{2})/(?:hour=(\d{2})/)?[^/]+$")
_PLAIN = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(?:(\d{2})/)?[^/]+$")
_NAME_TIME = re.compile(r"_(\d{4})(\d{2})(\d{2})T(\d{2})\d{2}Z_[^/]*$")


def partition_of(key: str) -> tuple[str, str, str, str]:
    """(year, month, day, hour) of a flow-log object key, Hive-compatible or not; without an
    hour folder the hour comes from the ``yyyymmddThhmmZ`` in the object's name."""
    match = _HIVE.search(key) or _PLAIN.search(key)
    named = _NAME_TIME.search(key)
    if match is None and named is None:
        raise LabError(f"{key!r} is not where VPC Flow Logs puts objects (AWSLogs/.../year/month/day/)")
    year, month, day, hour = match.groups() if match else named.groups()
    if hour is None:
        if named is None:
            raise LabError(f"{key!r} has no hour folder and no yyyymmddThhmmZ in its name")
        hour = named.group(4)
    return year, month, day, hour


def _run_offline(lab, sql: str) -> pd.DataFrame:
    started = time.perf_counter()
    objects = offline_objects(lab)
    frame = query_objects(sql, objects)
    frame.attrs["statistics"]["EngineExecutionTimeInMillis"] = round((time.perf_counter() - started) * 1000)
    return frame


def query_objects(sql: str, objects: list[FlowLogObject]) -> pd.DataFrame:
    """Run Athena SQL on DuckDB over these local Parquet flow-log objects, as ``vpc_flow_logs``.

    The objects are loaded once into DuckDB's own storage (:class:`_Store`); each query then
    sees only the rows of the objects its partition conditions select, and is billed, as
    Athena bills it, the Parquet bytes of the columns it reads in those objects."""
    import duckdb

    started = time.perf_counter()
    plan = plan_query(sql, TABLE, [name for name, _ in ATHENA_COLUMNS], PARTITION_COLUMNS)
    chosen = _prune(objects, plan.partition_filter)
    with _STORE.lock:
        db = _STORE.holding(objects)
        db.execute(f"CREATE OR REPLACE TEMP VIEW {TABLE} AS {_STORE.view_sql(chosen)}")
        try:
            result = db.execute(plan.duckdb_sql)
            frame = _typed_like_live(result.df(), [str(d[1]) for d in result.description])
        except duckdb.Error as error:
            raise LabError(f"the query failed offline (DuckDB): {str(error).splitlines()[0]}") from None
    frame.attrs["statistics"] = {
        "DataScannedInBytes": sum(_bytes_read(o.path, plan.columns) for o in chosen),
        "EngineExecutionTimeInMillis": round((time.perf_counter() - started) * 1000),
        "ObjectsRead": len(chosen),
        "ObjectsTotal": len(objects),
    }
    return frame


_DUCKDB_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                    "UINTEGER", "UBIGINT"}


def _typed_like_live(frame: pd.DataFrame, types: list[str]) -> pd.DataFrame:
    """The dtypes a live answer gets: integers Int64 (DuckDB's sums are 128-bit), text
    ``string``, times UTC."""
    for column, kind in zip(frame.columns, types, strict=True):
        if kind in _DUCKDB_INTEGERS:
            frame[column] = frame[column].astype("Int64")
        elif kind == "VARCHAR":
            frame[column] = frame[column].astype("string")
        elif kind in ("TIMESTAMP", "DATE"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def offline_objects(lab) -> list[FlowLogObject]:
    """The flow-log objects ``vpc_flow_logs`` reads offline: the lab's bucket (cached locally) or,
    in replay, the sample's Parquet mirror."""
    if lab.mode == "replay":
        from labkit.lab.sampledata import SAMPLE_DIR

        root = SAMPLE_DIR / "s3-parquet"
        files = sorted(root.rglob("*.parquet"))
        return [FlowLogObject(str(p.relative_to(root)), p.stat().st_size, p, *partition_of(str(p)))
                for p in files]
    return _cached_bucket_objects(lab)


def _cached_bucket_objects(lab) -> list[FlowLogObject]:
    """The Parquet objects in the lab's bucket, each fetched once into a local cache.

    Flow-log objects are never rewritten (each name ends in a hash of its content), so a
    cached copy of the same key and size is the object itself."""
    from labkit.emulator.process import state_dir
    from labkit.lab.names import bucket_name

    s3 = lab.client("s3")
    bucket = bucket_name(lab)
    cache = state_dir() / "s3-cache" / bucket
    objects = []
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="AWSLogs/"))
    except s3.exceptions.NoSuchBucket:
        raise LabError(f"the lab has no flow-log bucket {bucket} yet: run notebook 06 "
                       "(or open_lab(step=6)) first") from None
    missing = []
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith(".parquet"):
                raise LabError(f"s3://{bucket}/{key} is not Parquet: Athena's table for Parquet flow "
                               "logs cannot read it; delete it or deliver text logs elsewhere")
            path = cache / key
            if not path.exists() or path.stat().st_size != item["Size"]:
                missing.append((key, path))
            objects.append(FlowLogObject(key, item["Size"], path, *partition_of(key)))

    def fetch(key_path):
        key, path = key_path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        partial.replace(path)

    # Requests wait on the network, not the CPU: several at once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fetch, missing))
    return objects


def _prune(objects: list[FlowLogObject], partition_filter: str | None) -> list[FlowLogObject]:
    """The objects whose partition satisfies the query's conditions on partition columns,
    decided by DuckDB itself on a table of partitions (so the semantics are the query's)."""
    if partition_filter is None or not objects:
        return objects
    import duckdb

    partitions = sorted({(o.year, o.month, o.day, o.hour) for o in objects})
    frame = pd.DataFrame(partitions, columns=PARTITION_COLUMNS)
    with duckdb.connect() as db:
        db.register("partitions", frame)
        try:
            kept = set(db.execute(f"SELECT * FROM partitions WHERE {partition_filter}").fetchall())
        except duckdb.Error as error:
            raise LabError(f"the condition on the partition columns failed: {str(error).splitlines()[0]}"
                           ) from None
    return [o for o in objects if (o.year, o.month, o.day, o.hour) in kept]


class _Store:
    """The flow-log objects' rows in DuckDB's own storage, in memory, each object loaded once.

    Reading a day of small gzip'd Parquet objects again for every question is what made
    offline questions slow; flow-log objects are never rewritten (a name ends in a hash of the
    content), so an object's rows, once loaded under its key and size, stay valid. Rows keep
    the object they came from, so a query sees exactly the objects it chose."""

    TABLE = "flow_log_rows"

    def __init__(self):
        self.lock = threading.Lock()
        self._db = None
        self._ids: dict[tuple[str, int], int] = {}  # (path, size) -> object id in the table
        self._next_id = 0

    def holding(self, objects: list[FlowLogObject]):
        """The connection, its table holding every one of ``objects`` (loading the new ones)."""
        import duckdb

        if self._db is None:
            self._db = duckdb.connect()
            self._db.execute("SET TimeZone = 'UTC'")
            columns = ", ".join(f'"{n}" {_DUCKDB_TYPES[k]}' for n, k in ATHENA_COLUMNS)
            partitions = ", ".join(f"{p} VARCHAR" for p in PARTITION_COLUMNS)
            self._db.execute(f"CREATE TABLE {self.TABLE} ({columns}, {partitions}, object_id INTEGER)")
        listed = {(str(o.path), o.size) for o in objects}
        gone = [self._ids.pop(key) for key in list(self._ids) if key not in listed]
        if gone:  # another lab's objects, or a bucket emptied by teardown: free their rows
            self._db.execute(f"DELETE FROM {self.TABLE} WHERE object_id IN ({', '.join(map(str, gone))})")
        new = [o for o in objects if (str(o.path), o.size) not in self._ids]
        if new:
            self._load(new)
        return self._db

    def view_sql(self, chosen: list[FlowLogObject]) -> str:
        """AWS's columns and the partition columns, from the chosen objects' rows only."""
        names = ", ".join(f'"{n}"' for n, _ in ATHENA_COLUMNS) + ", " + ", ".join(PARTITION_COLUMNS)
        ids = sorted(self._ids[(str(o.path), o.size)] for o in chosen)
        if len(ids) == len(self._ids):
            return f"SELECT {names} FROM {self.TABLE}"
        if not ids:
            return f"SELECT {names} FROM {self.TABLE} WHERE false"
        # Rows are stored in object order, so a range lets DuckDB skip whole row groups.
        return (f"SELECT {names} FROM {self.TABLE} WHERE object_id BETWEEN {ids[0]} AND {ids[-1]} "
                f"AND object_id IN ({', '.join(map(str, ids))})")

    def _load(self, objects: list[FlowLogObject]) -> None:
        typed = {name: _DUCKDB_TYPES[kind] for name, kind in ATHENA_COLUMNS}
        ids = {(str(o.path), o.size): self._next_id + i for i, o in enumerate(objects)}
        self._next_id += len(objects)
        # One read per schema: a single schema needs no matching by name, which is slower.
        by_schema: dict[frozenset[str], list[FlowLogObject]] = {}
        for o in objects:
            by_schema.setdefault(_metadata(o.path)[0], []).append(o)
        for present, group in by_schema.items():
            catalog = pd.DataFrame({
                "filename": [str(o.path) for o in group],
                **{p: [getattr(o, p) for o in group] for p in PARTITION_COLUMNS},
                "object_id": [ids[(str(o.path), o.size)] for o in group]})
            columns = ", ".join(f'CAST(r."{n}" AS {t})' if n in present else f"CAST(NULL AS {t})"
                                for n, t in typed.items())
            files = ", ".join(f"'{_quoted(o.path)}'" for o in group)
            self._db.register("catalog", catalog)
            self._db.execute(
                f"INSERT INTO {self.TABLE} SELECT {columns}, c.year, c.month, c.day, c.hour, c.object_id "
                f"FROM read_parquet([{files}], filename = true, hive_partitioning = false) AS r "
                "JOIN catalog AS c USING (filename) ORDER BY c.object_id")
            self._db.unregister("catalog")
        self._ids.update(ids)


_STORE = _Store()


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


_metadata_cache: dict[tuple[str, int], tuple[frozenset[str], dict[str, int], int]] = {}


def _metadata(path: Path) -> tuple[frozenset[str], dict[str, int], int]:
    """(column names, compressed bytes per column, footer bytes) of one Parquet object."""
    import pyarrow.parquet as pq

    key = (str(path), path.stat().st_size)
    if key not in _metadata_cache:
        meta = pq.ParquetFile(path).metadata
        sizes: dict[str, int] = {}
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                chunk = group.column(c)
                sizes[chunk.path_in_schema] = sizes.get(chunk.path_in_schema, 0) + chunk.total_compressed_size
        footer = meta.serialized_size + 8  # the footer, its length and the magic "PAR1"
        _metadata_cache[key] = (frozenset(sizes), sizes, footer)
    return _metadata_cache[key]


def _bytes_read(path: Path, columns: frozenset[str]) -> int:
    _, sizes, footer = _metadata(path)
    return footer + sum(size for name, size in sizes.items() if name in columns)
