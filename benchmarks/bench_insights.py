"""Benchmark the offline Logs Insights engine against hand-written pandas.

    python benchmarks/bench_insights.py [--events 1000000] [--repeat 3]

Generates N default-format flow-log events (vectorised), then for six AWS sample queries
prints the engine's time, the same question written by hand in pandas on the same typed
records, their ratio, and PASS/FAIL against the goals (within 3x of pandas, under 2 s).

How field discovery is counted: the emulator keeps one ``EventTable`` per log group and
discovers fields (splits messages) once, incrementally as events arrive. So the per-query
"engine" time is measured on a warm table, and the one-off discovery cost is printed on
its own line, together with a "cold" first query (discovery + query) for honesty. The
hand-written pandas code starts from the typed columns that discovery produced; it is
not charged for splitting the messages either.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from labkit.logsinsights import EventTable, run_query

START = 1_714_521_600  # 2024-05-01T00:00:00Z


def make_events(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    inside = np.array([f"10.0.{i // 250}.{i % 250 + 4}" for i in range(2000)], dtype=object)
    outside = np.array(
        [
            f"{rng.integers(1, 223)}.{rng.integers(0, 255)}.{rng.integers(0, 255)}.{rng.integers(1, 254)}"
            for _ in range(20000)
        ],
        dtype=object,
    )
    enis = np.array([f"eni-{i:017x}" for i in range(200)], dtype=object)
    egress = rng.random(n) < 0.5
    a = inside[rng.integers(0, len(inside), n)]
    b = np.where(
        rng.random(n) < 0.3,
        inside[rng.integers(0, len(inside), n)],
        outside[rng.integers(0, len(outside), n)],
    )
    src = np.where(egress, a, b)
    dst = np.where(egress, b, a)
    proto = rng.choice(np.array([6, 17, 1]), n, p=[0.8, 0.15, 0.05])
    dport = rng.choice(np.array([22, 80, 443, 3389, 53, 8080]), n)
    dport = np.where(rng.random(n) < 0.2, rng.integers(1, 65535, n), dport)
    sport = rng.integers(1024, 65535, n)
    sport = np.where(proto == 1, 0, sport)
    dport = np.where(proto == 1, 0, dport)
    packets = rng.integers(1, 500, n)
    nbytes = packets * rng.integers(40, 1500, n)
    start = START + np.sort(rng.integers(0, 6 * 3600, n))
    end = start + rng.integers(1, 60, n)
    action = np.where(rng.random(n) < 0.25, "REJECT", "ACCEPT")
    r = rng.random(n)
    status = np.where(r < 0.01, "NODATA", np.where(r < 0.02, "SKIPDATA", "OK"))
    ok = status == "OK"
    eni = enis[rng.integers(0, len(enis), n)]

    def col(x):
        return pd.Series(x).astype(str)

    dash = pd.Series(["-"] * n)

    def traffic(x):
        return col(x).where(ok, dash)

    msg = (
        "2 123456789012 "
        + col(eni)
        + " "
        + traffic(src)
        + " "
        + traffic(dst)
        + " "
        + traffic(sport)
        + " "
        + traffic(dport)
        + " "
        + traffic(proto)
        + " "
        + traffic(packets)
        + " "
        + traffic(nbytes)
        + " "
        + col(start)
        + " "
        + col(end)
        + " "
        + col(action).where(ok, dash)
        + " "
        + col(status)
    )
    return pd.DataFrame(
        {
            "@timestamp": start.astype(np.int64) * 1000,
            "@message": msg.astype("str"),
            "@logStream": (col(eni) + "-all").astype("str"),
            "@log": "123456789012:/lab/flowlogs",
            "@ingestionTime": (start.astype(np.int64) + 300) * 1000,
        }
    )


# ---------------------------------------------------------------- the six questions

QUERIES = {
    "top talkers by packets": (
        "stats sum(packets) as packetsTransferred by srcAddr, dstAddr\n"
        "| sort packetsTransferred desc\n| limit 20",
        lambda d: (
            d.groupby(["srcAddr", "dstAddr"], observed=True)["packets"]
            .sum()
            .sort_values(ascending=False, kind="stable")
            .head(20)
        ),
    ),
    "bytes by destination for a subnet": (
        'filter isIpv4InSubnet(srcAddr, "10.0.0.0/16")\n'
        "| stats sum(bytes) as bytesTransferred by dstAddr\n"
        "| sort bytesTransferred desc\n| limit 15",
        lambda d: (
            d[d["srcAddr"].astype(str).str.startswith("10.0.")]
            .groupby("dstAddr", observed=True)["bytes"]
            .sum()
            .sort_values(ascending=False, kind="stable")
            .head(15)
        ),
    ),
    "rejected by source and port": (
        'filter action="REJECT"\n'
        "| stats count(*) as numRejections by srcAddr, dstPort\n"
        "| sort numRejections desc\n| limit 20",
        lambda d: (
            d[d["action"] == "REJECT"]
            .groupby(["srcAddr", "dstPort"], observed=True)
            .size()
            .sort_values(ascending=False, kind="stable")
            .head(20)
        ),
    ),
    "REJECTs per minute": (
        'filter action="REJECT" | stats count(*) as rejects by bin(1m)',
        lambda d: d[d["action"] == "REJECT"].groupby(d["@timestamp"] // 60000 * 60000).size(),
    ),
    "UDP sources": (
        "filter protocol=17 | stats count(*) by srcAddr",
        lambda d: d[d["protocol"] == 17].groupby("srcAddr", observed=True).size(),
    ),
    "SKIPDATA per hour": (
        'filter logStatus="SKIPDATA"\n| stats count(*) by bin(1h) as t\n| sort t',
        lambda d: d[d["logStatus"] == "SKIPDATA"].groupby(d["@timestamp"] // 3_600_000 * 3_600_000).size(),
    ),
}


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def same_answer(result, expected: pd.Series) -> bool:
    """Every row the engine returned has the hand-computed value for its group key.

    GetQueryResults stops at 10,000 rows, so for a larger answer the engine returns the
    first 10,000 groups; each must still be right.
    """
    if len(result.frame) != min(len(expected), 10_000):
        return False
    keys = result.columns[:-1]
    got = result.frame[result.columns[-1]].astype(float).to_numpy()
    want_map = {}
    for k, v in expected.items():
        k = k if isinstance(k, tuple) else (k,)
        want_map[tuple(float(x) if isinstance(x, int | float | np.number) else str(x) for x in k)] = float(v)
    cols = []
    for k in keys:
        c = result.frame[k]
        if pd.api.types.is_datetime64_any_dtype(c):
            cols.append((c.astype("int64") // (10**6 if c.dt.unit == "ns" else 1)).astype(float))
        elif pd.api.types.is_numeric_dtype(c):
            cols.append(c.astype(float))
        else:
            cols.append(c.astype(str))
    for i in range(len(got)):
        key = tuple(col.iloc[i] for col in cols)
        if key not in want_map or not np.isclose(want_map[key], got[i]):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    events = make_events(args.events)
    print(f"generated {len(events):,} default-format flow-log events in {time.perf_counter() - t0:.2f} s")
    lo, hi = int(events["@timestamp"].min()), int(events["@timestamp"].max())

    table = EventTable(events)
    first_name, (first_q, _) = next(iter(QUERIES.items()))
    t0, c0 = time.perf_counter(), time.process_time()
    table.discover()
    discovery, discovery_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    run_query(first_q, table, start_ms=lo, end_ms=hi)
    cold = discovery + time.perf_counter() - t0
    cold_cpu = discovery_cpu + time.process_time() - c0
    print(
        f"field discovery (one-off per log group, cached by EventTable): {discovery:.2f} s "
        f"(cpu {discovery_cpu:.2f} s)"
    )
    print(f"cold first query '{first_name}' (discovery + query): {cold:.2f} s (cpu {cold_cpu:.2f} s)")
    t0, c0 = time.perf_counter(), time.process_time()
    table.flow_fields()
    rest, rest_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"typing the flow-log fields the first query did not use (done lazily by later "
        f"queries): {rest:.2f} s (cpu {rest_cpu:.2f} s)\n"
    )

    typed = table.frame()
    print(f"{'query':36} {'engine s':>9} {'pandas s':>9} {'ratio':>6}  same  verdict")
    failures = 0
    for name, (q, hand) in QUERIES.items():
        te, res = best_of(lambda q=q: run_query(q, table, start_ms=lo, end_ms=hi), args.repeat)
        tp, exp = best_of(lambda hand=hand: hand(typed), args.repeat)
        ratio = te / tp if tp > 0 else float("inf")
        same = same_answer(res, exp)
        ok = ratio <= 3.0 and te < 2.0 and same
        failures += not ok
        print(
            f"{name:36} {te:9.3f} {tp:9.3f} {ratio:6.2f}  {'yes' if same else 'NO ':4}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    print(
        f"\ngoals: engine within 3x of hand-written pandas and under 2 s per query "
        f"(warm table); {len(QUERIES) - failures}/{len(QUERIES)} pass"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
