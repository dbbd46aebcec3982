"""The network as plain data, read from EC2 ``Describe*`` responses.

``Topology.from_describe(responses)`` takes the raw boto3 response dicts (from
the emulator or from a live account) and keeps only what decides the fate of a
packet: CIDRs, route tables, gateways, peerings, security groups, network ACLs
and network interfaces. IPv4 only; prefix lists and IPv6 rules are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ALL = -1  # protocol "-1", or "any type/code/port" in a rule

# A port nothing listens on unless the lab says so: AL2023 runs sshd, nothing else.
DEFAULT_LISTENING_PORTS = frozenset({22})

_PROTOCOL_NAMES = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "all": ALL}

# Instance families that are not built on the Nitro system (traffic-path 2 instead of 8).
_XEN_FAMILIES = frozenset(
    "t1 t2 m1 m2 m3 m4 c1 c3 c4 r3 r4 i2 i3 d2 g2 g3 p2 p3 x1 x1e f1 h1 cc2 cr1 hs1".split()
)


def protocol_number(value: str | int | None) -> int:
    """IpProtocol / Protocol as an IANA number; "-1" (all) becomes ALL."""
    if value is None:
        return ALL
    text = str(value).strip().lower()
    if text in _PROTOCOL_NAMES:
        return _PROTOCOL_NAMES[text]
    return int(text)


def in_cidr(ip: str, cidr: str | None) -> bool:
    if not cidr:
        return False
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def prefix_length(cidr: str) -> int:
    return ipaddress.ip_network(cidr, strict=False).prefixlen


@dataclass(frozen=True)
class Vpc:
    id: str
    cidrs: tuple[str, ...]  # primary first
    is_default: bool = False

    @property
    def cidr(self) -> str:
        return self.cidrs[0]

    def contains(self, ip: str) -> bool:
        return any(in_cidr(ip, c) for c in self.cidrs)

    @property
    def dns_ip(self) -> str:
        """The Amazon DNS server: the VPC's base address plus two."""
        return str(ipaddress.ip_network(self.cidr, strict=False).network_address + 2)

    @property
    def router_ip(self) -> str:
        return str(ipaddress.ip_network(self.cidr, strict=False).network_address + 1)


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: str
    availability_zone: str = ""

    @property
    def region(self) -> str:
        return self.availability_zone[:-1] if self.availability_zone else ""

    @property
    def router_ip(self) -> str:
        """The VPC router's address in this subnet: the subnet's base address plus one (AWS reserves it)."""
        return str(ipaddress.ip_network(self.cidr, strict=False).network_address + 1)


@dataclass(frozen=True)
class Route:
    destination: str  # IPv4 CIDR
    target: str  # "local", "igw-...", "pcx-...", "nat-...", ...
    state: str = "active"  # or "blackhole"


@dataclass(frozen=True)
class RouteTable:
    id: str
    vpc_id: str
    routes: tuple[Route, ...]
    subnet_ids: tuple[str, ...] = ()
    main: bool = False

    def lookup(self, ip: str) -> Route | None:
        """The most specific route whose destination holds ``ip``."""
        matches = [r for r in self.routes if in_cidr(ip, r.destination)]
        return max(matches, key=lambda r: prefix_length(r.destination), default=None)


@dataclass(frozen=True)
class InternetGateway:
    id: str
    vpc_ids: tuple[str, ...]  # attached VPCs


@dataclass(frozen=True)
class Peering:
    id: str
    requester_vpc_id: str
    accepter_vpc_id: str
    status: str  # "active", "pending-acceptance", "rejected", "deleted", ...
    requester_cidr: str = ""
    accepter_cidr: str = ""
    requester_region: str = ""
    accepter_region: str = ""

    def other_side(self, vpc_id: str) -> str | None:
        if vpc_id == self.requester_vpc_id:
            return self.accepter_vpc_id
        if vpc_id == self.accepter_vpc_id:
            return self.requester_vpc_id
        return None

    @property
    def inter_region(self) -> bool:
        return bool(self.requester_region and self.accepter_region) and (
            self.requester_region != self.accepter_region
        )


@dataclass(frozen=True)
class SgRule:
    """One source (inbound) or destination (outbound) of a security-group permission."""

    protocol: int  # ALL, 1, 6, 17, ...
    from_port: int = ALL  # for ICMP: the type
    to_port: int = ALL  # for ICMP: the code
    cidr: str | None = None
    group_id: str | None = None
    description: str = ""

    def describe(self, word: str = "from") -> str:
        """``icmp (all) from 192.168.0.0/16``, ``tcp/22 from sg-123``."""
        what = _proto_text(self.protocol, self.from_port, self.to_port)
        who = self.cidr or self.group_id or "?"
        return f"{what} {word} {who}"


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    vpc_id: str
    name: str = ""
    inbound: tuple[SgRule, ...] = ()
    outbound: tuple[SgRule, ...] = ()


@dataclass(frozen=True)
class AclEntry:
    rule_number: int
    protocol: int  # ALL, 1, 6, 17, ...
    action: str  # "allow" | "deny"
    egress: bool
    cidr: str
    port_from: int | None = None
    port_to: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None

    @property
    def label(self) -> str:
        """The rule number as the console shows it: 32767 is the final ``*``."""
        return "*" if self.rule_number == 32767 else str(self.rule_number)


@dataclass(frozen=True)
class NetworkAcl:
    id: str
    vpc_id: str
    entries: tuple[AclEntry, ...]
    subnet_ids: tuple[str, ...] = ()
    is_default: bool = False

    def rules(self, *, egress: bool) -> list[AclEntry]:
        """Entries of one direction, lowest rule number first."""
        return sorted((e for e in self.entries if e.egress == egress), key=lambda e: e.rule_number)


@dataclass(frozen=True)
class Eni:
    id: str
    subnet_id: str
    vpc_id: str
    private_ip: str
    public_ip: str | None = None
    security_group_ids: tuple[str, ...] = ()
    instance_id: str | None = None
    ipv6: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instance:
    id: str
    state: str  # "running", "stopped", ...
    eni_ids: tuple[str, ...]
    instance_type: str = ""
    private_dns_name: str = ""

    @property
    def nitro(self) -> bool:
        family = self.instance_type.split(".")[0]
        return bool(family) and family not in _XEN_FAMILIES


@dataclass(frozen=True)
class Topology:
    """Everything the model needs, keyed by id. Treat the dicts as read-only."""

    vpcs: dict[str, Vpc] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    route_tables: dict[str, RouteTable] = field(default_factory=dict)
    internet_gateways: dict[str, InternetGateway] = field(default_factory=dict)
    peerings: dict[str, Peering] = field(default_factory=dict)
    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)
    network_acls: dict[str, NetworkAcl] = field(default_factory=dict)
    enis: dict[str, Eni] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    # instance id -> TCP ports something listens on; others get DEFAULT_LISTENING_PORTS
    listening: dict[str, frozenset[int]] = field(default_factory=dict)

    # ---- reading describe responses -------------------------------------------------

    @classmethod
    def from_describe(
        cls,
        responses: Mapping[str, object],
        *,
        listening_ports: Mapping[str, Iterable[int]] | None = None,
    ) -> Topology:
        """Build from boto3 responses keyed by operation name ("DescribeVpcs", ...).

        A value may be one response dict or a list of pages. Missing operations
        count as empty. ``listening_ports`` maps an instance id to the TCP ports
        a server listens on (default: 22, for sshd).
        """

        def items(op: str, key: str) -> list[dict]:
            pages = responses.get(op) or []
            if isinstance(pages, Mapping):
                pages = [pages]
            return [item for page in pages for item in (page.get(key) or [])]

        vpcs = {v["VpcId"]: _vpc(v) for v in items("DescribeVpcs", "Vpcs")}
        subnets = {s["SubnetId"]: _subnet(s) for s in items("DescribeSubnets", "Subnets")}
        tables = {
            t["RouteTableId"]: _route_table(t) for t in items("DescribeRouteTables", "RouteTables")
        }
        igws = {
            g["InternetGatewayId"]: _igw(g)
            for g in items("DescribeInternetGateways", "InternetGateways")
        }
        peerings = {
            p["VpcPeeringConnectionId"]: _peering(p)
            for p in items("DescribeVpcPeeringConnections", "VpcPeeringConnections")
        }
        groups = {
            g["GroupId"]: _security_group(g)
            for g in items("DescribeSecurityGroups", "SecurityGroups")
        }
        acls = {a["NetworkAclId"]: _acl(a) for a in items("DescribeNetworkAcls", "NetworkAcls")}
        enis = {
            e["NetworkInterfaceId"]: _eni(e)
            for e in items("DescribeNetworkInterfaces", "NetworkInterfaces")
        }
        instances = {}
        for reservation in items("DescribeInstances", "Reservations"):
            for raw in reservation.get("Instances") or []:
                instance = _instance(raw)
                instances[instance.id] = instance
                for raw_eni in raw.get("NetworkInterfaces") or []:
                    if raw_eni.get("NetworkInterfaceId") not in enis:
                        eni = _eni(raw_eni, instance_id=instance.id)
                        enis[eni.id] = eni
        listening = {k: frozenset(v) for k, v in (listening_ports or {}).items()}
        return cls(vpcs, subnets, tables, igws, peerings, groups, acls, enis, instances, listening)

    # ---- lookups ----------------------------------------------------------------------

    def route_table_for(self, subnet_id: str) -> RouteTable | None:
        """The subnet's explicitly associated table, else its VPC's main table."""
        subnet = self.subnets.get(subnet_id)
        for table in self.route_tables.values():
            if subnet_id in table.subnet_ids:
                return table
        vpc_id = subnet.vpc_id if subnet else None
        return next((t for t in self.route_tables.values() if t.main and t.vpc_id == vpc_id), None)

    def network_acl_for(self, subnet_id: str) -> NetworkAcl | None:
        """The subnet's associated network ACL, else its VPC's default ACL."""
        subnet = self.subnets.get(subnet_id)
        for acl in self.network_acls.values():
            if subnet_id in acl.subnet_ids:
                return acl
        vpc_id = subnet.vpc_id if subnet else None
        return next(
            (a for a in self.network_acls.values() if a.is_default and a.vpc_id == vpc_id), None
        )

    def eni_by_private_ip(self, ip: str) -> Eni | None:
        return next((e for e in self.enis.values() if e.private_ip == ip), None)

    def eni_by_public_ip(self, ip: str) -> Eni | None:
        return next((e for e in self.enis.values() if e.public_ip == ip), None)

    def vpc_of_ip(self, ip: str) -> Vpc | None:
        return next((v for v in self.vpcs.values() if v.contains(ip)), None)

    def igw_for_vpc(self, vpc_id: str) -> InternetGateway | None:
        return next((g for g in self.internet_gateways.values() if vpc_id in g.vpc_ids), None)

    def primary_eni(self, instance_id: str) -> Eni:
        instance = self.instances.get(instance_id)
        ids = instance.eni_ids if instance else ()
        candidates = [self.enis[i] for i in ids if i in self.enis] or [
            e for e in self.enis.values() if e.instance_id == instance_id
        ]
        if not candidates:
            raise KeyError(f"no network interface found for instance {instance_id}")
        return candidates[0]

    def listening_ports(self, instance_id: str | None) -> frozenset[int]:
        if instance_id is None:
            return frozenset()
        return self.listening.get(instance_id, DEFAULT_LISTENING_PORTS)

    def hostname(self, eni: Eni) -> str:
        """The AL2023 default hostname (ip-name style), e.g. ``ip-10-0-1-10.ec2.internal``."""
        instance = self.instances.get(eni.instance_id or "")
        if instance and instance.private_dns_name:
            return instance.private_dns_name
        subnet = self.subnets.get(eni.subnet_id)
        region = subnet.region if subnet else ""
        domain = "ec2.internal" if region in ("", "us-east-1") else f"{region}.compute.internal"
        return f"ip-{eni.private_ip.replace('.', '-')}.{domain}"


# ---- one small parser per resource ---------------------------------------------------


def _vpc(raw: dict) -> Vpc:
    cidrs = [raw["CidrBlock"]] if raw.get("CidrBlock") else []
    for assoc in raw.get("CidrBlockAssociationSet") or []:
        state = (assoc.get("CidrBlockState") or {}).get("State", "associated")
        if state == "associated" and assoc.get("CidrBlock") not in cidrs:
            cidrs.append(assoc["CidrBlock"])
    return Vpc(raw["VpcId"], tuple(cidrs), bool(raw.get("IsDefault")))


def _subnet(raw: dict) -> Subnet:
    return Subnet(raw["SubnetId"], raw["VpcId"], raw["CidrBlock"], raw.get("AvailabilityZone", ""))


_ROUTE_TARGETS = (
    "GatewayId",
    "VpcPeeringConnectionId",
    "NatGatewayId",
    "TransitGatewayId",
    "NetworkInterfaceId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
)


def _route_table(raw: dict) -> RouteTable:
    routes = []
    for r in raw.get("Routes") or []:
        if not r.get("DestinationCidrBlock"):
            continue  # IPv6 and prefix-list routes are not modelled
        target = next((r[k] for k in _ROUTE_TARGETS if r.get(k)), "unknown")
        routes.append(Route(r["DestinationCidrBlock"], target, r.get("State", "active")))
    subnet_ids, main = [], False
    for assoc in raw.get("Associations") or []:
        state = (assoc.get("AssociationState") or {}).get("State", "associated")
        if state != "associated":
            continue
        main = main or bool(assoc.get("Main"))
        if assoc.get("SubnetId"):
            subnet_ids.append(assoc["SubnetId"])
    return RouteTable(raw["RouteTableId"], raw["VpcId"], tuple(routes), tuple(subnet_ids), main)


def _igw(raw: dict) -> InternetGateway:
    vpcs = tuple(
        a["VpcId"]
        for a in raw.get("Attachments") or []
        if a.get("State", "available") in ("available", "attached")
    )
    return InternetGateway(raw["InternetGatewayId"], vpcs)


def _peering(raw: dict) -> Peering:
    req, acc = raw.get("RequesterVpcInfo") or {}, raw.get("AccepterVpcInfo") or {}
    return Peering(
        raw["VpcPeeringConnectionId"],
        req.get("VpcId", ""),
        acc.get("VpcId", ""),
        (raw.get("Status") or {}).get("Code", "unknown"),
        req.get("CidrBlock", ""),
        acc.get("CidrBlock", ""),
        req.get("Region", ""),
        acc.get("Region", ""),
    )


def _sg_rules(permissions: list[dict]) -> tuple[SgRule, ...]:
    rules = []
    for perm in permissions or []:
        proto = protocol_number(perm.get("IpProtocol", "-1"))
        lo = perm.get("FromPort", ALL) if proto not in (ALL,) else ALL
        hi = perm.get("ToPort", ALL) if proto not in (ALL,) else ALL
        lo, hi = (ALL if lo is None else int(lo)), (ALL if hi is None else int(hi))
        for rng in perm.get("IpRanges") or []:
            rules.append(SgRule(proto, lo, hi, cidr=rng["CidrIp"], description=_desc(rng)))
        for pair in perm.get("UserIdGroupPairs") or []:
            rules.append(SgRule(proto, lo, hi, group_id=pair["GroupId"], description=_desc(pair)))
    return tuple(rules)


def _desc(raw: dict) -> str:
    return raw.get("Description") or ""


def _security_group(raw: dict) -> SecurityGroup:
    return SecurityGroup(
        raw["GroupId"],
        raw.get("VpcId", ""),
        raw.get("GroupName", ""),
        _sg_rules(raw.get("IpPermissions")),
        _sg_rules(raw.get("IpPermissionsEgress")),
    )


def _acl(raw: dict) -> NetworkAcl:
    entries = []
    for e in raw.get("Entries") or []:
        if not e.get("CidrBlock"):
            continue  # IPv6 entries are not modelled
        ports = e.get("PortRange") or {}
        icmp = e.get("IcmpTypeCode") or {}
        entries.append(
            AclEntry(
                int(e["RuleNumber"]),
                protocol_number(e.get("Protocol", "-1")),
                e.get("RuleAction", "deny"),
                bool(e.get("Egress")),
                e["CidrBlock"],
                ports.get("From"),
                ports.get("To"),
                icmp.get("Type"),
                icmp.get("Code"),
            )
        )
    subnets = tuple(a["SubnetId"] for a in raw.get("Associations") or [] if a.get("SubnetId"))
    return NetworkAcl(
        raw["NetworkAclId"], raw["VpcId"], tuple(entries), subnets, bool(raw.get("IsDefault"))
    )


def _eni(raw: dict, *, instance_id: str | None = None) -> Eni:
    attachment = raw.get("Attachment") or {}
    return Eni(
        raw["NetworkInterfaceId"],
        raw.get("SubnetId", ""),
        raw.get("VpcId", ""),
        raw.get("PrivateIpAddress", ""),
        (raw.get("Association") or {}).get("PublicIp"),
        tuple(g["GroupId"] for g in raw.get("Groups") or []),
        attachment.get("InstanceId") or instance_id,
        tuple(a["Ipv6Address"] for a in raw.get("Ipv6Addresses") or [] if "Ipv6Address" in a),
    )


def _instance(raw: dict) -> Instance:
    enis = sorted(
        raw.get("NetworkInterfaces") or [],
        key=lambda n: (n.get("Attachment") or {}).get("DeviceIndex", 0),
    )
    return Instance(
        raw["InstanceId"],
        (raw.get("State") or {}).get("Name", "unknown"),
        tuple(n["NetworkInterfaceId"] for n in enis),
        raw.get("InstanceType", ""),
        raw.get("PrivateDnsName", ""),
    )


def _proto_text(protocol: int, lo: int = ALL, hi: int = ALL) -> str:
    """A rule's traffic in words: "all traffic", "icmp (all)", "tcp/22", "udp/1024-65535"."""
    if protocol == ALL:
        return "all traffic"
    name = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}.get(protocol, f"protocol {protocol}")
    if protocol in (1, 58):
        return f"{name} (all)" if lo == ALL else f"{name} type {lo}"
    if protocol not in (6, 17):
        return name
    if lo == ALL or (lo == 0 and hi == 65535):
        return f"{name} (all ports)"
    return f"{name}/{lo}" if lo == hi else f"{name}/{lo}-{hi}"
