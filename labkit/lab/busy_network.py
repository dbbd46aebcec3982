"""A day of a busy VPC, made up but shaped like the real thing, delivered as Parquet flow logs to S3.

Hundreds of interfaces in one VPC (``10.20.0.0/16``): web servers behind the internet
gateway, application servers, databases, a bastion for SSH, NAT gateways, DNS resolvers
of our own, batch workers; and the internet: clients of the web tier, an admin network,
SSH password guessers and port scanners. Each record is one interface's side of one flow
in one 60-second aggregation window, in the lab's format, with realistic shares: most
traffic accepted, about a fifth rejected (scans and guessed passwords at the security
group), a few NODATA and SKIPDATA records. The same seed gives the same records.

The records are written as AWS delivers them (one object per flow log and 5 minutes,
Hive-compatible per-hour prefixes, AWS's Parquet types through
:func:`labkit.flowlogs.parquet_object`) into the lab's flow-log bucket, so that
``lab.athena`` reads them exactly as it reads delivered ones. Everything is vectorised.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from labkit import flowlogs
from labkit.errors import LabError
from labkit.flowlogs.s3_layout import PUBLISH_INTERVAL_S, object_key

__all__ = ["BusyNetwork", "busy_network_table", "simulate_busy_network"]

VPC_BASE = (10 << 24) | (20 << 16)  # 10.20.0.0/16: apart from the lab's own two VPCs

# Interface roles: share of the interfaces, subnet (third octet base), public or not.
_ROLES = [("web", 0.30, 0, True), ("app", 0.28, 16, False), ("db", 0.10, 32, False),
          ("worker", 0.24, 48, False), ("bastion", 0.02, 1, True), ("nat", 0.03, 2, True),
          ("dns", 0.03, 64, False)]

# Traffic: share of the records, and whether the security group or ACL rejects it.
_CLASSES = [
    ("web clients", 0.27), ("web to app", 0.13), ("app to database", 0.10), ("DNS", 0.09),
    ("NAT to internet", 0.10), ("workers to internet", 0.05), ("admin SSH", 0.015),
    ("SSH guessing", 0.045), ("port scans", 0.16), ("database wrong port", 0.02),
    ("NODATA", 0.009), ("SKIPDATA", 0.001),
]
_SCAN_PORTS = np.array([23, 3389, 445, 1433, 3306, 5900, 6379, 8080, 8443, 9200, 27017, 2375])
_TCP_ACCEPT_FLAGS = np.array([19, 3, 18, 2, 1, 0])
_TCP_ACCEPT_FLAG_SHARE = np.array([0.55, 0.15, 0.12, 0.08, 0.05, 0.05])


@dataclass(frozen=True)
class BusyNetwork:
    """What :func:`simulate_busy_network` wrote."""

    records: int
    interfaces: int
    objects: int
    bytes_written: int
    day: date
    flow_log_id: str
    seconds: float

    def __str__(self) -> str:
        return (f"{self.records:,} records from {self.interfaces} interfaces on {self.day}: "
                f"{self.objects} Parquet objects, {self.bytes_written / 1e6:.1f} MB, flow log "
                f"{self.flow_log_id}, in {self.seconds:.1f} s ({self.records / self.seconds:,.0f} records/s)")


def busy_network_table(records: int, interfaces: int = 400, hours: int = 24, seed: int = 0,
                       day: date | None = None, account_id: str = "123456789012",
                       region: str = "us-east-1") -> pa.Table:
    """The records of a busy VPC's day as an Arrow table in the lab's fields, sorted by start."""
    if records < 1 or not 20 <= interfaces <= 4000 or not 1 <= hours <= 24:
        raise LabError("simulate_busy_network: records >= 1, interfaces 20-4000, hours 1-24")
    rng = np.random.default_rng(seed)
    day = day or (datetime.now(UTC) - timedelta(days=1)).date()
    enis = _interfaces(rng, interfaces)
    kind = rng.choice(len(_CLASSES), size=records, p=_shares())
    cols = _empty_columns(records)
    for index in range(len(_CLASSES)):
        rows = np.flatnonzero(kind == index)
        if len(rows):
            _CLASS_MAKERS[index](rng, enis, cols, rows)
    start = _start_times(rng, records, hours, day)
    cols["start"] = start
    cols["end"] = start + rng.integers(0, 60, records)
    order = np.argsort(cols["start"], kind="stable")
    return _to_table(cols, enis, order, account_id)


def simulate_busy_network(lab, records: int = 1_000_000, interfaces: int = 400, hours: int = 24,
                          seed: int = 0, day: date | str | None = None, progress: bool = True) -> BusyNetwork:
    """Generate a busy VPC's day and deliver it to the lab's flow-log bucket as AWS would."""
    from tqdm.auto import tqdm

    from labkit.lab.steps.s3_flow_logs import ensure_flow_log_bucket

    started = time.perf_counter()
    if isinstance(day, str):
        day = date.fromisoformat(day)
    bucket = ensure_flow_log_bucket(lab, quiet=True)
    lab.require_write("writing simulated flow logs to the lab's bucket")
    table = busy_network_table(records, interfaces, hours, seed, day, lab.account_id, lab.region)
    flow_log_id = "fl-" + hashlib.sha256(f"busy-{seed}".encode()).hexdigest()[:17]
    starts = table.column("start").to_numpy()
    windows = starts // PUBLISH_INTERVAL_S
    edges = np.flatnonzero(np.diff(windows)) + 1
    bounds = np.concatenate([[0], edges, [len(starts)]])
    s3 = lab.client("s3")
    written = 0

    def deliver(lo_hi) -> tuple[int, int]:
        lo, hi = lo_hi
        body = flowlogs.parquet_object(table.slice(lo, hi - lo), flowlogs.LAB_FIELDS)
        key = object_key(lab.account_id, lab.region, flow_log_id, int(starts[lo]), body,
                         hive_compatible=True, per_hour=True, parquet=True)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return hi - lo, len(body)

    # Parquet encoding and gzip release the GIL, and uploads wait on the network: several at once.
    with (ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool,
          tqdm(total=records, desc="delivering simulated flow logs", unit=" records", unit_scale=True,
               disable=not progress) as bar):
        for count, size in pool.map(deliver, zip(bounds[:-1], bounds[1:], strict=True)):
            written += size
            bar.update(count)
    first = datetime.fromtimestamp(int(starts[0]), UTC).date()
    return BusyNetwork(records, interfaces, len(bounds) - 1, written, first, flow_log_id,
                       time.perf_counter() - started)


# --------------------------------------------------------------------------- the VPC


@dataclass(frozen=True)
class _Interfaces:
    role: np.ndarray  # role name per interface
    ip: np.ndarray  # private address (uint32)
    eni: pa.Array
    subnet: pa.Array
    subnet_of: np.ndarray  # subnet index per interface
    instance: pa.Array
    ip_text: pa.Array
    vpc_id: str
    by_role: dict[str, np.ndarray]


def _hex_ids(rng, prefix: str, n: int) -> pa.Array:
    digits = rng.integers(0, 16, size=(n, 17))
    alphabet = np.array(list("0123456789abcdef"))
    return pa.array([prefix + "".join(row) for row in alphabet[digits]])


def _interfaces(rng, n: int) -> _Interfaces:
    counts = {name: max(2, int(round(share * n))) for name, share, _, _ in _ROLES}
    counts["app"] += n - sum(counts.values())
    roles = np.concatenate([np.full(counts[name], name) for name, *_ in _ROLES])
    ips = np.empty(n, np.uint32)
    subnet_of = np.empty(n, np.int64)
    offset = 0
    for name, _, third, _ in _ROLES:
        k = counts[name]
        host = np.arange(k) + 10
        ips[offset:offset + k] = VPC_BASE + ((third + host // 250) << 8) + host % 250
        subnet_of[offset:offset + k] = third + host // 250
        offset += k
    # NAT gateways' interfaces belong to no instance: AWS writes "-" (see _to_table).
    return _Interfaces(
        role=roles, ip=ips, eni=_hex_ids(rng, "eni-", n),
        subnet=_hex_ids(rng, "subnet-", int(subnet_of.max()) + 1),
        subnet_of=subnet_of, instance=_hex_ids(rng, "i-", n), ip_text=_ipv4_text(ips),
        vpc_id=_hex_ids(rng, "vpc-", 1)[0].as_py(),
        by_role={name: np.flatnonzero(roles == name) for name, *_ in _ROLES})


def _ipv4_text(addresses: np.ndarray) -> pa.Array:
    octets = [pa.array((addresses >> shift) & 255).cast(pa.string()) for shift in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def _shares() -> np.ndarray:
    shares = np.array([share for _, share in _CLASSES])
    return shares / shares.sum()


# ---------------------------------------------------------------------- the records

# Columns filled per record class; addresses as indexes into pools, resolved at the end.
# "eni": the interface the record belongs to; src/dst: ("eni", i) private or ("net", ip).


def _empty_columns(n: int) -> dict[str, np.ndarray]:
    return {
        "eni": np.zeros(n, np.int64),
        "src_private": np.zeros(n, bool), "src": np.zeros(n, np.int64),
        "dst_private": np.zeros(n, bool), "dst": np.zeros(n, np.int64),
        "pkt_src_private": np.zeros(n, bool), "pkt_src": np.zeros(n, np.int64),
        "pkt_dst_private": np.zeros(n, bool), "pkt_dst": np.zeros(n, np.int64),
        "srcport": np.zeros(n, np.int32), "dstport": np.zeros(n, np.int32),
        "protocol": np.full(n, 6, np.int32), "packets": np.zeros(n, np.int64), "bytes": np.zeros(n, np.int64),
        "reject": np.zeros(n, bool), "status": np.zeros(n, np.int8),  # 0 OK, 1 NODATA, 2 SKIPDATA
        "tcp_flags": np.zeros(n, np.int32), "egress": np.zeros(n, bool), "path": np.zeros(n, np.int32),
    }


def _internet(rng, n: int, pool: int, zipf: float) -> np.ndarray:
    """Public addresses from a pool of ``pool`` hosts, a few of them much busier (Zipf)."""
    hosts = np.minimum(rng.zipf(zipf, n), pool) - 1
    # A fixed scramble of the pool into public-looking space (45.0.0.0-124.255.255.255: never
    # 10/8, 172.16/12 or 192.168/16), never a .0 address.
    return (0x2D000000 + ((hosts + 1) * 2654435761) % 0x50000000 | 1).astype(np.int64)


def _ephemeral(rng, n: int) -> np.ndarray:
    return rng.integers(32768, 61000, n).astype(np.int32)


def _accepted_tcp(rng, cols, rows, packets_mean: float, size_mean: float) -> None:
    n = len(rows)
    packets = 1 + rng.lognormal(np.log(packets_mean), 1.0, n).astype(np.int64)
    cols["packets"][rows] = packets
    size = np.clip(rng.normal(size_mean, size_mean / 4, n), 40, 1500).astype(np.int64)
    cols["bytes"][rows] = packets * size
    cols["tcp_flags"][rows] = rng.choice(_TCP_ACCEPT_FLAGS, n, p=_TCP_ACCEPT_FLAG_SHARE)


def _rejected_probe(rng, cols, rows) -> None:
    n = len(rows)
    cols["reject"][rows] = True
    cols["packets"][rows] = rng.integers(1, 4, n)
    cols["bytes"][rows] = cols["packets"][rows] * 44 + rng.integers(0, 20, n)
    cols["tcp_flags"][rows] = 2


def _set(cols, rows, name, private, values) -> None:
    cols[f"{name}_private"][rows] = private
    cols[name][rows] = values
    cols[f"pkt_{name}_private"][rows] = private
    cols[f"pkt_{name}"][rows] = values


def _pick(rng, enis: _Interfaces, role: str, n: int) -> np.ndarray:
    members = enis.by_role[role]
    return members[rng.integers(0, len(members), n)]


def _inbound(rng, enis, cols, rows, role, src, dstport) -> None:
    target = _pick(rng, enis, role, len(rows))
    cols["eni"][rows] = target
    _set(cols, rows, "src", False, src)
    _set(cols, rows, "dst", True, target)
    cols["srcport"][rows] = _ephemeral(rng, len(rows))
    cols["dstport"][rows] = dstport


def _internal(rng, enis, cols, rows, client_role, server_role, port, protocol=6) -> None:
    """A flow inside the VPC, recorded on the client's side (egress) or the server's (ingress)."""
    n = len(rows)
    client, server = _pick(rng, enis, client_role, n), _pick(rng, enis, server_role, n)
    egress = rng.random(n) < 0.5
    cols["eni"][rows] = np.where(egress, client, server)
    _set(cols, rows, "src", True, client)
    _set(cols, rows, "dst", True, server)
    cols["srcport"][rows] = _ephemeral(rng, n)
    cols["dstport"][rows] = port
    cols["protocol"][rows] = protocol
    cols["egress"][rows] = egress
    cols["path"][rows] = np.where(egress, 1, 0)


def _web_clients(rng, enis, cols, rows):
    _inbound(rng, enis, cols, rows, "web", _internet(rng, len(rows), 200_000, 1.3),
             rng.choice(np.array([443, 80], np.int32), len(rows), p=[0.85, 0.15]))
    _accepted_tcp(rng, cols, rows, 12, 700)


def _web_to_app(rng, enis, cols, rows):
    _internal(rng, enis, cols, rows, "web", "app", 8080)
    _accepted_tcp(rng, cols, rows, 20, 900)


def _app_to_db(rng, enis, cols, rows):
    _internal(rng, enis, cols, rows, "app", "db", 5432)
    _accepted_tcp(rng, cols, rows, 30, 600)


def _dns(rng, enis, cols, rows):
    n = len(rows)
    client = rng.integers(0, len(enis.role), n)
    _internal(rng, enis, cols, rows, "app", "dns", 53, protocol=17)
    cols["eni"][rows] = np.where(cols["egress"][rows], client, cols["eni"][rows])
    _set(cols, rows, "src", True, client)
    cols["packets"][rows] = rng.integers(1, 4, n)
    cols["bytes"][rows] = cols["packets"][rows] * rng.integers(60, 300, n)


def _nat_to_internet(rng, enis, cols, rows):
    """On the NAT gateway's interface: the instance's packets arrive for an internet address."""
    n = len(rows)
    nat, client = _pick(rng, enis, "nat", n), _pick(rng, enis, "worker", n)
    destination = _internet(rng, n, 2_000, 1.6)
    cols["eni"][rows] = nat
    _set(cols, rows, "src", True, client)
    cols["dst_private"][rows], cols["dst"][rows] = True, nat
    cols["pkt_dst_private"][rows], cols["pkt_dst"][rows] = False, destination
    cols["srcport"][rows] = _ephemeral(rng, n)
    cols["dstport"][rows] = 443
    _accepted_tcp(rng, cols, rows, 40, 1100)


def _workers_to_internet(rng, enis, cols, rows):
    n = len(rows)
    worker = _pick(rng, enis, "worker", n)
    cols["eni"][rows] = worker
    _set(cols, rows, "src", True, worker)
    _set(cols, rows, "dst", False, _internet(rng, n, 2_000, 1.6))
    cols["srcport"][rows] = _ephemeral(rng, n)
    cols["dstport"][rows] = 443
    cols["egress"][rows] = True
    cols["path"][rows] = 8
    _accepted_tcp(rng, cols, rows, 25, 900)


def _admin_ssh(rng, enis, cols, rows):
    admins = 0xCB007100 + rng.integers(1, 30, len(rows))  # 203.0.113.0/24, the admins' office
    _inbound(rng, enis, cols, rows, "bastion", admins, 22)
    _accepted_tcp(rng, cols, rows, 60, 200)


def _ssh_guessing(rng, enis, cols, rows):
    _inbound(rng, enis, cols, rows, "bastion", _internet(rng, len(rows), 3_000, 1.5), 22)
    _rejected_probe(rng, cols, rows)


def _port_scans(rng, enis, cols, rows):
    public = np.concatenate([enis.by_role["web"], enis.by_role["bastion"], enis.by_role["nat"]])
    n = len(rows)
    target = public[rng.integers(0, len(public), n)]
    cols["eni"][rows] = target
    _set(cols, rows, "src", False, _internet(rng, n, 500, 1.4))
    _set(cols, rows, "dst", True, target)
    cols["srcport"][rows] = _ephemeral(rng, n)
    common = rng.random(n) < 0.7
    cols["dstport"][rows] = np.where(common, rng.choice(_SCAN_PORTS, n), rng.integers(1, 65536, n))
    _rejected_probe(rng, cols, rows)


def _database_wrong_port(rng, enis, cols, rows):
    _internal(rng, enis, cols, rows, "app", "db", 3306)
    cols["egress"][rows] = False  # the database's security group refuses it: seen on its side
    cols["path"][rows] = 0
    cols["eni"][rows] = cols["dst"][rows]
    _rejected_probe(rng, cols, rows)


def _no_data(rng, enis, cols, rows):
    cols["eni"][rows] = rng.integers(0, len(enis.role), len(rows))
    cols["status"][rows] = 1


def _skip_data(rng, enis, cols, rows):
    cols["eni"][rows] = rng.integers(0, len(enis.role), len(rows))
    cols["status"][rows] = 2


_CLASS_MAKERS = [_web_clients, _web_to_app, _app_to_db, _dns, _nat_to_internet, _workers_to_internet,
                 _admin_ssh, _ssh_guessing, _port_scans, _database_wrong_port, _no_data, _skip_data]


def _start_times(rng, n: int, hours: int, day: date) -> np.ndarray:
    """Seconds in the day's first ``hours`` hours, busier in the afternoon (UTC) than at night."""
    weights = 1 + 0.15 * np.sin((np.arange(hours) - 8) / 24 * 2 * np.pi)
    hour = rng.choice(hours, n, p=weights / weights.sum())
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return midnight + hour * 3600 + rng.integers(0, 3600 - 60, n)


def _dictionary(indices: np.ndarray, words: pa.Array, valid: np.ndarray | None = None) -> pa.Array:
    """Text as a dictionary column: codes into a few distinct values, no per-record strings."""
    mask = None if valid is None else ~valid
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=mask), words)


def _addresses(enis: _Interfaces, private: np.ndarray, values: np.ndarray, order: np.ndarray,
               valid: np.ndarray) -> pa.Array:
    private, values = private[order], values[order]
    # Public addresses come from small pools: each distinct one is written once.
    codes, distinct = pd.factorize(np.where(private, -1, values))
    words = pa.concat_arrays([enis.ip_text, _ipv4_text(np.asarray(distinct).astype(np.uint32))])
    return _dictionary(np.where(private, values, len(enis.ip_text) + codes), words, valid)


def _to_table(cols: dict[str, np.ndarray], enis: _Interfaces, order: np.ndarray, account_id: str) -> pa.Table:
    n = len(order)
    ok = cols["status"][order] == 0
    eni = cols["eni"][order]
    egress = cols["egress"][order]

    def ints(name: str, dtype) -> pa.Array:
        return pa.array(cols[name][order].astype(dtype), mask=~ok)

    def address(name: str) -> pa.Array:
        return _addresses(enis, cols[f"{name}_private"], cols[name], order, ok)

    def words(codes: np.ndarray, values: list[str], valid: np.ndarray | None = ok) -> pa.Array:
        return _dictionary(codes, pa.array(values), valid)

    tcp = cols["protocol"][order] == 6
    return pa.table({
        "version": pa.array(np.full(n, 5, np.int32)),
        "account_id": words(np.zeros(n), [account_id], None),
        "interface_id": _dictionary(eni, enis.eni),
        "srcaddr": address("src"),
        "dstaddr": address("dst"),
        "srcport": ints("srcport", np.int32),
        "dstport": ints("dstport", np.int32),
        "protocol": ints("protocol", np.int32),
        "packets": ints("packets", np.int64),
        "bytes": ints("bytes", np.int64),
        "start": pa.array(cols["start"][order].astype(np.int64)),
        "end": pa.array(cols["end"][order].astype(np.int64)),
        "action": words(cols["reject"][order], ["ACCEPT", "REJECT"]),
        "log_status": words(cols["status"][order], ["OK", "NODATA", "SKIPDATA"], None),
        "vpc_id": words(np.zeros(n), [enis.vpc_id], None),
        "subnet_id": _dictionary(enis.subnet_of[eni], enis.subnet),
        "instance_id": _dictionary(eni, enis.instance, enis.role[eni] != "nat"),
        "tcp_flags": pa.array(np.where(tcp, cols["tcp_flags"][order], 0).astype(np.int32), mask=~ok),
        "type": words(np.zeros(n), ["IPv4"]),
        "pkt_srcaddr": address("pkt_src"),
        "pkt_dstaddr": address("pkt_dst"),
        "flow_direction": words(egress, ["ingress", "egress"]),
        "traffic_path": pa.array(cols["path"][order].astype(np.int32), mask=~(ok & egress)),
    })
