"""``lab.explain``: why a packet was accepted, rejected or lost, read from the lab's real topology.

A flow-log record names no rule: it says ACCEPT or REJECT on one interface. Which security group,
network ACL rule, route or peering decided is inferred from the pattern of records (AWS, "Flow log
record examples", https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html:
a security group is stateful, so a rejected ping leaves one REJECT; a network ACL is stateless, so a
reply it blocks leaves an ACCEPT for the request and a REJECT for the reply). ``explain`` confirms
that inference: it reads the topology with the nine EC2 describe calls (so it works on a live
account too), walks the packet and its reply through :mod:`labkit.netmodel`, and names the
resource that decided and the smallest change, as a boto3 call, that would let the traffic through.
AWS's Reachability Analyzer does this as a paid service; this is the free, offline teaching version.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
from dataclasses import dataclass, field

from labkit.analysis.diagram import Diagram
from labkit.errors import LabError
from labkit.lab.policies import FLOW_LOGS_SERVICE, trust_policy
from labkit.lab.tags import lab_filter
from labkit.netmodel import Packet, Topology, Verdict, evaluate, reply_packet
from labkit.netmodel.topology import protocol_number

__all__ = ["Explanation", "Hop", "explain", "read_topology", "trusts_flow_logs"]

ICMP, TCP, UDP = 1, 6, 17
ECHO_REQUEST = 8
EPHEMERAL = (1024, 65535)  # AWS's advice for network ACL rules that let TCP/UDP replies out
_ID = re.compile(r"\b(?:sg|rtb|acl|pcx|igw|eni|i|vpc|subnet)-[0-9a-zA-Z]+\b")
_KINDS = (("security group", "security group"), ("route table", "route table"),
          ("network ACL", "network ACL"), ("peering", "peering"), ("internet gateway", "internet gateway"),
          ("internet host", "internet"), ("eni-", "interface"), ("instance", "instance"))


@dataclass(frozen=True)
class Hop:
    """One step of one packet's walk: what looked at it, and what it said."""

    leg: str  # "request" | "reply"
    kind: str  # "security group", "route table", "network ACL", "peering", ...
    resource_id: str
    verdict: str  # "pass" | "allow" | "REJECT" | "DROP" | "deliver"
    detail: str


@dataclass
class Explanation:
    """What happened to one packet and its reply, who decided, and what would change it."""

    packet: Packet
    request: Verdict
    reply: Verdict | None
    hops: list[Hop]
    outcome: str  # "ACCEPT" | "REJECT" | "BLACK HOLE"
    failed_leg: str | None  # "request" | "reply" | None
    decided_by: str  # the reason, in words
    decided_by_id: str  # the resource id (or role name) that decided
    fix: str | None  # the smallest change, as boto3 code
    recorded: bool = True  # False when no flow log could deliver the records
    notes: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[tuple[str, str, str, str]]:
        """The records flow logs write for one packet each way: (leg, interface, direction, action)."""
        rows = []
        for leg, verdict in (("request", self.request), ("reply", self.reply)):
            if verdict is None or not verdict.logged:
                continue
            if verdict.src_eni is not None and verdict.src_action:
                rows.append((leg, verdict.src_eni.id, "egress", verdict.src_action))
            if verdict.dst_eni is not None and verdict.dst_action:
                rows.append((leg, verdict.dst_eni.id, "ingress", verdict.dst_action))
        return rows

    def summary(self) -> str:
        what = f"{self.packet.describe()} {self.packet.src_ip} -> {self.packet.dst_ip}"
        leg = f" (the {self.failed_leg})" if self.failed_leg and self.outcome != "ACCEPT" else ""
        return f"{what}: {self.outcome}{leg}, decided by {self.decided_by_id or '-'}"

    def __str__(self) -> str:
        lines = [self.summary()]
        for hop in self.hops:
            lines.append(f"  {hop.leg:<7} {hop.kind:<16} {hop.resource_id:<24} {hop.verdict:<7} {hop.detail}")
        lines.append("records: " + (", ".join(f"{leg} {eni} {d} {a}" for leg, eni, d, a in self.records)
                                    or "none"))
        lines += [f"note: {note}" for note in self.notes]
        if self.fix:
            lines += ["smallest change:", *("  " + line for line in self.fix.splitlines())]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(h.leg)}</td><td>{esc(h.kind)}</td><td><code>{esc(h.resource_id)}</code></td>"
            f"<td><b>{esc(h.verdict)}</b></td><td style='text-align:left'>{esc(h.detail)}</td></tr>"
            for h in self.hops)
        records = "".join(f"<li>{esc(leg)}: <code>{esc(eni)}</code> {esc(d)} <b>{esc(a)}</b></li>"
                          for leg, eni, d, a in self.records) or "<li>none</li>"
        notes = "".join(f"<p>{esc(n)}</p>" for n in self.notes)
        fix = (f"<p>Smallest change that lets it through:</p><pre>{esc(self.fix)}</pre>" if self.fix else "")
        return (f"<p><b>{esc(self.summary())}</b></p>"
                "<table><tr><th>leg</th><th>step</th><th>resource</th><th>verdict</th><th>detail</th></tr>"
                f"{rows}</table><p>Records flow logs write:</p><ul>{records}</ul>{notes}{fix}")

    def diagram(self) -> Diagram:
        """The path as a mermaid flowchart: one node per hop, the deciding one in red."""
        lines = ["flowchart LR"]
        previous = None
        for n, hop in enumerate(self.hops):
            node = f"h{n}"
            label = f"{hop.leg}: {hop.kind}<br/>{hop.resource_id}<br/>{hop.verdict}".replace('"', "'")
            lines.append(f'    {node}["{label}"]')
            if hop.verdict in ("REJECT", "DROP"):
                lines.append(f"    style {node} fill:#f8d7da,stroke:#c0392b")
            if previous:
                lines.append(f"    {previous} --> {node}")
            previous = node
        return Diagram("\n".join(lines), self.summary())


# ---- reading the topology ----------------------------------------------------------------------


def read_topology(lab) -> Topology:
    """The lab's VPCs and everything in them, from the nine describe calls the network model reads."""
    ec2 = lab.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=lab_filter(lab.name))["Vpcs"]
    if not vpcs:
        raise LabError("the lab has no VPCs yet: open_lab(step=4) or later builds what explain reads")
    in_vpcs = [{"Name": "vpc-id", "Values": [v["VpcId"] for v in vpcs]}]
    ids = in_vpcs[0]["Values"]
    peerings = {}
    for side in ("requester-vpc-info.vpc-id", "accepter-vpc-info.vpc-id"):
        for p in ec2.describe_vpc_peering_connections(Filters=[{"Name": side, "Values": ids}])[
                "VpcPeeringConnections"]:
            peerings[p["VpcPeeringConnectionId"]] = p
    responses = {
        "DescribeVpcs": {"Vpcs": vpcs},
        "DescribeSubnets": ec2.describe_subnets(Filters=in_vpcs),
        "DescribeRouteTables": ec2.describe_route_tables(Filters=in_vpcs),
        "DescribeInternetGateways": ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": ids}]),
        "DescribeVpcPeeringConnections": {"VpcPeeringConnections": list(peerings.values())},
        "DescribeSecurityGroups": ec2.describe_security_groups(Filters=in_vpcs),
        "DescribeNetworkAcls": ec2.describe_network_acls(Filters=in_vpcs),
        "DescribeNetworkInterfaces": ec2.describe_network_interfaces(Filters=in_vpcs),
        "DescribeInstances": ec2.describe_instances(Filters=in_vpcs),
    }
    return Topology.from_describe(responses)


# ---- the walk ------------------------------------------------------------------------------------


def explain(lab, record=None, *, src: str | None = None, dst: str | None = None,
            protocol: str | int | None = None, port: int | None = None) -> Explanation:
    """Explain a flow-log record (a row of ``lab.flow_logs()`` or a dict), or a packet by its parts.

    ``src``/``dst`` are addresses or instance ids; ``protocol`` "icmp", "tcp", "udp" or a number
    (default: tcp when a port is given, else icmp); ``port`` the destination port.
    """
    topology = read_topology(lab)
    packet = _packet(topology, record, src, dst, protocol, port)
    request = evaluate(topology, packet)
    reply = None
    if request.delivered and request.logged:
        reply = evaluate(topology, reply_packet(packet, request), reply_to=packet)
    hops = _hops("request", request) + (_hops("reply", reply) if reply else [])
    failed = request if not request.delivered else (reply if reply and not reply.delivered else None)
    notes = []
    if record is not None:
        notes.append("a record names no rule: this walks it as a new request and its reply")
    if not request.logged:
        notes.append(request.decided_by)
    if packet.protocol == TCP and request.delivered and request.dst_eni is not None:
        ports = topology.listening_ports(request.dst_eni.instance_id)
        if packet.dst_port not in ports:
            notes.append(f"nothing listens on port {packet.dst_port}: the receiver answers with a RST "
                         "(the connection is refused, not dropped)")
    if failed is None:
        explanation = Explanation(packet, request, reply, hops, "ACCEPT", None,
                                  (reply or request).decided_by, _allowing_group(request), None, notes=notes)
    else:
        leg = "request" if failed is request else "reply"
        rejected = "REJECT" in (failed.src_action, failed.dst_action)
        resource = _deciding_resource(topology, failed)
        fix = _fix(topology, failed, resource, leg == "reply")
        explanation = Explanation(packet, request, reply, hops, "REJECT" if rejected else "BLACK HOLE", leg,
                                  failed.decided_by, resource, fix, notes=notes)
    _check_recording(lab, topology, explanation)
    return explanation


def _packet(topology: Topology, record, src, dst, protocol, port) -> Packet:
    if record is not None:
        get = record.get if hasattr(record, "get") else (lambda k, d=None: getattr(record, k, d))
        src, dst = get("srcaddr"), get("dstaddr")
        protocol, port = get("protocol"), get("dstport")
        src_port = get("srcport")
    else:
        src_port = None
    if not src or not dst or _missing(src) or _missing(dst):
        raise LabError("explain needs a source and a destination: a record with srcaddr and dstaddr, "
                       "or src=..., dst=...")
    src, dst = _address(topology, str(src)), _address(topology, str(dst))
    number = protocol_number(protocol if not _missing(protocol) else ("tcp" if port else "icmp"))
    if number == ICMP:
        return Packet(src, dst, ICMP, icmp_type=ECHO_REQUEST)
    if number in (TCP, UDP):
        if _missing(port):
            raise LabError(f"explain: protocol {number} needs a destination port (port=...)")
        sport = None if _missing(src_port) else int(src_port)
        return Packet(src, dst, number, sport or 40000, int(port))
    return Packet(src, dst, number)


def _missing(value) -> bool:
    return value is None or value == "-" or (isinstance(value, float) and value != value)


def _address(topology: Topology, name: str) -> str:
    if name.startswith("i-"):
        return topology.primary_eni(name).private_ip
    try:
        ipaddress.ip_address(name)
    except ValueError:
        raise LabError(f"explain: {name!r} is neither an IPv4 address nor an instance id") from None
    return name


def _hops(leg: str, verdict: Verdict) -> list[Hop]:
    hops = []
    for n, line in enumerate(verdict.path):
        last = n == len(verdict.path) - 1
        kind = next((k for prefix, k in _KINDS if line.startswith(prefix)), "note")
        found = _ID.search(line)
        if last and line == verdict.decided_by:
            if verdict.delivered:
                word = "deliver"
            else:
                word = "REJECT" if "REJECT" in (verdict.src_action, verdict.dst_action) else "DROP"
        else:
            word = "allow" if (" allows" in line or line.endswith(" allow")) else "pass"
        hops.append(Hop(leg, kind, found.group(0) if found else "-", word, line))
    return hops


def _allowing_group(verdict: Verdict) -> str:
    """For accepted traffic, the security group whose inbound rule let the request in."""
    for line in reversed(verdict.path):
        if line.startswith("security group") and "inbound" in line:
            return _ID.search(line).group(0)
    return verdict.dst_eni.id if verdict.dst_eni else "-"


def _deciding_resource(topology: Topology, verdict: Verdict) -> str:
    reason = verdict.decided_by
    ids = _ID.findall(reason)
    if reason.startswith("route table") and "blackhole" in reason:
        target = next((i for i in ids if i.startswith("pcx-")), None)
        peering = topology.peerings.get(target or "")
        return target if peering is None or peering.status != "active" else ids[0]
    if reason.startswith("internet gateway") and "private address" in reason:
        # The internet gateway only did its job: the route table sent a private address there.
        return _sender_table(topology, verdict) or ids[0]
    if reason.startswith("peering"):
        return next(i for i in ids if i.startswith("pcx-"))
    return ids[0] if ids else "-"


def _sender_table(topology: Topology, verdict: Verdict) -> str | None:
    table = topology.route_table_for(verdict.src_eni.subnet_id) if verdict.src_eni else None
    return table.id if table else None


# ---- the smallest change -------------------------------------------------------------------------


def _fix(topology: Topology, verdict: Verdict, resource: str, is_reply: bool) -> str | None:
    reason, p = verdict.decided_by, verdict.packet
    if reason.startswith("security group") and "no rule allows" in reason:
        inbound = " inbound:" in reason
        peer = (verdict.seen_src_ip or p.src_ip) if inbound else p.dst_ip
        call = "authorize_security_group_ingress" if inbound else "authorize_security_group_egress"
        permission = {"IpProtocol": _proto_name(p.protocol), **_sg_ports(p),
                      "IpRanges": [{"CidrIp": f"{peer}/32"}]}
        return f"ec2.{call}(GroupId={_code(resource)}, IpPermissions=[{_code(permission)}])"
    if reason.startswith("network ACL"):
        return _acl_fix(topology, verdict, resource, is_reply)
    if resource.startswith("pcx-"):
        return _peering_fix(topology, verdict, resource)
    if resource.startswith("rtb-"):
        return _route_fix(topology, verdict, resource)
    return None


def _acl_fix(topology: Topology, verdict: Verdict, acl_id: str, is_reply: bool) -> str:
    p = verdict.packet
    egress = " outbound " in verdict.decided_by
    acl = topology.network_acls[acl_id]
    matched = re.search(r"rule (\S+) deny", verdict.decided_by).group(1)
    below = 32767 if matched == "*" else int(matched)
    taken = {e.rule_number for e in acl.rules(egress=egress)}
    free = [n for n in range(100, below, 10) if n not in taken] or [
        n for n in range(below - 1, 0, -1) if n not in taken]
    peer = p.dst_ip if egress else (verdict.seen_src_ip or p.src_ip)
    entry = {"NetworkAclId": acl_id, "RuleNumber": free[0], "Egress": egress,
             "Protocol": str(p.protocol), "RuleAction": "allow", "CidrBlock": f"{peer}/32"}
    if p.protocol == ICMP:
        entry["IcmpTypeCode"] = {"Type": p.icmp_type, "Code": -1}
    elif p.protocol in (TCP, UDP):
        # A reply goes to the client's ephemeral port, which changes every connection.
        lo, hi = EPHEMERAL if is_reply else (p.dst_port, p.dst_port)
        entry["PortRange"] = {"From": lo, "To": hi}
    return "ec2.create_network_acl_entry(" + ", ".join(f"{k}={_code(v)}" for k, v in entry.items()) + ")"


def _peering_fix(topology: Topology, verdict: Verdict, pcx_id: str) -> str:
    peering = topology.peerings[pcx_id]
    if peering.status == "pending-acceptance":
        return f"ec2.accept_vpc_peering_connection(VpcPeeringConnectionId={_code(pcx_id)})"
    # A deleted, rejected or failed peering cannot come back: a new one, accepted, and the routes moved.
    requester, accepter = peering.requester_vpc_id, peering.accepter_vpc_id
    lines = [f"pcx = ec2.create_vpc_peering_connection(VpcId={_code(requester)}, PeerVpcId={_code(accepter)})"
             '["VpcPeeringConnection"]["VpcPeeringConnectionId"]',
             "ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)"]
    for table in topology.route_tables.values():
        for route in table.routes:
            if route.target == pcx_id:
                lines.append(f"ec2.replace_route(RouteTableId={_code(table.id)}, "
                             f"DestinationCidrBlock={_code(route.destination)}, VpcPeeringConnectionId=pcx)")
    return "\n".join(lines)


def _route_fix(topology: Topology, verdict: Verdict, table_id: str) -> str | None:
    p, src = verdict.packet, verdict.src_eni
    peer_vpc = topology.vpc_of_ip(p.dst_ip)
    if src is None or peer_vpc is None or peer_vpc.id == src.vpc_id:
        return None
    pcx = next((x for x in topology.peerings.values()
                if x.status == "active" and x.other_side(src.vpc_id) == peer_vpc.id), None)
    if pcx is None:
        return None
    table = topology.route_tables[table_id]
    exists = any(r.destination == peer_vpc.cidr for r in table.routes)
    call = "replace_route" if exists else "create_route"
    return (f"ec2.{call}(RouteTableId={_code(table.id)}, DestinationCidrBlock={_code(peer_vpc.cidr)}, "
            f"VpcPeeringConnectionId={_code(pcx.id)})")


def _proto_name(protocol: int) -> str:
    return {ICMP: "icmp", TCP: "tcp", UDP: "udp"}.get(protocol, str(protocol))


def _sg_ports(p: Packet) -> dict:
    if p.protocol == ICMP:
        return {"FromPort": p.icmp_type, "ToPort": -1}  # for ICMP: the type, and any code
    if p.protocol in (TCP, UDP):
        return {"FromPort": p.dst_port, "ToPort": p.dst_port}
    return {}


def _code(value) -> str:
    """A Python literal as it reads in a boto3 call (JSON's quotes, Python's True/False)."""
    if isinstance(value, bool):
        return repr(value)
    return json.dumps(value).replace("true", "True").replace("false", "False")


# ---- can the records be delivered? ---------------------------------------------------------------


def _check_recording(lab, topology: Topology, explanation: Explanation) -> None:
    """A flow log that cannot deliver (DeliverLogsErrorMessage "Access error") records nothing."""
    enis = [e for v in (explanation.request, explanation.reply) if v for e in (v.src_eni, v.dst_eni) if e]
    if not enis:
        return
    resources = sorted({r for e in enis for r in (e.id, e.subnet_id, e.vpc_id)})
    flow_logs = lab.client("ec2").describe_flow_logs(
        Filter=[{"Name": "resource-id", "Values": resources}])["FlowLogs"]
    for flow_log in flow_logs:
        if flow_log.get("DeliverLogsStatus", "SUCCESS") == "SUCCESS":
            continue
        role_arn = flow_log.get("DeliverLogsPermissionArn") or ""
        role = role_arn.rsplit("/", 1)[-1]
        message = flow_log.get("DeliverLogsErrorMessage") or "unknown error"
        if role and not trusts_flow_logs(lab, role):
            explanation.recorded = False
            explanation.notes.append(f"flow log {flow_log['FlowLogId']} delivers nothing ({message}): role "
                                     f"{role} does not trust {FLOW_LOGS_SERVICE}")
            if explanation.outcome == "ACCEPT":
                explanation.decided_by = f"role {role}: its trust policy does not name {FLOW_LOGS_SERVICE}"
                explanation.decided_by_id = role
                explanation.fix = _trust_fix(lab, role)
        else:
            explanation.notes.append(
                f"flow log {flow_log['FlowLogId']} last reported {message}; role {role} trusts "
                f"{FLOW_LOGS_SERVICE}: check its permissions, then send traffic and look again")


def trusts_flow_logs(lab, role_name: str) -> bool:
    """Whether the role's trust policy lets VPC Flow Logs assume it (an Allow naming the service)."""
    iam = lab.client("iam")
    try:
        document = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return False
    document = json.loads(document) if isinstance(document, str) else document
    statements = document.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    for st in statements:
        services = (st.get("Principal") or {}).get("Service") or []
        services = [services] if isinstance(services, str) else services
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if st.get("Effect") == "Allow" and FLOW_LOGS_SERVICE in services and (
                "sts:AssumeRole" in actions or "sts:*" in actions):
            return True
    return False


def _trust_fix(lab, role_name: str) -> str:
    # The lab's own trust policy: AWS's documented one, with its confused-deputy conditions.
    trust = trust_policy(lab.account_id, lab.region)
    return (f"iam.update_assume_role_policy(RoleName={_code(role_name)}, "
            f"PolicyDocument=json.dumps({_code(trust)}))")
