"""Properties of the network model, checked with hypothesis on the lab's topology."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from labkit.netmodel import Packet, Topology, evaluate, reply_packet
from labkit.netmodel.topology import ALL, SgRule
from labkit.netmodel.traffic import ping, record, tcp_connect
from tests.netmodel_fixtures import IP1, IP2, lab_describe

FX = lab_describe()
LAB = Topology.from_describe(FX.responses)
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CIDRS = st.sampled_from(
    ["0.0.0.0/0", "10.0.0.0/16", "10.0.1.10/32", "192.168.0.0/16", "8.8.8.0/24"]
)
PORTS = st.integers(1, 65535)


@st.composite
def sg_rules(draw):
    proto = draw(st.sampled_from([ALL, 1, 6, 17]))
    if proto in (6, 17):
        lo = draw(PORTS)
        hi = draw(st.integers(lo, 65535))
    elif proto == 1:
        lo, hi = draw(st.sampled_from([(ALL, ALL), (8, ALL), (0, ALL)]))
    else:
        lo = hi = ALL
    if draw(st.booleans()):
        return SgRule(proto, lo, hi, cidr=draw(CIDRS))
    return SgRule(proto, lo, hi, group_id=draw(st.sampled_from([FX.ids["sg1"], FX.ids["sg2"]])))


@st.composite
def packets(draw, src=IP1, dst=IP2):
    proto = draw(st.sampled_from([1, 6, 17]))
    if proto == 1:
        return Packet(src, dst, 1, icmp_type=8)
    return Packet(src, dst, proto, draw(st.integers(32768, 60999)), draw(PORTS))


def with_groups(inbound1, inbound2, outbound1=(), outbound2=()):
    """The lab with both groups replaced; empty outbound rules unless given."""
    groups = dict(LAB.security_groups)
    for gid, inbound, outbound in (
        (FX.ids["sg1"], inbound1, outbound1),
        (FX.ids["sg2"], inbound2, outbound2),
    ):
        groups[gid] = dataclasses.replace(
            groups[gid], inbound=tuple(inbound), outbound=tuple(outbound)
        )
    return dataclasses.replace(LAB, security_groups=groups)


ALLOW_ALL_OUT = SgRule(ALL, cidr="0.0.0.0/0")


@settings(SETTINGS, max_examples=200)
@given(
    st.lists(sg_rules(), max_size=4),
    st.lists(sg_rules(), max_size=4),
    st.one_of(st.just([ALLOW_ALL_OUT]), st.lists(sg_rules(), max_size=3)),
    packets(),
    st.booleans(),
)
def test_a_reply_is_never_rejected_by_a_security_group(in_req, in_resp, out_req, packet, flip):
    """Stateful: whatever the rules, and with no outbound rule at all on the responder,
    an accepted request's reply passes the security groups on both ENIs."""
    if flip:
        packet = dataclasses.replace(packet, src_ip=IP2, dst_ip=IP1)
        topo = with_groups(in_resp, in_req, (), out_req)
    else:
        topo = with_groups(in_req, in_resp, out_req, ())
    v = evaluate(topo, packet)
    event(f"request delivered: {v.delivered}")
    if not v.delivered:
        return
    r = evaluate(topo, reply_packet(packet, v), reply_to=packet)
    assert r.delivered, r.decided_by
    assert not (r.decided_by.startswith("security group") and "no rule allows" in r.decided_by)
    assert r.src_action == r.dst_action == "ACCEPT"


ROUTES = [(FX.ids["rtb1"], 1), (FX.ids["rtb1"], 2), (FX.ids["rtb2"], 1), (FX.ids["rtb2"], 2)]


@SETTINGS
@given(
    st.sets(st.sampled_from(ROUTES)),
    st.sampled_from([IP2, "192.168.1.99", "8.8.8.8", "172.16.5.5", IP1]),
    st.integers(1, 4),
    st.booleans(),
)
def test_a_packet_with_no_route_leaves_no_ingress_draft(dropped, dst, count, use_tcp):
    """Remove any of the non-local routes: traffic without a route never shows up as
    ingress anywhere."""
    tables = dict(LAB.route_tables)
    for rtb_id, index in dropped:
        routes = list(tables[rtb_id].routes)
        kept = [r for i, r in enumerate(routes) if i != index]
        tables[rtb_id] = dataclasses.replace(tables[rtb_id], routes=tuple(kept))
    topo = dataclasses.replace(LAB, route_tables=tables)
    src = FX.ids["eni1"] if dst != IP1 else FX.ids["eni2"]
    if use_tcp:
        outcome, drafts = tcp_connect(topo, src, dst, 22, 3.0, rng=random.Random(count))
        v = outcome.verdict
    else:
        outcome, drafts = ping(topo, src, dst, count, rng=random.Random(count))
        v = outcome.verdict
    event(f"no route: {'no route' in v.decided_by}")
    if "no route" in v.decided_by:
        assert v.dst_action is None
        assert [d for d in drafts if d.flow_direction == "ingress"] == []
        assert record(topo, v, offset_s=0, nbytes=84)[0].flow_direction == "egress"


@SETTINGS
@given(
    st.lists(sg_rules(), max_size=3),
    st.integers(1, 6),
    st.sampled_from([22, 80, 443, 56121]),
    st.frozensets(st.sampled_from([22, 80, 443]), max_size=3),
    st.integers(0, 2**16),
)
def test_packets_and_bytes_add_up_on_both_sides_of_an_accepted_flow(
    rules, count, port, ports, seed
):
    """Every packet the sender logs as accepted egress arrives once as ingress at the
    receiver, with the same bytes, per direction of the flow."""
    topo = dataclasses.replace(
        with_groups([], rules, [SgRule(ALL, cidr="0.0.0.0/0")], []),
        listening={FX.ids["i2"]: frozenset(ports)},
    )
    rng = random.Random(seed)
    _, d1 = ping(topo, FX.ids["eni1"], IP2, count, rng=rng)
    _, d2 = tcp_connect(
        topo, FX.ids["eni1"], IP2, port, 4.0, rng=rng, request_bytes=90, response_bytes=300
    )
    event(
        f"SYN accepted: {any(d.action == 'ACCEPT' and d.flow_direction == 'ingress' for d in d2)}"
    )
    totals: dict[tuple, list[int]] = {}
    for d in d1 + d2:
        key = (d.srcaddr, d.dstaddr, d.srcport, d.dstport, d.protocol, d.flow_direction)
        t = totals.setdefault(key, [0, 0, 0])
        t[0] += d.packets
        t[1] += d.bytes
        t[2] += d.action == "ACCEPT"
    for (s, dst, sp, dp, proto, direction), (pkts, nbytes, _) in totals.items():
        if direction != "ingress":
            continue
        egress = totals.get((s, dst, sp, dp, proto, "egress"))
        assert egress is not None and egress[:2] == [pkts, nbytes]
