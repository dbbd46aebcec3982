"""Flow logs at scale: a busy VPC's day in S3 as Parquet, AWS's sample questions in SQL.

    python benchmarks/bench_scale.py [--records 10000000] [--quick] [--insights-records 200000]

Starts a private emulator, delivers a simulated day (``lab.simulate_busy_network``) to the
lab's bucket, then times each sample question three ways on the same records:
``lab.athena`` (DuckDB over the Parquet objects), pandas reading the same objects (only the
columns the question needs) and, at a smaller size, the offline Logs Insights engine on the
same records as CloudWatch Logs events. Prints the ratios and PASS/FAIL against the goals:
each question under 1 s offline and at least 3x faster than pandas; a one-hour query reads no
more than 1/20 of the day's bytes. The first query, which fetches every object from S3 into
the local cache and loads their rows into DuckDB's storage (once per process), is timed on its
own line. For comparison, pandas is also timed on a warm frame (the columns of every question
already read into memory), which is not the goal's measure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date

import pandas as pd

DAY = date(2026, 1, 15)
WHERE_DAY = "year = '2026' AND month = '01' AND day = '15'"

# (title, SQL, pandas twin over the typed columns, columns it reads, Insights query)
QUESTIONS = [
    ("top 15 packet transfers",
     f"SELECT srcaddr, dstaddr, sum(packets) AS n FROM vpc_flow_logs WHERE {WHERE_DAY} "
     "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 15",
     lambda d: d.groupby(["srcaddr", "dstaddr"]).packets.sum().nlargest(15),
     ["srcaddr", "dstaddr", "packets"],
     "stats sum(packets) as n by srcAddr, dstAddr | sort n desc | limit 15"),
    ("top 15 byte transfers from 10.20.0.0/24",
     f"SELECT dstaddr, sum(bytes) AS n FROM vpc_flow_logs WHERE {WHERE_DAY} AND srcaddr LIKE '10.20.0.%' "
     "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 15",
     lambda d: d[d.srcaddr.str.startswith("10.20.0.", na=False)].groupby("dstaddr").bytes.sum().nlargest(15),
     ["srcaddr", "dstaddr", "bytes"],
     'filter isIpv4InSubnet(srcAddr, "10.20.0.0/24") | stats sum(bytes) as n by dstAddr '
     "| sort n desc | limit 15"),
    ("UDP sources",
     f"SELECT srcaddr, count(*) AS n FROM vpc_flow_logs WHERE {WHERE_DAY} AND protocol = 17 "
     "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 15",
     lambda d: d[d.protocol == 17].groupby("srcaddr").size().nlargest(15),
     ["srcaddr", "protocol"],
     "filter protocol = 17 | stats count(*) as n by srcAddr | sort n desc | limit 15"),
    ("SKIPDATA per hour",
     f"SELECT date_trunc('hour', from_unixtime(\"start\")) AS h, count(*) AS n FROM vpc_flow_logs "
     f"WHERE {WHERE_DAY} AND log_status = 'SKIPDATA' GROUP BY 1 ORDER BY 1",
     lambda d: d[d.log_status == "SKIPDATA"].groupby(d.start // 3600).size(),
     ["start", "log_status"],
     'filter logStatus = "SKIPDATA" | stats count(*) as n by bin(1h)'),
    ("REJECT per hour",
     f"SELECT date_trunc('hour', from_unixtime(\"start\")) AS h, count(*) AS n FROM vpc_flow_logs "
     f"WHERE {WHERE_DAY} AND action = 'REJECT' GROUP BY 1 ORDER BY 1",
     lambda d: d[d.action == "REJECT"].groupby(d.start // 3600).size(),
     ["start", "action"],
     'filter action = "REJECT" | stats count(*) as n by bin(1h)'),
]


def best_of(repeat: int, action) -> tuple[float, object]:
    best, answer = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = action()
        best = min(best, time.perf_counter() - started)
    return best, answer


def insights_times(records: int, repeat: int) -> list[float]:
    """The Insights engine on the same kind of records, as CloudWatch Logs events (warm table)."""
    from labkit import flowlogs
    from labkit.analysis.queries import PARSE
    from labkit.flowlogs.writer import record_lines
    from labkit.lab.busy_network import busy_network_table
    from labkit.logsinsights import EventTable, run_query

    table = busy_network_table(records, seed=1, day=DAY)
    messages = record_lines(table, flowlogs.LAB_FIELDS).to_pandas()
    events = pd.DataFrame({"@timestamp": table.column("start").to_numpy() * 1000, "@message": messages,
                           "@logStream": "eni", "@log": "123456789012:/bench",
                           "@ingestionTime": table.column("start").to_numpy() * 1000})
    store = EventTable(events)
    times = []
    for _, _, _, _, query in QUESTIONS:
        full = f"{PARSE} | {query}"
        run_query(full, store, start_ms=0, end_ms=2**62)  # discovery and parse, once
        times.append(best_of(repeat, lambda q=full: run_query(q, store, start_ms=0, end_ms=2**62))[0])
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="1M records, 50k for Insights")
    parser.add_argument("--insights-records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.records, args.insights_records = 1_000_000, 50_000

    from labkit.emulator.process import PrivateEmulator

    # The local object cache goes to a scratch folder, not the learner's.
    os.environ["LABKIT_STATE_DIR"] = tempfile.mkdtemp(prefix="bench-scale-")
    with PrivateEmulator() as emulator:
        os.environ["LABKIT_ENDPOINT"] = emulator.endpoint
        from labkit import open_lab
        from labkit.analysis.athena import offline_objects, query_objects

        lab = open_lab(quiet=True)
        busy = lab.simulate_busy_network(records=args.records, seed=1, day=DAY, progress=False)
        print(f"generation and delivery: {busy}")
        first, _ = best_of(1, lambda: lab.athena("SELECT count(*) FROM vpc_flow_logs"))
        print(f"first query (fetches {busy.objects} objects into the local cache and loads them into "
              f"DuckDB): {first:.2f} s")
        listing, objects = best_of(args.repeat, lambda: offline_objects(lab))
        print(f"listing the bucket ({len(objects)} objects, cached): {listing:.2f} s per query; both "
              "engines below start from the same listed objects")
        paths = [str(o.path) for o in objects]
        every_column = sorted({c for *_, columns, _ in QUESTIONS for c in columns})
        warm = pd.read_parquet(paths, columns=every_column, dtype_backend="pyarrow")

        print(f"\n{'question':<42}{'athena s':>10}{'pandas s':>10}{'x faster':>10}{'warm pandas s':>15}")
        ok = True
        for title, sql, twin, columns, _ in QUESTIONS:
            sql_s, answer = best_of(args.repeat, lambda q=sql: query_objects(q, objects))
            pandas_s, expected = best_of(args.repeat, lambda t=twin, c=columns: t(
                pd.read_parquet(paths, columns=c)))
            warm_s, _ = best_of(args.repeat, lambda t=twin, w=warm: t(w))
            if len(answer) != len(expected):
                print(f"  {title}: SQL gave {len(answer)} rows, pandas {len(expected)}")
                ok = False
            good = sql_s < 1 and pandas_s / sql_s >= 3
            ok &= good
            print(f"{title:<42}{sql_s:>10.3f}{pandas_s:>10.3f}{pandas_s / sql_s:>10.1f}{warm_s:>15.3f}"
                  f"  {'PASS' if good else 'FAIL'}", flush=True)

        question = "SELECT count(*) AS n, sum(bytes) AS b FROM vpc_flow_logs WHERE " + WHERE_DAY
        day = lab.athena(question).attrs["statistics"]["DataScannedInBytes"]
        hour = lab.athena(question + " AND hour = '14'").attrs["statistics"]["DataScannedInBytes"]
        share = hour / day
        ok &= share <= 1 / 20
        print(f"\nbusiest hour (14:00) reads {hour / 1e6:.2f} MB of the day's {day / 1e6:.2f} MB: "
              f"{share:.1%} (goal <= 5.0%) {'PASS' if share <= 1 / 20 else 'FAIL'}", flush=True)

    print(f"\nLogs Insights engine on {args.insights_records:,} of the same records (warm table):")
    insights = insights_times(args.insights_records, args.repeat)
    for (title, *_), seconds in zip(QUESTIONS, insights, strict=True):
        print(f"{title:<42}{seconds:>10.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
