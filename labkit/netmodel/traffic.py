"""Packets on the wire, as the flow-log records they would become.

Each function sends packets through ``verdict.evaluate`` and returns
``FlowDraft`` objects: one per packet and per ENI that saw it (egress on the
sender's ENI, ingress on the receiver's), with ``offset_s`` = seconds since
the command started. ``aggregate()`` merges them into the records AWS would
write for an aggregation window (packets and bytes summed, tcp-flags OR-ed).

Modelled behaviour, kept simple on purpose:

- ICMP echo: 84 bytes a packet (56 data + 8 ICMP + 20 IP), as Linux ping sends.
- TCP: Linux sizes (SYN and SYN-ACK 60 bytes, ACK/FIN 52, RST 40). A closed
  port answers RST (nc: "Connection refused"); a dropped SYN is retried at
  1, 3, 7, 15... s until the client gives up (nc: "TIMEOUT").
- Listeners: an instance listens on ``Topology.listening_ports`` (default 22,
  sshd on AL2023; pass ``listening_ports={"i-...": {22, 80}}`` to
  ``Topology.from_describe`` for a web server). A listener speaks only when
  spoken to. Internet hosts answer ping and listen on 80 and 443; their other
  ports drop the SYN (filtered), as most internet hosts do.
- tcp-flags as flow logs report them: SYN 2, SYN-ACK 18, FIN 1, RST 4; ACK
  and PSH alone count 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from labkit.netmodel.topology import Eni, Topology
from labkit.netmodel.verdict import (
    ECHO_REQUEST,
    ICMP,
    TCP,
    Packet,
    Verdict,
    evaluate,
    reply_packet,
)

ICMP_ECHO_BYTES = 84
SYN_BYTES, ACK_BYTES, RST_BYTES, SCAN_SYN_BYTES = 60, 52, 40, 44
FIN, SYN, RST, SYN_ACK = 1, 2, 4, 18
SYN_RETRIES_AT = (0, 1, 3, 7, 15, 31, 63)  # Linux: tcp_syn_retries=6, backoff doubling
INTERNET_OPEN_PORTS = frozenset({80, 443})
EPHEMERAL = (32768, 60999)  # Linux ip_local_port_range


@dataclass
class FlowDraft:
    """One would-be flow-log record (or a piece of one, before ``aggregate``)."""

    eni_id: str
    flow_direction: str  # "ingress" | "egress"
    srcaddr: str
    dstaddr: str
    srcport: int
    dstport: int
    protocol: int
    packets: int
    bytes: int
    action: str  # "ACCEPT" | "REJECT"
    tcp_flags: int
    traffic_path: int | None  # egress only
    pkt_srcaddr: str
    pkt_dstaddr: str
    vpc_id: str
    subnet_id: str
    instance_id: str | None
    type: str = "IPv4"
    offset_s: float = 0.0
    end_offset_s: float | None = None  # last packet, once aggregated

    def flow_key(self) -> tuple:
        return (
            self.eni_id,
            self.flow_direction,
            self.srcaddr,
            self.dstaddr,
            self.srcport,
            self.dstport,
            self.protocol,
            self.action,
        )


@dataclass
class PingOutcome:
    dst_ip: str
    transmitted: int
    received: int
    rtts_ms: list[float] = field(default_factory=list)
    ttl: int = 64
    verdict: Verdict | None = None  # the echo request's
    reply_verdict: Verdict | None = None


@dataclass
class TcpOutcome:
    status: str  # "connected" | "refused" | "timeout"
    elapsed_s: float
    src_port: int
    verdict: Verdict | None = None  # the SYN's
    reply_verdict: Verdict | None = None  # the SYN-ACK's or RST's


# ---- recording ------------------------------------------------------------------------


def record(
    topology: Topology,
    verdict: Verdict,
    *,
    offset_s: float,
    nbytes: int,
    flags: int = 0,
    packets: int = 1,
) -> list[FlowDraft]:
    """The drafts one packet leaves on the ENIs it met (none if flow logs skip it)."""
    if not verdict.logged:
        return []
    p, drafts = verdict.packet, []
    ports = (0, 0) if p.protocol == ICMP else (p.src_port or 0, p.dst_port or 0)
    tcp_flags = flags if p.protocol == TCP else 0

    def draft(eni: Eni, direction: str, src: str, dst: str, action: str, path, at: float):
        return FlowDraft(
            eni.id, direction, src, dst, *ports, p.protocol, packets, nbytes * packets,
            action, tcp_flags, path, src, dst, eni.vpc_id, eni.subnet_id, eni.instance_id,
            offset_s=at,
        )  # fmt: skip

    if verdict.src_eni is not None and verdict.src_action is not None:
        path = verdict.traffic_path if verdict.src_action == "ACCEPT" else None
        drafts.append(
            draft(verdict.src_eni, "egress", p.src_ip, p.dst_ip, verdict.src_action, path, offset_s)
        )
    if verdict.dst_eni is not None and verdict.dst_action is not None:
        src = verdict.seen_src_ip or p.src_ip
        drafts.append(
            draft(
                verdict.dst_eni, "ingress", src, verdict.dst_eni.private_ip,
                verdict.dst_action, None, offset_s + 0.0002,
            )
        )  # fmt: skip
    return drafts


def aggregate(
    drafts: list[FlowDraft], *, window_s: float = 60.0, phase_s: float = 0.0
) -> list[FlowDraft]:
    """Merge drafts of the same flow, ENI, direction and action within one window.

    ``phase_s`` is where the command started inside its window (the emulator
    knows the wall clock). Packets and bytes add up; tcp-flags are OR-ed.
    """
    merged: dict[tuple, FlowDraft] = {}
    for d in sorted(drafts, key=lambda d: d.offset_s):
        key = (*d.flow_key(), int((phase_s + d.offset_s) // window_s))
        if key not in merged:
            merged[key] = replace(d, end_offset_s=d.end_offset_s or d.offset_s)
            continue
        m = merged[key]
        m.packets += d.packets
        m.bytes += d.bytes
        m.tcp_flags |= d.tcp_flags
        m.end_offset_s = max(m.end_offset_s or m.offset_s, d.end_offset_s or d.offset_s)
    return list(merged.values())


# ---- ping -----------------------------------------------------------------------------


def ping(
    topology: Topology,
    src_eni: str | Eni,
    dst_ip: str,
    count: int,
    *,
    rng: random.Random | None = None,
    start_s: float = 0.0,
    interval_s: float = 1.0,
) -> tuple[PingOutcome, list[FlowDraft]]:
    """``count`` ICMP echo requests, one a second, and their replies."""
    rng = rng or random.Random(0)
    eni = _eni(topology, src_eni)
    request = Packet(eni.private_ip, dst_ip, ICMP, icmp_type=ECHO_REQUEST)
    verdict = evaluate(topology, request)
    reply_verdict = None
    if verdict.delivered and verdict.logged:
        reply_verdict = evaluate(topology, reply_packet(request, verdict), reply_to=request)
    answered = (not verdict.logged and verdict.delivered) or bool(
        reply_verdict and reply_verdict.delivered
    )
    base_ms = _base_rtt_ms(verdict, rng)
    # Amazon Linux answers with TTL 64 (127/128 would be Windows); an internet host's reply has
    # crossed some routers, each taking one off.
    ttl = 64 if verdict.dst_eni or not verdict.logged else 64 - rng.randint(8, 20)
    outcome = PingOutcome(dst_ip, count, 0, [], ttl, verdict, reply_verdict)
    drafts: list[FlowDraft] = []
    for seq in range(count):
        at = start_s + seq * interval_s
        rtt_ms = base_ms * rng.uniform(0.8, 1.35)
        drafts += record(topology, verdict, offset_s=at, nbytes=ICMP_ECHO_BYTES)
        if reply_verdict is not None:
            drafts += record(
                topology, reply_verdict, offset_s=at + rtt_ms / 2000, nbytes=ICMP_ECHO_BYTES
            )
        if answered:
            outcome.received += 1
            outcome.rtts_ms.append(round(rtt_ms, 3))
    return outcome, drafts


# ---- TCP ------------------------------------------------------------------------------


def tcp_connect(
    topology: Topology,
    src_eni: str | Eni,
    dst_ip: str,
    port: int,
    timeout_s: float,
    *,
    rng: random.Random | None = None,
    start_s: float = 0.0,
    request_bytes: int = 0,
    response_bytes: int = 0,
) -> tuple[TcpOutcome, list[FlowDraft]]:
    """A TCP connection attempt; if it connects, optional data, then a clean close.

    ``request_bytes``/``response_bytes``: payload sent each way once connected
    (0 and 0 for ``nc -z``).
    """
    rng = rng or random.Random(0)
    eni = _eni(topology, src_eni)
    sport = rng.randint(*EPHEMERAL)
    syn = Packet(eni.private_ip, dst_ip, TCP, sport, port)
    verdict = evaluate(topology, syn)
    rtt_s = _base_rtt_ms(verdict, rng) / 1000
    outcome = TcpOutcome("timeout", timeout_s, sport, verdict)
    if not verdict.logged:  # metadata, DNS, ...: answered, never recorded
        outcome.status, outcome.elapsed_s = "connected", rtt_s
        return outcome, []

    listening = verdict.delivered and port in _listening(topology, verdict)
    answer_flags = SYN_ACK if listening else RST
    answer = None
    if verdict.delivered and (listening or verdict.dst_eni is not None):
        answer = evaluate(topology, reply_packet(syn, verdict), reply_to=syn)
        outcome.reply_verdict = answer

    drafts: list[FlowDraft] = []
    tries = [t for t in SYN_RETRIES_AT if t < timeout_s] or [0]
    for t in tries:
        at = start_s + t
        drafts += record(topology, verdict, offset_s=at, nbytes=SYN_BYTES, flags=SYN)
        if answer is not None:
            size = SYN_BYTES if listening else RST_BYTES
            drafts += record(
                topology, answer, offset_s=at + rtt_s / 2, nbytes=size, flags=answer_flags
            )
        if answer is not None and answer.delivered:
            outcome.status = "connected" if listening else "refused"
            outcome.elapsed_s = t + rtt_s
            break
    if outcome.status != "connected":
        return outcome, drafts

    # Handshake done: ACK, data, close. Later packets meet the same rules as the first.
    t = start_s + outcome.elapsed_s
    forward = [(ACK_BYTES, 0)]
    backward = []
    if request_bytes:
        forward.append((ACK_BYTES + request_bytes, 0))
        backward += [(ACK_BYTES, 0), (ACK_BYTES + response_bytes, 0)]
        forward.append((ACK_BYTES, 0))
    forward += [(ACK_BYTES, FIN), (ACK_BYTES, 0)]
    backward.append((ACK_BYTES, FIN))
    for size, flags in forward:
        drafts += record(topology, verdict, offset_s=t, nbytes=size, flags=flags)
        t += 0.0001
    for size, flags in backward:
        drafts += record(topology, answer, offset_s=t, nbytes=size, flags=flags)
        t += 0.0001
    outcome.elapsed_s += 2 * rtt_s if request_bytes else rtt_s
    return outcome, drafts


def _listening(topology: Topology, verdict: Verdict) -> frozenset[int]:
    if verdict.dst_eni is None:
        return INTERNET_OPEN_PORTS
    return topology.listening_ports(verdict.dst_eni.instance_id)


# ---- the internet knocking ------------------------------------------------------------

_SCANNED_PORTS = (22, 23, 80, 443, 445, 3389, 8080, 5900, 6379, 1433, 3306, 25, 8443, 2323)


def internet_scan(
    topology: Topology,
    eni: str | Eni,
    rng: random.Random,
    n: int,
    *,
    span_s: float = 600.0,
    start_s: float = 0.0,
) -> list[FlowDraft]:
    """``n`` SYN probes from random internet addresses to the ENI's public IP.

    Most ports are the usual targets (SSH, telnet, RDP, SMB, databases), the
    rest random. Whatever the security group rejects leaves one REJECT
    ingress record; an allowed probe gets a SYN-ACK (listener) or RST back.
    """
    target = _eni(topology, eni)
    if target.public_ip is None:
        return []
    drafts: list[FlowDraft] = []
    for at in sorted(start_s + rng.uniform(0, span_s) for _ in range(n)):
        port = rng.choice(_SCANNED_PORTS) if rng.random() < 0.7 else rng.randint(1, 65535)
        probe = Packet(_internet_ip(rng), target.public_ip, TCP, rng.randint(1024, 65535), port)
        verdict = evaluate(topology, probe)
        drafts += record(topology, verdict, offset_s=at, nbytes=SCAN_SYN_BYTES, flags=SYN)
        if verdict.delivered:
            listening = port in _listening(topology, verdict)
            answer = evaluate(topology, reply_packet(probe, verdict), reply_to=probe)
            size, flags = (SYN_BYTES, SYN_ACK) if listening else (RST_BYTES, RST)
            drafts += record(topology, answer, offset_s=at + 0.02, nbytes=size, flags=flags)
            if listening and answer.delivered:  # a SYN scanner resets the half-open connection
                drafts += record(topology, verdict, offset_s=at + 0.04, nbytes=RST_BYTES, flags=RST)
    return drafts


def _internet_ip(rng: random.Random) -> str:
    """A random public unicast IPv4 address (no private, shared, loopback, multicast)."""
    while True:
        a = rng.randint(1, 223)
        b = rng.randint(0, 255)
        if a in (10, 127) or (a, b) == (169, 254) or (a == 172 and 16 <= b <= 31):
            continue
        if (a, b) == (192, 168) or (a == 100 and 64 <= b <= 127):
            continue
        return f"{a}.{b}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


# ---- helpers --------------------------------------------------------------------------


def _eni(topology: Topology, eni: str | Eni) -> Eni:
    return eni if isinstance(eni, Eni) else topology.enis[eni]


def _base_rtt_ms(verdict: Verdict, rng: random.Random) -> float:
    """A round trip that looks right: sub-millisecond inside a region, more to the internet."""
    if verdict.dst_eni is not None and verdict.traffic_path in (1, 4):
        return rng.uniform(0.35, 0.9)
    if not verdict.logged:
        return rng.uniform(0.1, 0.4)
    return rng.uniform(1.0, 25.0)
