"""Flow-log delivery benchmark: records/s into the emulator's CloudWatch Logs, memory per event.

    python benchmarks/bench_delivery.py            # 1M drafts over a simulated hour
    python benchmarks/bench_delivery.py --quick    # 200k drafts

Part 1, in process (moto's backends, our delivery path, no HTTP): a busy network of
two peered VPCs with 8 instances (8 ENIs), flow logs with the lab format and 60-s
aggregation on both VPCs, a working role. Synthetic drafts (many distinct flows:
random peers and ports, ACCEPT and REJECT, ingress and egress) spread over one
hour are handed to ``delivery.deliver`` in batches of 50,000, as the SSM hook
would. Timed: aggregation, formatting, the role check, stream bookkeeping and
the append to our store. Then the store is folded into its EventTable and a Logs
Insights query runs (so the discovered fields are materialised too): the RSS
growth from before delivery to after the query (drafts alive throughout; after
gc.collect(), glibc's freed heap trimmed and Arrow's memory pool told to release
its unused pages), divided by the events held, is the memory per million events.
tracemalloc would not do: it does not see Arrow's or numpy's buffers.

Part 2, end to end over HTTP: a private emulator, the lab built with boto3, one
``SendCommand`` (ping -c 4 across the peering) + ``GetCommandInvocation``, timed.

Goals: >= 100,000 records/s delivered, <= 500 MB per million events held.
Not a test: nothing asserts, it reports.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RATE_GOAL = 100_000
MEMORY_GOAL_MB = 500
BATCH = 50_000


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _trim() -> None:
    """Give freed memory back to the OS, so RSS measures what is held.

    Two allocators keep freed memory: glibc's heap (Python objects, numpy) and Arrow's
    memory pool (mimalloc or jemalloc), which holds the buffers of the store's string
    columns and of every Arrow/pandas transient (fold into the table, discovered
    fields, the query). ``malloc_trim`` alone leaves the pool's freed pages counted
    in RSS (about 300 MB per million events here), so release both.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):
        pass


def _held_bytes(store) -> int:
    """Bytes the store's columns hold: table columns, discovered fields, paging arrays."""
    table = store.table
    columns = list(table._base.values()) + list((table._flow or {}).values())
    total = sum(int(c.memory_usage(deep=True, index=False)) for c in columns)
    return total + store.ts.nbytes + store.ingestion.nbytes + store.stream_codes.nbytes


def build_network(c, n_instances: int = 8):
    from tests.emulator_fixtures import LAB_FORMAT, build_lab

    lab = build_lab(c, flow_log_format=LAB_FORMAT)
    ami = c["ec2"].describe_instances(InstanceIds=[lab["a"]["instance"]])["Reservations"][0]["Instances"][0][
        "ImageId"]
    enis = [lab["a"]["eni"], lab["b"]["eni"]]
    for i in range(n_instances - 2):
        side = lab["a"] if i % 2 else lab["b"]
        inst = c["ec2"].run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                      SubnetId=side["subnet"], SecurityGroupIds=[side["sg"]])["Instances"][0]
        enis.append(inst["NetworkInterfaces"][0]["NetworkInterfaceId"])
    return lab, enis


def synthetic_drafts(network, n: int, span_s: float, seed: int = 7) -> list:
    from labkit.netmodel import FlowDraft

    rng = random.Random(seed)
    topo = network.topology
    enis = [e for e in topo.enis.values() if e.instance_id and e.vpc_id in
            {v.id for v in topo.vpcs.values() if not v.is_default}]
    drafts = []
    for _ in range(n):
        eni = rng.choice(enis)
        egress = rng.random() < 0.5
        peer = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        proto = rng.choice((6, 6, 6, 17, 1))
        sport, dport = (0, 0) if proto == 1 else (rng.randint(1024, 65535), rng.choice((22, 80, 443, 3389)))
        action = "REJECT" if rng.random() < 0.3 else "ACCEPT"
        src, dst = (eni.private_ip, peer) if egress else (peer, eni.private_ip)
        drafts.append(FlowDraft(
            eni.id, "egress" if egress else "ingress", src, dst, sport, dport, proto,
            rng.randint(1, 20), rng.randint(40, 20_000), action, 2 if proto == 6 else 0,
            8 if egress and action == "ACCEPT" else None, src, dst, eni.vpc_id, eni.subnet_id,
            eni.instance_id, offset_s=rng.uniform(0, span_s),
        ))  # fmt: skip
    drafts.sort(key=lambda d: d.offset_s)
    return drafts


def in_process(n: int) -> dict:
    from moto import mock_aws

    with mock_aws():
        from labkit.emulator import delivery, ec2_topology, logstore
        from labkit.logsinsights import run_query
        from tests.emulator_fixtures import clients

        build_network(clients())
        network = ec2_topology.build("us-east-1")
        drafts = synthetic_drafts(network, n, 3600.0)
        t0 = time.time() - 3600
        gc.collect()
        _trim()
        rss0 = _rss_mb()
        delivered, started, cpu_started = 0, time.perf_counter(), time.process_time()
        for i in range(0, len(drafts), BATCH):
            report = delivery.deliver("us-east-1", drafts[i:i + BATCH], t0, network)
            delivered += report.cloudwatch_events
        delivered += delivery.publish("us-east-1").cloudwatch_events  # the windows still open
        elapsed = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        store = logstore.group("us-east-1", "/lab/vpc-flow-logs")
        started = time.perf_counter()
        store.flush()
        flush_s = time.perf_counter() - started
        started = time.perf_counter()
        result = run_query('filter action="REJECT" | stats count(*) by interfaceId', store.table,
                           start_ms=0, end_ms=2**62)
        query_s = time.perf_counter() - started
        gc.collect()
        _trim()
        rss1 = _rss_mb()  # the store, its table and discovered fields; the drafts were in rss0
        held = _held_bytes(store)
        started = time.perf_counter()
        rows = store.select(pattern='[v, a, eni, src, dst, sp, dp="3389", ...]')
        filter_s = time.perf_counter() - started
        events = len(store)
        return {
            "drafts": n, "events": events, "delivered": delivered, "seconds": elapsed, "cpu_s": cpu_s,
            "rate": delivered / elapsed, "flush_s": flush_s, "query_s": query_s, "filter_s": filter_s,
            "filter_rows": len(rows), "query_rows": len(result.frame),
            "mb_per_million": (rss1 - rss0) / events * 1e6 if events else float("nan"),
            "held_mb_per_million": held / 2**20 / events * 1e6 if events else float("nan"),
        }


def end_to_end() -> dict:
    from labkit.emulator.process import PrivateEmulator
    from tests.emulator_fixtures import build_lab, clients

    with PrivateEmulator() as emulator:
        c = clients(emulator.endpoint)
        lab = build_lab(c)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            sent = c["ssm"].send_command(
                InstanceIds=[lab["a"]["instance"]], DocumentName="AWS-RunShellScript",
                Parameters={"commands": ["ping -c 4 192.168.1.10"]})
            c["ssm"].get_command_invocation(CommandId=sent["Command"]["CommandId"],
                                            InstanceId=lab["a"]["instance"])
            timings.append(time.perf_counter() - started)
        return {"send_get_s": min(timings), "first_s": timings[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--drafts", type=int)
    args = parser.parse_args()
    n = args.drafts or (200_000 if args.quick else 1_000_000)
    r = in_process(n)
    print(f"in process: {r['drafts']:,} drafts -> {r['delivered']:,} records delivered in "
          f"{r['seconds']:.2f} s ({r['cpu_s']:.2f} CPU s) = {r['rate']:,.0f} records/s into CloudWatch Logs")
    print(f"  store: {r['events']:,} events; fold into EventTable {r['flush_s']:.2f} s; Insights stats "
          f"query {r['query_s']:.2f} s; FilterLogEvents [..] pattern {r['filter_s']:.2f} s "
          f"({r['filter_rows']:,} rows)")
    print(f"  memory per million events: {r['held_mb_per_million']:.0f} MB held by the store's columns "
          f"(discovered fields included); RSS growth {r['mb_per_million']:.0f} MB (adds allocator slack and "
          "freed transients)")
    e = end_to_end()
    print(f"end to end over HTTP: SendCommand + GetCommandInvocation {e['send_get_s'] * 1000:.0f} ms "
          f"(first {e['first_s'] * 1000:.0f} ms)")
    print()
    print(f"goal records/s  >= {RATE_GOAL:,}: {r['rate']:,.0f}  ({r['rate'] / RATE_GOAL:.1f}x)  "
          f"{'OK' if r['rate'] >= RATE_GOAL else 'MISSED'}")
    for label, value in (("held", r["held_mb_per_million"]), ("RSS", r["mb_per_million"])):
        print(f"goal MB/million <= {MEMORY_GOAL_MB} ({label}): {value:.0f}  "
              f"{'OK' if value <= MEMORY_GOAL_MB else 'MISSED'}")


if __name__ == "__main__":
    main()
