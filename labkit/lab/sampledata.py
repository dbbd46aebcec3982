"""The lab's sample flow logs: synthesised, seeded, byte-for-byte reproducible.

    python scripts/generate_sample_data.py            # (re)write data/sample_flowlogs/
    python scripts/generate_sample_data.py --check    # verify the committed files are identical

The records describe the lab's scenario over one hour with 60-second aggregation
windows: two peered VPCs (10.0.0.0/16 and 192.168.0.0/16), one instance in each with a
public IPv4 address; pings accepted both ways across the peering; a TCP probe from the
VPC 1 instance to port 56121 of the VPC 2 instance, rejected by VPC 2's security group
(one REJECT on the receiver's ingress, ACCEPT on the sender's egress); internet scans
of both public addresses dropped; a few NODATA and SKIPDATA records; a short IPv6
sample on the VPC 1 instance. Nothing was captured from AWS: ids, addresses and the
account id are made up (documentation address ranges, account ``012345678901``).

The same records are written three ways, as AWS would deliver them, through the
writer of ``labkit.flowlogs`` (the format has one owner):

* ``cloudwatch_export.json``: a CloudWatch Logs export (one stream per ENI, ``LAB_FORMAT``)
* ``s3-text/AWSLogs/...log.gz``: S3 text objects, header line first, 5-minute files
* ``s3-parquet/AWSLogs/...log.parquet``: the same objects in Parquet
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import random
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from labkit.lab.names import PROBE_PORT

SEED = 20250115
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample_flowlogs"
CWL_EXPORT = "cloudwatch_export.json"

ACCOUNT_ID = "012345678901"
REGION = "us-east-1"
LOG_GROUP = "/labkit/vpc-flow-logs"
START = int(datetime(2025, 1, 15, 10, 0, tzinfo=UTC).timestamp())
WINDOWS = 60  # one hour of 60-second aggregation windows

ICMP_BYTES = 84  # 20-byte IPv4 header + 8-byte ICMP header + 56 bytes of ping payload


@dataclass(frozen=True)
class Host:
    name: str
    vpc_id: str
    subnet_id: str
    instance_id: str
    eni: str
    private_ip: str
    public_ip: str
    flow_log_id: str
    ipv6: str | None = None


VPC1 = Host(
    "instance-1",
    "vpc-0a1b2c3d4e5f60718",
    "subnet-0b2c3d4e5f6071829",
    "i-0c3d4e5f60718293a",
    "eni-0abc1d2e3f4a5b6c7",
    "10.0.1.10",
    "198.51.100.23",
    "fl-0d4e5f60718293a4b",
    "2001:db8:1234:1a01::10",
)
VPC2 = Host(
    "instance-2",
    "vpc-0f1e2d3c4b5a69788",
    "subnet-0e2d3c4b5a6978877",
    "i-0d3c4b5a697887766",
    "eni-0def9a8b7c6d5e4f3",
    "192.168.1.10",
    "198.51.100.87",
    "fl-0c4b5a69788776655",
)
HOSTS = (VPC1, VPC2)

SCENARIO = {
    "account_id": ACCOUNT_ID,
    "region": REGION,
    "log_group": LOG_GROUP,
    "vpc1": VPC1,
    "vpc2": VPC2,
    "probe_port": PROBE_PORT,
    "seed": SEED,
}


def _fields():
    from labkit.flowlogs import LAB_FIELDS

    return LAB_FIELDS


def _s3_fields() -> list[str]:
    """The S3 flow logs use the same fields in alphabetical order, as some real
    headers do: a reader must take the order from the header line."""
    return sorted(_fields())


# --------------------------------------------------------------------- records


def _record(host: Host, window: int, **values) -> dict:
    start = START + 60 * window + values.pop("offset", 0)
    rec = {
        "version": 5,
        "account-id": ACCOUNT_ID,
        "interface-id": host.eni,
        "vpc-id": host.vpc_id,
        "subnet-id": host.subnet_id,
        "instance-id": host.instance_id,
        "start": start,
        "end": START + 60 * window + 59 if "end" not in values else values.pop("end"),
        "log-status": "OK",
        "type": "IPv4",
    }
    rec.update(values)
    rec.setdefault("pkt-srcaddr", rec.get("srcaddr"))
    rec.setdefault("pkt-dstaddr", rec.get("dstaddr"))
    return rec


def _flow(src: Host, dst: Host, window: int, **kw) -> list[dict]:
    """One flow between two lab instances: egress on the sender, ingress on the receiver."""
    action_in = kw.pop("action_in", "ACCEPT")
    common = {"srcaddr": src.private_ip, "dstaddr": dst.private_ip, **kw}
    return [
        _record(src, window, **common, action="ACCEPT", **{"flow-direction": "egress"},
                **{"traffic-path": 4}),
        _record(dst, window, **common, action=action_in, **{"flow-direction": "ingress"}),
    ]


def build_records(seed: int = SEED) -> list[dict]:
    """Every record of the scenario, sorted by (start, interface, srcaddr, ...)."""
    rng = random.Random(seed)
    recs: list[dict] = []

    # Pings across the peering, both ways (ping -c 60 at 1/s: 60 echo requests, 60 replies).
    for a, b, windows in ((VPC1, VPC2, range(6, 9)), (VPC2, VPC1, range(12, 14))):
        for w in windows:
            n = 60
            kw = {"srcport": 0, "dstport": 0, "protocol": 1, "packets": n, "bytes": n * 84}
            recs += _flow(a, b, w, offset=rng.randint(0, 3), **kw)  # echo request
            recs += _flow(b, a, w, offset=rng.randint(0, 3), **kw)  # echo reply

    # TCP probe (bash's /dev/tcp under `timeout 3`) from instance 1 to instance 2 port 56121: the SYNs
    # leave VPC 1 (egress ACCEPT) and VPC 2's security group drops them (one REJECT on ingress).
    probe = {
        "srcport": 49152 + rng.randint(0, 16383),
        "dstport": PROBE_PORT,
        "protocol": 6,
        "packets": 3,
        "bytes": 180,
        "tcp-flags": 2,
        "offset": 17,
    }
    recs += _flow(VPC1, VPC2, 20, action_in="REJECT", **probe)

    # Internet scans of the public addresses: random sources, random TCP ports, dropped (REJECT).
    common_ports = [22, 23, 80, 443, 445, 1433, 3389, 5900, 8080, 8443]
    skip = {(VPC2, 33), (VPC2, 34), (VPC1, 47)}  # SKIPDATA windows
    for host in HOSTS:
        for w in range(WINDOWS):
            if (host, w) in skip:
                recs.append(_nodata(host, w, "SKIPDATA"))
                continue
            busy = any(r["interface-id"] == host.eni and r["start"] // 60 == (START // 60 + w)
                       for r in recs)
            scans = _poisson(rng, 2.5)
            for _ in range(scans):
                src = f"{rng.choice(['192.0.2', '203.0.113'])}.{rng.randint(1, 254)}"
                port = rng.choice(common_ports) if rng.random() < 0.6 else rng.randint(1, 65535)
                recs.append(_record(
                    host, w, offset=rng.randint(0, 50), srcaddr=src, dstaddr=host.private_ip,
                    srcport=rng.randint(1024, 65535), dstport=port, protocol=6,
                    packets=1, bytes=rng.choice([40, 44, 60]), action="REJECT",
                    **{"tcp-flags": 2, "flow-direction": "ingress"},
                ))
            if not scans and not busy:
                recs.append(_nodata(host, w, "NODATA"))

    # A short IPv6 sample on instance 1 (windows 40-44): an HTTPS download over IPv6
    # through the internet gateway, and IPv6 port scans dropped (REJECT).
    for w in range(40, 45):
        port = 49152 + rng.randint(0, 16383)
        server = "2001:db8:ffff:1::443"
        out = {"protocol": 6, "type": "IPv6", "offset": 2}
        recs.append(_record(
            VPC1, w, srcaddr=VPC1.ipv6, dstaddr=server, srcport=port, dstport=443,
            packets=12, bytes=1500, action="ACCEPT",
            **{"tcp-flags": 3 if w == 44 else 2, "flow-direction": "egress", "traffic-path": 8},
            **out,
        ))
        recs.append(_record(
            VPC1, w, srcaddr=server, dstaddr=VPC1.ipv6, srcport=443, dstport=port,
            packets=40, bytes=52_000, action="ACCEPT",
            **{"tcp-flags": 19 if w == 44 else 18, "flow-direction": "ingress"},
            **out,
        ))
        scanner = f"2001:db8:bad:{rng.randint(1, 99)}::{rng.randint(1, 4095):x}"
        recs.append(_record(
            VPC1, w, offset=rng.randint(0, 50), srcaddr=scanner, dstaddr=VPC1.ipv6,
            srcport=rng.randint(1024, 65535), dstport=rng.choice(common_ports), protocol=6,
            packets=1, bytes=80, action="REJECT", type="IPv6",
            **{"tcp-flags": 2, "flow-direction": "ingress"},
        ))

    def key(r):
        return (r["start"], r["interface-id"], str(r.get("srcaddr")), str(r.get("dstaddr")),
                str(r.get("srcport")), str(r.get("flow-direction")))

    recs.sort(key=key)
    return recs


def _nodata(host: Host, window: int, status: str) -> dict:
    rec = _record(host, window, end=START + 60 * window + 59, type=None)
    rec["log-status"] = status
    rec["pkt-srcaddr"] = rec["pkt-dstaddr"] = None
    return rec


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for small means, and only uses rng.random().
    import math

    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# ---------------------------------------------------------------------- writers


def _table(records: list[dict], fields: list[str]):
    """The records (dicts keyed by AWS names) as an Arrow table of snake_case columns."""
    import pyarrow as pa

    from labkit.flowlogs import FIELDS

    return pa.table({FIELDS[f].column: [r.get(f) for r in records] for f in fields})


def _cloudwatch_export(records: list[dict], seed: int) -> bytes:
    from labkit.flowlogs import LAB_FORMAT, record_lines

    rng = random.Random(seed + 1)
    fields = _fields()
    lines = record_lines(_table(records, fields), fields).to_pylist()
    streams: dict[str, list[dict]] = {}
    for rec, line in zip(records, lines, strict=True):
        streams.setdefault(f"{rec['interface-id']}-all", []).append({
            "timestamp": rec["start"] * 1000,
            "message": line,
            "ingestionTime": (rec["end"] + rng.randint(240, 420)) * 1000,
        })
    doc = {
        "logGroupName": LOG_GROUP,
        "logFormat": LAB_FORMAT,
        "note": f"synthesised by labkit.lab.sampledata (seed {seed}), not captured from AWS",
        "logStreams": {name: streams[name] for name in sorted(streams)},
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def _s3_objects(records: list[dict]) -> dict[str, list[dict]]:
    """Object key (without suffix) -> records: one object per flow log per 5 minutes."""
    by_key: dict[str, list[dict]] = {}
    for rec in records:
        host = VPC1 if rec["vpc-id"] == VPC1.vpc_id else VPC2
        end_slot = -(-(rec["end"] + 1) // 300) * 300  # the 5-minute boundary after `end`
        stamp = datetime.fromtimestamp(end_slot, UTC)
        prefix = f"AWSLogs/{ACCOUNT_ID}/vpcflowlogs/{REGION}/{stamp:%Y/%m/%d}"
        name = f"{ACCOUNT_ID}_vpcflowlogs_{REGION}_{host.flow_log_id}_{stamp:%Y%m%dT%H%MZ}"
        by_key.setdefault(f"{prefix}/{name}", []).append(rec)
    return by_key


def _hash8(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def generate(directory: Path = SAMPLE_DIR, seed: int = SEED) -> list[Path]:
    """Write every sample file under ``directory``; return their paths."""
    from labkit.flowlogs import parquet_object, text_object

    directory = Path(directory)
    records = build_records(seed)
    files: dict[str, bytes] = {CWL_EXPORT: _cloudwatch_export(records, seed)}
    s3_fields = _s3_fields()
    for key, recs in sorted(_s3_objects(records).items()):
        table = _table(recs, s3_fields)
        text = text_object(table, s3_fields, compress=False)
        files[f"s3-text/{key}_{_hash8(text)}.log.gz"] = text_object(table, s3_fields)
        pq_bytes = parquet_object(table, s3_fields)
        files[f"s3-parquet/{key}_{_hash8(pq_bytes)}.log.parquet"] = pq_bytes
    # Object names carry a hash of their content: clear the old ones, or they would linger.
    for tree in ("s3-text", "s3-parquet"):
        shutil.rmtree(directory / tree, ignore_errors=True)
    written = []
    for rel, data in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def _data_files(directory: Path) -> set[str]:
    return {
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and p.name != "README.md"
    }


def check(directory: Path = SAMPLE_DIR, seed: int = SEED) -> list[str]:
    """Regenerate into a temporary directory and compare: the list of differences."""
    directory = Path(directory)
    with tempfile.TemporaryDirectory(prefix="labkit_sample_") as tmp:
        generate(Path(tmp), seed)
        want, have = _data_files(Path(tmp)), _data_files(directory)
        problems = [f"missing: {p}" for p in sorted(want - have)]
        problems += [f"unexpected: {p}" for p in sorted(have - want)]
        for rel in sorted(want & have):
            if not filecmp.cmp(Path(tmp) / rel, directory / rel, shallow=False):
                problems.append(f"differs: {rel}")
    return problems


def load(directory: Path = SAMPLE_DIR):
    """The CloudWatch export parsed into a DataFrame: what replay mode analyses."""
    from labkit import flowlogs

    return flowlogs.read(Path(directory) / CWL_EXPORT)
