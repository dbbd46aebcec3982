"""What happens to one packet, and which route or rule decided.

``evaluate(topology, packet)`` walks the packet the way the VPC does:

1. the sender's security groups, outbound (skipped for a reply: stateful);
2. the sender's subnet route table, longest prefix first;
3. the sender's network ACL, outbound (only when the packet leaves the subnet);
4. the gateway: ``local``, an active peering (not transitive), or an internet
   gateway (the sender needs a public IPv4 address);
5. the receiver's network ACL, inbound (only when the packet enters the subnet);
6. the receiver's security groups, inbound (skipped for a reply: stateful).

Network ACLs are stateless: a reply is checked like any packet, so a TCP reply
needs the ephemeral port (1024-65535) allowed in its own direction. A reply is
evaluated by passing the request as ``reply_to`` (see ``reply_packet``).

Addresses: a packet to an instance's public IP arrives through the internet
gateway translated to the private IP; the receiver's flow log shows
``dstaddr`` = private IP and ``srcaddr`` = the public address of the sender.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from labkit.netmodel.topology import ALL, AclEntry, Eni, SgRule, Topology, in_cidr

ICMP, TCP, UDP = 1, 6, 17
ECHO_REPLY, ECHO_REQUEST = 0, 8

# Link-local AWS services that flow logs never record (plus each VPC's DNS and router).
NOT_LOGGED = {
    "169.254.169.254": "the instance metadata service",
    "169.254.169.123": "the Amazon Time Sync Service",
    "169.254.169.253": "the Amazon DNS server",
}

# traffic-path codes (egress records only)
SAME_VPC, IGW, INTRA_REGION_PEERING, INTER_REGION_PEERING, IGW_NITRO = 1, 2, 4, 5, 8


@dataclass(frozen=True)
class Packet:
    src_ip: str
    dst_ip: str
    protocol: int  # IANA: 1 ICMP, 6 TCP, 17 UDP
    src_port: int | None = None
    dst_port: int | None = None
    icmp_type: int | None = None

    def describe(self) -> str:
        """``icmp echo-request``, ``tcp/56121``, ``udp/53``."""
        if self.protocol == ICMP:
            kind = {ECHO_REQUEST: "echo-request", ECHO_REPLY: "echo-reply"}.get(
                self.icmp_type, f"type {self.icmp_type}"
            )
            return f"icmp {kind}"
        if self.protocol in (TCP, UDP):
            return f"{'tcp' if self.protocol == TCP else 'udp'}/{self.dst_port}"
        return f"protocol {self.protocol}"


@dataclass
class Verdict:
    packet: Packet
    delivered: bool
    decided_by: str
    src_eni: Eni | None = None
    dst_eni: Eni | None = None  # None for the internet (or nothing at that address)
    src_action: str | None = None  # "ACCEPT"/"REJECT" on the sender's ENI, None if no ENI
    dst_action: str | None = None  # None when the packet never reached the receiver's ENI
    traffic_path: int | None = None  # for the sender's egress record
    logged: bool = True  # False for traffic flow logs never record (metadata, DNS, ...)
    # The addresses as the receiving ENI (or the internet host) sees them.
    seen_src_ip: str | None = None
    seen_dst_ip: str | None = None
    path: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        """The overall outcome in flow-log words."""
        return "ACCEPT" if self.delivered else "REJECT"


def reply_packet(request: Packet, verdict: Verdict) -> Packet:
    """The packet the receiver sends back (echo-reply, or ports swapped)."""
    src = verdict.dst_eni.private_ip if verdict.dst_eni else request.dst_ip
    dst = verdict.seen_src_ip or request.src_ip
    icmp = ECHO_REPLY if request.icmp_type == ECHO_REQUEST else request.icmp_type
    return Packet(src, dst, request.protocol, request.dst_port, request.src_port, icmp)


def evaluate(topology: Topology, packet: Packet, *, reply_to: Packet | None = None) -> Verdict:
    """Follow ``packet`` through the VPC. ``reply_to``: the accepted request it answers."""
    return _Walk(topology, packet, reply_to is not None).run()


class _Walk:
    """One packet's journey; each step appends a line to ``path``."""

    def __init__(self, topology: Topology, packet: Packet, is_reply: bool):
        self.t, self.p, self.is_reply = topology, packet, is_reply
        self.v = Verdict(packet, delivered=False, decided_by="")

    def say(self, text: str) -> None:
        self.v.path.append(text)

    def stop(self, reason: str, *, delivered: bool = False, say: bool = True) -> Verdict:
        if say:
            self.say(reason)
        self.v.delivered, self.v.decided_by = delivered, reason
        return self.v

    # ---- the walk ---------------------------------------------------------------------

    def run(self) -> Verdict:
        t, p, v = self.t, self.p, self.v
        src = t.eni_by_private_ip(p.src_ip)
        if src is None:
            if t.vpc_of_ip(p.src_ip):
                return self.stop(f"no network interface has address {p.src_ip}")
            return self.from_internet()
        v.src_eni = src
        self.say(f"{src.id} ({src.private_ip}) sends {p.describe()} to {p.dst_ip}")
        if (reason := self.not_logged(src)) is not None:
            v.logged = False
            return self.stop(reason, delivered=True)
        if p.dst_ip == src.private_ip:
            v.logged = False
            return self.stop("traffic to its own address never leaves the instance", delivered=True)

        if not self.is_reply and (deny := self.sg_check(src, inbound=False)) is not None:
            v.src_action = "REJECT"
            return self.stop(deny)

        table = t.route_table_for(src.subnet_id)
        route = table.lookup(p.dst_ip) if table else None
        if table is None or route is None:
            v.src_action = "ACCEPT"  # it left the instance; the VPC router had nowhere to send it
            name = table.id if table else f"(none for {src.subnet_id})"
            return self.stop(f"route table {name}: no route to {p.dst_ip}")
        self.say(f"route table {table.id}: {route.destination} -> {route.target}")
        if route.state != "active":
            v.src_action = "ACCEPT"
            return self.stop(
                f"route table {table.id}: route {route.destination} -> {route.target} "
                + "is a blackhole"
            )

        if route.target == "local":
            dst, path_code = t.eni_by_private_ip(p.dst_ip), SAME_VPC
            if dst is None or dst.vpc_id != src.vpc_id:
                v.src_action = "ACCEPT"
                return self.stop(f"no network interface has address {p.dst_ip} in {src.vpc_id}")
        elif route.target.startswith("pcx-"):
            dst, path_code, reason = self.through_peering(src, route.target)
            if reason:
                v.src_action = "ACCEPT"
                return self.stop(reason)
        elif route.target.startswith("igw-"):
            return self.to_internet(src, route.target)
        else:
            v.src_action = "ACCEPT"
            return self.stop(
                f"route table {table.id}: {route.destination} -> {route.target} "
                "(this kind of target is not modelled)"
            )

        crosses = dst.subnet_id != src.subnet_id
        if crosses and (deny := self.acl_check(src.subnet_id, egress=True)) is not None:
            v.src_action = "REJECT"
            return self.stop(deny)
        v.src_action, v.traffic_path = "ACCEPT", path_code
        v.seen_src_ip, v.seen_dst_ip = p.src_ip, dst.private_ip
        return self.arrive(dst, check_acl=crosses)

    def through_peering(self, src: Eni, pcx_id: str) -> tuple[Eni | None, int, str | None]:
        t, p = self.t, self.p
        pcx = t.peerings.get(pcx_id)
        if pcx is None:
            return None, 0, f"peering {pcx_id} does not exist (the route is a blackhole)"
        if pcx.status != "active":
            return None, 0, f"peering {pcx_id} is {pcx.status}"
        peer_vpc_id = pcx.other_side(src.vpc_id)
        if peer_vpc_id is None:
            return None, 0, f"peering {pcx_id} does not connect {src.vpc_id}"
        peer = t.vpcs.get(peer_vpc_id)
        if peer is None or not peer.contains(p.dst_ip):
            return (
                None,
                0,
                (
                    f"peering {pcx_id} joins {src.vpc_id} and {peer_vpc_id}; {p.dst_ip} is not in "
                    f"{peer_vpc_id} (peering is not transitive)"
                ),
            )
        self.say(f"peering {pcx_id} is active: {src.vpc_id} -> {peer_vpc_id}")
        dst = t.eni_by_private_ip(p.dst_ip)
        if dst is None or dst.vpc_id != peer_vpc_id:
            return None, 0, f"no network interface has address {p.dst_ip} in {peer_vpc_id}"
        return dst, (INTER_REGION_PEERING if pcx.inter_region else INTRA_REGION_PEERING), None

    def to_internet(self, src: Eni, igw_id: str) -> Verdict:
        t, p, v = self.t, self.p, self.v
        igw = t.internet_gateways.get(igw_id)
        if igw is None or src.vpc_id not in igw.vpc_ids:
            v.src_action = "ACCEPT"
            return self.stop(f"internet gateway {igw_id} is not attached to {src.vpc_id}")
        if src.public_ip is None:
            v.src_action = "ACCEPT"
            return self.stop(
                f"{src.id} has no public IPv4 address: internet gateway {igw_id} "
                f"cannot carry its traffic to {p.dst_ip}"
            )
        if (deny := self.acl_check(src.subnet_id, egress=True)) is not None:
            v.src_action = "REJECT"
            return self.stop(deny)
        instance = t.instances.get(src.instance_id or "")
        v.src_action = "ACCEPT"
        v.traffic_path = IGW_NITRO if instance and instance.nitro else IGW
        self.say(f"internet gateway {igw_id} translates {src.private_ip} to {src.public_ip}")
        dst = t.eni_by_public_ip(p.dst_ip)
        if dst is None and _not_internet(p.dst_ip):
            return self.stop(
                f"internet gateway {igw_id} drops {p.dst_ip}: a private address is not "
                "reachable over the internet (is a route through a peering missing?)"
            )
        v.seen_src_ip = src.public_ip
        if dst is None:
            v.seen_dst_ip = p.dst_ip
            return self.stop(
                f"delivered to the internet host {p.dst_ip} through {igw_id}", delivered=True
            )
        return self.enter_from_internet(dst)

    def from_internet(self) -> Verdict:
        t, p, v = self.t, self.p, self.v
        self.say(f"internet host {p.src_ip} sends {p.describe()} to {p.dst_ip}")
        dst = t.eni_by_public_ip(p.dst_ip)
        if dst is None:
            v.logged = False
            return self.stop(f"no network interface has the public address {p.dst_ip}")
        v.seen_src_ip = p.src_ip
        return self.enter_from_internet(dst)

    def enter_from_internet(self, dst: Eni) -> Verdict:
        igw = self.t.igw_for_vpc(dst.vpc_id)
        if igw is None:
            return self.stop(f"{dst.vpc_id} has no internet gateway attached")
        self.say(f"internet gateway {igw.id} translates {dst.public_ip} to {dst.private_ip}")
        self.v.seen_dst_ip = dst.private_ip
        return self.arrive(dst, check_acl=True)

    def arrive(self, dst: Eni, *, check_acl: bool) -> Verdict:
        v = self.v
        v.dst_eni = dst
        instance = self.t.instances.get(dst.instance_id or "")
        if instance is not None and instance.state != "running":
            return self.stop(f"instance {instance.id} is {instance.state}")
        if check_acl and (deny := self.acl_check(dst.subnet_id, egress=False)) is not None:
            v.dst_action = "REJECT"
            return self.stop(deny)
        if self.is_reply:
            v.dst_action = "ACCEPT"
            groups = ", ".join(dst.security_group_ids) or "none"
            return self.stop(
                f"security group {groups} allows the reply: security groups are stateful",
                delivered=True,
            )
        if (deny := self.sg_check(dst, inbound=True)) is not None:
            v.dst_action = "REJECT"
            return self.stop(deny)
        v.dst_action = "ACCEPT"
        return self.stop(v.path[-1], delivered=True, say=False)  # the SG rule that allowed it

    # ---- the rules --------------------------------------------------------------------

    def not_logged(self, src: Eni) -> str | None:
        dst = self.p.dst_ip
        if dst in NOT_LOGGED:
            return f"traffic to {NOT_LOGGED[dst]} ({dst}) is not recorded by flow logs"
        vpc = self.t.vpcs.get(src.vpc_id)
        if vpc and dst == vpc.dns_ip:
            return f"traffic to the Amazon DNS server ({dst}) is not recorded by flow logs"
        subnet = self.t.subnets.get(src.subnet_id)
        if (vpc and dst == vpc.router_ip) or (subnet and dst == subnet.router_ip):
            return f"traffic to the VPC router ({dst}) is not recorded by flow logs"
        return None

    def sg_check(self, eni: Eni, *, inbound: bool) -> str | None:
        """None when some rule of the ENI's groups allows the packet, else the reason."""
        p = self.p
        peer_ip = p.src_ip if inbound else p.dst_ip
        if inbound and self.v.seen_src_ip:
            peer_ip = self.v.seen_src_ip
        direction = "inbound" if inbound else "outbound"
        for gid in eni.security_group_ids:
            group = self.t.security_groups.get(gid)
            for rule in (group.inbound if inbound else group.outbound) if group else ():
                if self.sg_rule_matches(rule, peer_ip):
                    rule_text = rule.describe("from" if inbound else "to")
                    self.say(f"security group {gid} {direction}: rule {rule_text} allows it")
                    return None
        groups = ", ".join(eni.security_group_ids) or "(none)"
        noun = "security groups" if len(eni.security_group_ids) > 1 else "security group"
        word = "from" if inbound else "to"
        return f"{noun} {groups} {direction}: no rule allows {p.describe()} {word} {peer_ip}"

    def sg_rule_matches(self, rule: SgRule, peer_ip: str) -> bool:
        p = self.p
        if rule.protocol != ALL and rule.protocol != p.protocol:
            return False
        if rule.protocol == ICMP:
            if rule.from_port != ALL and rule.from_port != p.icmp_type:
                return False
        elif rule.protocol in (TCP, UDP):
            if rule.from_port != ALL and not rule.from_port <= (p.dst_port or 0) <= rule.to_port:
                return False
        if rule.cidr is not None:
            return in_cidr(peer_ip, rule.cidr)
        if rule.group_id is not None:
            # A group reference matches private addresses only (same VPC or peering).
            peer = self.t.eni_by_private_ip(peer_ip)
            return peer is not None and rule.group_id in peer.security_group_ids
        return False

    def acl_check(self, subnet_id: str, *, egress: bool) -> str | None:
        acl = self.t.network_acl_for(subnet_id)
        direction = "outbound" if egress else "inbound"
        if acl is None:
            return None  # no ACL known: nothing to stop it
        peer_ip = self.p.dst_ip if egress else (self.v.seen_src_ip or self.p.src_ip)
        for entry in acl.rules(egress=egress):
            if _acl_matches(entry, self.p, peer_ip):
                text = f"network ACL {acl.id} {direction} rule {entry.label} {entry.action}"
                if entry.action == "allow":
                    self.say(text)
                    return None
                return text
        return f"network ACL {acl.id} {direction} rule * deny"


def _acl_matches(entry: AclEntry, p: Packet, peer_ip: str) -> bool:
    if not in_cidr(peer_ip, entry.cidr):
        return False
    if entry.protocol == ALL:
        return True
    if entry.protocol != p.protocol:
        return False
    if p.protocol in (TCP, UDP) and entry.port_from is not None:
        return entry.port_from <= (p.dst_port or 0) <= (entry.port_to or entry.port_from)
    if p.protocol == ICMP and entry.icmp_type not in (None, ALL):
        return entry.icmp_type == p.icmp_type
    return True


_NOT_INTERNET = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "0.0.0.0/8",
    )
]


def _not_internet(ip: str) -> bool:
    """RFC 1918, shared, loopback and link-local addresses: an internet gateway drops them."""
    addr = ipaddress.ip_address(ip)
    return any(addr in net for net in _NOT_INTERNET)
