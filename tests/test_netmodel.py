"""The network model against the AWS examples and the lab's real topology (built in moto)."""

from __future__ import annotations

import copy

import pytest

from labkit.netmodel import Packet, Topology, evaluate, reply_packet
from labkit.netmodel.topology import ALL
from labkit.netmodel.traffic import aggregate, record
from tests.netmodel_fixtures import (
    HOME,
    IP1,
    IP2,
    PRIVATE,
    PUBLIC,
    lab_describe,
    single_vpc_describe,
)

ICMP_ECHO = dict(protocol=1, icmp_type=8)


@pytest.fixture(scope="module")
def lab():
    fx = lab_describe()
    return fx, Topology.from_describe(fx.responses)


def _ping_from_home(topo, count=4):
    """The AWS example: ping from a home computer to the instance's public address."""
    request = Packet(HOME, PUBLIC, **ICMP_ECHO)
    v = evaluate(topo, request)
    drafts = []
    reply_v = None
    for i in range(count):
        drafts += record(topo, v, offset_s=i, nbytes=84)
        if v.delivered:
            reply_v = evaluate(topo, reply_packet(request, v), reply_to=request)
            drafts += record(topo, reply_v, offset_s=i + 0.001, nbytes=84)
    return v, reply_v, aggregate(drafts)


# ---- reading describe responses ---------------------------------------------------------


def test_from_describe_reads_the_lab_built_in_moto(lab):
    fx, topo = lab
    ids = fx.ids
    assert topo.vpcs[ids["vpc1"]].cidr == "10.0.0.0/16"
    eni1 = topo.primary_eni(ids["i1"])
    assert (eni1.private_ip, eni1.subnet_id, eni1.security_group_ids) == (
        IP1,
        ids["subnet1"],
        (ids["sg1"],),
    )
    assert eni1.public_ip and topo.instances[ids["i1"]].nitro  # t3.micro
    assert topo.route_table_for(ids["subnet1"]).id == ids["rtb1"]  # explicit association
    assert topo.peerings[ids["pcx"]].status == "active"
    assert topo.igw_for_vpc(ids["vpc2"]).id == ids["igw2"]
    rule = topo.security_groups[ids["sg2"]].inbound[0]
    assert (rule.protocol, rule.from_port, rule.cidr) == (1, ALL, "10.0.0.0/16")
    # moto, like AWS, lists the default ACL's association; the default rules are there too
    acl = topo.network_acl_for(ids["subnet2"])
    assert acl.is_default and [e.label for e in acl.rules(egress=False)] == ["100", "*"]


def test_main_route_table_and_default_acl_without_explicit_association():
    topo = Topology.from_describe(single_vpc_describe())
    assert topo.route_table_for("subnet-aaaaaaaa012345678").id == "rtb-1"  # main table
    assert topo.network_acl_for("subnet-aaaaaaaa012345678").id == "acl-1"  # default ACL


def test_security_group_rule_shapes():
    perms = [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "UserIdGroupPairs": [{"GroupId": "sg-9"}],
        },
        {"IpProtocol": "17", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ]
    topo = Topology.from_describe(single_vpc_describe(sg_inbound=perms))
    rules = topo.security_groups["sg-123"].inbound
    assert [(r.protocol, r.from_port, r.to_port, r.cidr or r.group_id) for r in rules] == [
        (6, 22, 22, "sg-9"),
        (17, 53, 53, "10.0.0.0/8"),
        (ALL, ALL, ALL, "0.0.0.0/0"),
    ]


def test_paginated_responses_are_accepted(lab):
    fx, _ = lab
    responses = dict(fx.responses)
    enis = responses["DescribeNetworkInterfaces"]["NetworkInterfaces"]
    responses["DescribeNetworkInterfaces"] = [
        {"NetworkInterfaces": enis[:1]},
        {"NetworkInterfaces": enis[1:]},
    ]
    assert len(Topology.from_describe(responses).enis) == 2


# ---- the lab: pings across the peering, the probe the SG refuses -------------------------


@pytest.mark.parametrize("src,dst", [(IP1, IP2), (IP2, IP1)])
def test_ping_across_the_peering_is_accepted_both_ways(lab, src, dst):
    fx, topo = lab
    request = Packet(src, dst, **ICMP_ECHO)
    v = evaluate(topo, request)
    assert v.delivered and (v.src_action, v.dst_action, v.traffic_path) == ("ACCEPT", "ACCEPT", 4)
    assert f"peering {fx.ids['pcx']} is active" in " ".join(v.path)
    assert v.decided_by.endswith(
        "inbound: rule icmp (all) from "
        + ("10.0.0.0/16" if src == IP1 else "192.168.0.0/16")
        + " allows it"
    )
    r = evaluate(topo, reply_packet(request, v), reply_to=request)
    assert r.delivered and r.traffic_path == 4 and "stateful" in r.decided_by


def test_probe_to_56121_is_refused_by_the_security_group(lab):
    fx, topo = lab
    v = evaluate(topo, Packet(IP1, IP2, 6, 40123, 56121))
    assert not v.delivered
    assert (
        v.decided_by
        == f"security group {fx.ids['sg2']} inbound: no rule allows tcp/56121 from {IP1}"
    )
    assert (v.src_action, v.dst_action) == ("ACCEPT", "REJECT")
    drafts = record(topo, v, offset_s=0, nbytes=60, flags=2)
    assert [(d.eni_id, d.flow_direction, d.action) for d in drafts] == [
        (fx.ids["eni1"], "egress", "ACCEPT"),
        (fx.ids["eni2"], "ingress", "REJECT"),
    ]


def test_internet_to_public_ip_arrives_as_private_and_is_rejected(lab):
    fx, topo = lab
    public = topo.enis[fx.ids["eni1"]].public_ip
    v = evaluate(topo, Packet(HOME, public, 6, 51515, 22))
    assert (
        v.decided_by == f"security group {fx.ids['sg1']} inbound: no rule allows tcp/22 from {HOME}"
    )
    (d,) = record(topo, v, offset_s=0, nbytes=44, flags=2)
    assert (d.flow_direction, d.srcaddr, d.dstaddr, d.action) == ("ingress", HOME, IP1, "REJECT")


def test_peering_not_accepted():
    fx = lab_describe(accept_peering=False)
    v = evaluate(Topology.from_describe(fx.responses), Packet(IP1, IP2, **ICMP_ECHO))
    assert not v.delivered and v.decided_by == f"peering {fx.ids['pcx']} is pending-acceptance"
    assert (v.src_action, v.dst_action) == ("ACCEPT", None)


def test_peering_route_on_one_side_only_loses_the_reply(lab):
    fx, _ = lab
    responses = copy.deepcopy(fx.responses)
    for table in responses["DescribeRouteTables"]["RouteTables"]:
        if table["RouteTableId"] == fx.ids["rtb2"]:  # VPC 2 forgets its route back
            table["Routes"] = [r for r in table["Routes"] if "VpcPeeringConnectionId" not in r]
    topo = Topology.from_describe(responses)
    request = Packet(IP1, IP2, **ICMP_ECHO)
    v = evaluate(topo, request)
    assert v.delivered  # the request gets there...
    r = evaluate(topo, reply_packet(request, v), reply_to=request)
    assert not r.delivered  # ...the reply follows 0.0.0.0/0 to the internet gateway and dies
    assert r.decided_by.startswith(f"internet gateway {fx.ids['igw2']} drops {IP1}")
    assert r.dst_action is None


def test_no_route(lab):
    fx, _ = lab
    responses = copy.deepcopy(fx.responses)
    for table in responses["DescribeRouteTables"]["RouteTables"]:
        if table["RouteTableId"] == fx.ids["rtb1"]:
            table["Routes"] = [
                r for r in table["Routes"] if r["DestinationCidrBlock"] == "10.0.0.0/16"
            ]
    v = evaluate(Topology.from_describe(responses), Packet(IP1, IP2, **ICMP_ECHO))
    assert v.decided_by == f"route table {fx.ids['rtb1']}: no route to {IP2}"
    assert (v.src_action, v.dst_action, v.traffic_path) == ("ACCEPT", None, None)


def test_no_transitive_peering(lab):
    fx, _ = lab
    r = copy.deepcopy(fx.responses)
    r["DescribeVpcs"]["Vpcs"].append({"VpcId": "vpc-c", "CidrBlock": "172.16.0.0/16"})
    r["DescribeSubnets"]["Subnets"].append(
        {"SubnetId": "subnet-c", "VpcId": "vpc-c", "CidrBlock": "172.16.1.0/24"}
    )
    r["DescribeNetworkInterfaces"]["NetworkInterfaces"].append(
        {
            "NetworkInterfaceId": "eni-c",
            "SubnetId": "subnet-c",
            "VpcId": "vpc-c",
            "PrivateIpAddress": "172.16.1.30",
        }
    )
    r["DescribeVpcPeeringConnections"]["VpcPeeringConnections"].append(
        {
            "VpcPeeringConnectionId": "pcx-bc",
            "RequesterVpcInfo": {"VpcId": fx.ids["vpc2"]},
            "AccepterVpcInfo": {"VpcId": "vpc-c"},
            "Status": {"Code": "active"},
        }
    )
    for table in r["DescribeRouteTables"]["RouteTables"]:
        if table["RouteTableId"] == fx.ids["rtb1"]:  # A sends C's range to the A-B peering
            table["Routes"].append(
                {"DestinationCidrBlock": "172.16.0.0/16", "VpcPeeringConnectionId": fx.ids["pcx"]}
            )
    v = evaluate(Topology.from_describe(r), Packet(IP1, "172.16.1.30", **ICMP_ECHO))
    assert not v.delivered and "peering is not transitive" in v.decided_by
    assert v.decided_by.startswith(
        f"peering {fx.ids['pcx']} joins {fx.ids['vpc1']} and {fx.ids['vpc2']}"
    )


def test_internet_without_public_ip():
    topo = Topology.from_describe(single_vpc_describe(public_ip=None))
    v = evaluate(topo, Packet(PRIVATE, "8.8.8.8", **ICMP_ECHO))
    assert not v.delivered
    assert v.decided_by.startswith("eni-1235b8ca123456789 has no public IPv4 address")


def test_internet_with_public_ip_uses_the_igw_nitro_path():
    topo = Topology.from_describe(single_vpc_describe())
    v = evaluate(topo, Packet(PRIVATE, "8.8.8.8", **ICMP_ECHO))
    assert v.delivered and v.traffic_path == 8 and v.seen_src_ip == PUBLIC


@pytest.mark.parametrize("dst", ["169.254.169.254", "169.254.169.123", "10.0.0.2", "10.0.0.1", "10.0.1.1"])
def test_metadata_time_sync_dns_and_router_are_not_logged(lab, dst):
    """AWS, "Flow log limitations": flow logs do not capture traffic to the instance metadata service,
    the Time Sync Service, the Amazon DNS server, nor "the reserved IP address for the default VPC
    router", which is base + 1 of every subnet (10.0.1.1 here), not only of the VPC (10.0.0.1).
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-limitations.html"""
    _, topo = lab
    v = evaluate(topo, Packet(IP1, dst, 17, 40000, 53))
    assert not v.logged and "not recorded by flow logs" in v.decided_by
    assert record(topo, v, offset_s=0, nbytes=80) == []


def test_group_reference_to_the_peer_vpcs_group(lab):
    fx, _ = lab
    r = copy.deepcopy(fx.responses)
    for g in r["DescribeSecurityGroups"]["SecurityGroups"]:
        if g["GroupId"] == fx.ids["sg2"]:
            g["IpPermissions"].append(
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "UserIdGroupPairs": [{"GroupId": fx.ids["sg1"]}],
                }
            )
    topo = Topology.from_describe(r)
    assert evaluate(topo, Packet(IP1, IP2, 6, 40000, 22)).delivered  # private, over the peering
    public2 = topo.enis[fx.ids["eni2"]].public_ip
    v = evaluate(topo, Packet(IP1, public2, 6, 40000, 22))  # a group never matches a public path
    assert not v.delivered and v.dst_action == "REJECT"


# ---- security groups vs network ACLs: the AWS user guide's ping example ------------------


def test_nacl_allows_inbound_icmp_but_not_outbound_gives_accept_then_reject():
    icmp_in_only = [
        {"RuleNumber": 100, "Protocol": "1", "RuleAction": "allow", "Egress": False,
         "CidrBlock": "0.0.0.0/0", "IcmpTypeCode": {"Type": -1, "Code": -1}},
    ]  # fmt: skip
    topo = Topology.from_describe(single_vpc_describe(nacl_entries=icmp_in_only))
    v, reply_v, records = _ping_from_home(topo)
    assert v.delivered and not reply_v.delivered
    assert reply_v.decided_by == "network ACL acl-1 outbound rule * deny"
    assert [(d.srcaddr, d.dstaddr, d.protocol, d.packets, d.bytes, d.action) for d in records] == [
        (HOME, PRIVATE, 1, 4, 336, "ACCEPT"),
        (PRIVATE, HOME, 1, 4, 336, "REJECT"),
    ]  # exactly the two records of the AWS example
    assert {d.eni_id for d in records} == {"eni-1235b8ca123456789"}


def test_nacl_allowing_both_ways_gives_two_accepts():
    _, _, records = _ping_from_home(Topology.from_describe(single_vpc_describe()))
    assert [d.action for d in records] == ["ACCEPT", "ACCEPT"]


def test_security_group_dropping_the_ping_gives_one_reject():
    topo = Topology.from_describe(single_vpc_describe(sg_inbound=[]))
    v, reply_v, records = _ping_from_home(topo)
    assert reply_v is None and v.decided_by.startswith("security group sg-123 inbound")
    assert [(d.flow_direction, d.action, d.packets) for d in records] == [("ingress", "REJECT", 4)]


def test_nacl_lowest_rule_number_wins():
    entries = [
        {"RuleNumber": 90, "Protocol": "1", "RuleAction": "deny", "Egress": False,
         "CidrBlock": "203.0.113.0/24", "IcmpTypeCode": {"Type": -1, "Code": -1}},
        {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": False,
         "CidrBlock": "0.0.0.0/0"},
        {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": True,
         "CidrBlock": "0.0.0.0/0"},
    ]  # fmt: skip
    v = evaluate(
        Topology.from_describe(single_vpc_describe(nacl_entries=entries)),
        Packet(HOME, PUBLIC, **ICMP_ECHO),
    )
    assert v.decided_by == "network ACL acl-1 inbound rule 90 deny" and v.dst_action == "REJECT"


def test_nacl_tcp_reply_needs_ephemeral_ports():
    ssh_in = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }

    def entries(out_from, out_to):
        return [
            {"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": False,
             "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 22, "To": 22}},
            {"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": True,
             "CidrBlock": "0.0.0.0/0", "PortRange": {"From": out_from, "To": out_to}},
        ]  # fmt: skip

    syn = Packet(HOME, PUBLIC, 6, 50123, 22)
    for (lo, hi), delivered in (((22, 22), False), ((1024, 65535), True)):
        topo = Topology.from_describe(
            single_vpc_describe(sg_inbound=[ssh_in], nacl_entries=entries(lo, hi))
        )
        v = evaluate(topo, syn)
        assert v.delivered
        r = evaluate(topo, reply_packet(syn, v), reply_to=syn)
        assert r.delivered is delivered
        if not delivered:
            assert (
                r.decided_by == "network ACL acl-1 outbound rule * deny"
                and r.src_action == "REJECT"
            )


def test_outbound_security_group_is_checked_for_requests_only():
    topo = Topology.from_describe(single_vpc_describe(sg_outbound=[]))
    v = evaluate(topo, Packet(PRIVATE, "8.8.8.8", **ICMP_ECHO))
    assert (
        v.decided_by
        == "security group sg-123 outbound: no rule allows icmp echo-request to 8.8.8.8"
    )
    assert v.src_action == "REJECT"
    _, reply_v, _ = _ping_from_home(topo)  # the reply to an allowed request still leaves
    assert reply_v.delivered


def test_stopped_instance(lab):
    fx, _ = lab
    r = copy.deepcopy(fx.responses)
    for res in r["DescribeInstances"]["Reservations"]:
        for inst in res["Instances"]:
            if inst["InstanceId"] == fx.ids["i2"]:
                inst["State"] = {"Code": 80, "Name": "stopped"}
    v = evaluate(Topology.from_describe(r), Packet(IP1, IP2, **ICMP_ECHO))
    assert not v.delivered and v.decided_by == f"instance {fx.ids['i2']} is stopped"
