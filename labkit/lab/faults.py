"""Planted faults for notebook 10: break the lab on purpose, read the flow logs, diagnose, fix.

Each fault breaks one thing with one visible boto3 call (or a short sequence), names the resource a
diagnosis must point at, and undoes itself with ``fix``. Every resource a fault creates carries the
lab's tags, so teardown finds it. One ping from instance 1 to instance 2 shows each fault, each with
its own pattern of records (AWS, "Flow log record examples",
https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html):

- ``receiver-sg-without-icmp``: one REJECT, ingress on the receiver (security groups are stateful);
- ``reply-blocked-by-nacl``: the request ACCEPTed in, the reply REJECTed out on the receiver (network
  ACLs are stateless: "Security group and network ACL rules" in the same page);
- ``no-return-route``: request accepted both sides, the reply leaves through the internet gateway
  (traffic-path 8) and never arrives: a black hole;
- ``peering-deleted``: the sender's egress ACCEPT and nothing more; the route points at a peering
  that is gone ("Update your route tables for a VPC peering connection": such a route is a
  blackhole);
- ``flow-log-role-trust``: no records at all; DescribeFlowLogs says DeliverLogsStatus FAILED,
  DeliverLogsErrorMessage "Access error" ("IAM role for publishing flow logs to CloudWatch Logs").

``open_lab(step=7)`` rebuilds what the build steps own; ``fix_fault(lab)`` finds whichever faults are
present by looking at the lab (so it works after a kernel restart) and undoes them.
"""

from __future__ import annotations

import json
import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from labkit.errors import LabError
from labkit.lab.commands import CommandResult, run_command
from labkit.lab.names import VPC_CIDRS, delivery_role_name, log_group_name
from labkit.lab.policies import trust_policy
from labkit.lab.tags import ROLE_KEY, lab_filter, tag_value

__all__ = ["FAULTS", "Fault", "LabResources", "PlantedFault", "Trial", "check_diagnosis", "fix_fault",
           "lab_resources", "ping", "plant_fault"]

FAULT_ACL_ROLE = "nacl-fault"


# ---- the lab's resources, found by tag ---------------------------------------------------------


@dataclass(frozen=True)
class LabResources:
    """The ids a notebook passes to boto3: each found by the lab's tags (DescribeX with tag filters)."""

    vpc1: str
    vpc2: str
    subnet1: str
    subnet2: str
    rtb1: str
    rtb2: str
    sg1: str
    sg2: str
    instance1: str
    instance2: str
    ip1: str
    ip2: str
    eni1: str
    eni2: str
    pcx: str | None  # None while no active peering joins the VPCs
    delivery_role: str
    log_group: str

    def kind_of(self, resource_id: str) -> str | None:
        """Which of the lab's resources an id is ("sg1", "rtb2", ...), or None."""
        return next((name for name, value in vars(self).items() if value == resource_id), None)


def lab_resources(lab) -> LabResources:
    """Find the lab's resources by tag; a missing one means the lab is not at step 7 yet."""
    ec2 = lab.client("ec2")
    by_role: dict[str, dict] = {}

    def collect(items, key="Tags"):
        for item in items:
            role = tag_value(item.get(key), ROLE_KEY)
            if role:
                by_role[role] = item

    mine = lab_filter(lab.name)
    collect(ec2.describe_vpcs(Filters=mine)["Vpcs"])
    collect(ec2.describe_subnets(Filters=mine)["Subnets"])
    collect(ec2.describe_route_tables(Filters=mine)["RouteTables"])
    collect(ec2.describe_security_groups(Filters=mine)["SecurityGroups"])
    collect([i for r in ec2.describe_instances(Filters=[*mine, {"Name": "instance-state-name",
                                                                "Values": ["pending", "running"]}])[
        "Reservations"] for i in r["Instances"]])
    collect(ec2.describe_vpc_peering_connections(
        Filters=[*mine, {"Name": "status-code", "Values": ["active"]}])["VpcPeeringConnections"])
    needed = ("vpc1", "vpc2", "subnet1", "subnet2", "rtb1", "rtb2", "sg1", "sg2", "instance1", "instance2")
    missing = [role for role in needed if role not in by_role]
    if missing:
        raise LabError(f"the lab has no {', '.join(missing)}: run open_lab(step=7) first")
    i1, i2 = by_role["instance1"], by_role["instance2"]
    return LabResources(
        by_role["vpc1"]["VpcId"], by_role["vpc2"]["VpcId"],
        by_role["subnet1"]["SubnetId"], by_role["subnet2"]["SubnetId"],
        by_role["rtb1"]["RouteTableId"], by_role["rtb2"]["RouteTableId"],
        by_role["sg1"]["GroupId"], by_role["sg2"]["GroupId"],
        i1["InstanceId"], i2["InstanceId"], i1["PrivateIpAddress"], i2["PrivateIpAddress"],
        i1["NetworkInterfaces"][0]["NetworkInterfaceId"], i2["NetworkInterfaces"][0]["NetworkInterfaceId"],
        by_role["pcx"]["VpcPeeringConnectionId"] if "pcx" in by_role else None,
        delivery_role_name(lab), log_group_name(lab),
    )  # fmt: skip


# ---- traffic and the records it left -----------------------------------------------------------


@dataclass
class Trial:
    """One ping sent through SSM Run Command, and a way to find the records it left.

    A record aggregates one flow on one interface over a capture window; its ``start`` (the event's
    ``@timestamp``) is the time of its first packet. A trial's records are those between its two
    addresses whose first packet came after it was sent. Offline, ``ping`` first closes the capture
    windows still open, so that its packets start records of their own.
    """

    lab: object
    command: CommandResult
    sent_ms: int
    src_ip: str
    dst_ip: str

    def __repr__(self) -> str:
        return str(self.command)

    @property
    def answered(self) -> bool:
        return self.command.exit_code == 0

    def records(self, timeout_s: float | None = None):
        """The records between the two addresses that reached the log group after the ping was sent.

        Offline they are there at once. On AWS they take about 5 minutes: this waits up to
        ``timeout_s`` (default 12 minutes) for the first, and an empty answer is an answer.
        """
        from labkit.lab.wait import Pace, Pending, wait_until

        pace = Pace(timeout_s=0, interval_s=0.1, live_timeout_s=720, live_interval_s=15)

        def found():
            frame = self._read()
            return frame if len(frame) or self.lab.mode != "live" else Pending("none yet")

        try:
            return wait_until(found, mode=self.lab.mode, pace=pace, timeout_s=timeout_s, progress=False,
                              what="flow-log records of the ping", advice="")
        except LabError:
            return self._read()

    def _read(self):
        from labkit import flowlogs
        from labkit.analysis.records import lab_format

        logs = self.lab.client("logs")
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=log_group_name(self.lab), startTime=self.sent_ms)
        events = [e for page in pages for e in page["events"]]
        frame = flowlogs.read(events, format=lab_format(self.lab))
        pair = {self.src_ip, self.dst_ip}
        if len(frame):
            frame = frame[frame["srcaddr"].isin(pair) & frame["dstaddr"].isin(pair)]
        order = [c for c in ("flow_direction", "srcaddr", "dstaddr", "action") if c in frame.columns]
        return frame.sort_values(order).reset_index(drop=True) if len(frame) else frame

    def query(self, body: str) -> str:
        """A Logs Insights query over this ping's records only: the lab's ``parse``, then ``body``."""
        from labkit.analysis.queries import PARSE

        a, b = self.src_ip, self.dst_ip
        return (f"{PARSE}\n| filter @timestamp >= {self.sent_ms}"
                f' and ((srcAddr = "{a}" and dstAddr = "{b}") or (srcAddr = "{b}" and dstAddr = "{a}"))'
                f"\n| {body}")


def _fresh_second(lab) -> int:
    """Offline: the epoch second from which a new trial's records can be told apart, in ms.

    Reading the log group publishes every capture window still open (AWS's windows are "up to" the
    aggregation interval); without that, this ping's packets would join the record of an earlier
    ping of the same flow, as they may on AWS (on a live account, leave a minute between trials).
    Records start on whole seconds: if one already starts in this second, wait for the next.
    """
    now_s = int(time.time())
    try:
        earlier = lab.client("logs").filter_log_events(
            logGroupName=log_group_name(lab), startTime=now_s * 1000, limit=1)["events"]
    except lab.client("logs").exceptions.ResourceNotFoundException:
        earlier = []
    if earlier:
        time.sleep(max(0.0, now_s + 1 - time.time()))
        now_s += 1
    return now_s * 1000


def ping(lab, src: str = "instance1", dst: str = "instance2", count: int = 2) -> Trial:
    """``ping -c COUNT`` from an instance ("instance1", "instance2" or an id) to an instance or address."""
    resources = lab_resources(lab)
    names = {"instance1": (resources.instance1, resources.ip1),
             "instance2": (resources.instance2, resources.ip2)}
    ids = {instance: ip for instance, ip in names.values()}
    src_id, src_ip = names.get(src) or (src, ids.get(src))
    if src_ip is None:
        raise LabError(f"ping: {src!r} is not one of the lab's instances (instance1, instance2 or an id)")
    dst_ip = names[dst][1] if dst in names else ids.get(dst, dst)
    if lab.mode == "live":
        sent_ms = (int(time.time()) - 1) * 1000  # a second's margin for the instance's clock
    else:
        sent_ms = _fresh_second(lab)
    return Trial(lab, run_command(lab, src_id, f"ping -c {count} {dst_ip}"), sent_ms, src_ip, dst_ip)


# ---- the faults ----------------------------------------------------------------------------------


class Fault(ABC):
    """One way to break the lab: ``break_`` and ``fix`` are boto3 calls; ``culprit`` is the diagnosis."""

    def __init__(self, name: str, title: str, question: str, hint: str):
        self.name, self.title, self.question, self.hint = name, title, question, hint

    def __repr__(self) -> str:
        return f"<fault {self.name}: {self.title}>"

    @abstractmethod
    def break_(self, lab) -> None:
        """Break the lab."""

    @abstractmethod
    def fix(self, lab) -> None:
        """Undo ``break_``."""

    @abstractmethod
    def is_present(self, lab) -> bool:
        """Whether the lab has this fault now, read from the lab."""

    @abstractmethod
    def culprit(self, lab) -> str:
        """The id (or role name) of the resource a diagnosis must name, read from the lab."""

    def accepted(self, lab) -> set[str]:
        """Every spelling of the right answer."""
        return {self.culprit(lab)}


ICMP_FROM_VPC1 = {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
                  "IpRanges": [{"CidrIp": VPC_CIDRS["vpc1"], "Description": "ping"}]}


class ReceiverSecurityGroup(Fault):
    def break_(self, lab) -> None:
        r = lab_resources(lab)
        lab.client("ec2").revoke_security_group_ingress(GroupId=r.sg2, IpPermissions=[ICMP_FROM_VPC1])

    def fix(self, lab) -> None:
        r = lab_resources(lab)
        lab.client("ec2").authorize_security_group_ingress(GroupId=r.sg2, IpPermissions=[ICMP_FROM_VPC1])

    def is_present(self, lab) -> bool:
        ec2 = lab.client("ec2")
        group = ec2.describe_security_groups(GroupIds=[lab_resources(lab).sg2])["SecurityGroups"][0]
        return not any(p.get("IpProtocol") in ("icmp", "-1") for p in group.get("IpPermissions", []))

    def culprit(self, lab) -> str:
        return lab_resources(lab).sg2


class ReplyBlockedByNetworkAcl(Fault):
    """A new network ACL on subnet 2: ICMP in from VPC 1, and no outbound rule but the final deny."""

    def break_(self, lab) -> None:
        ec2, r = lab.client("ec2"), lab_resources(lab)
        acl = ec2.create_network_acl(VpcId=r.vpc2, TagSpecifications=[
            {"ResourceType": "network-acl", "Tags": lab.tags(FAULT_ACL_ROLE)}])["NetworkAcl"]["NetworkAclId"]
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=False, Protocol="1",
                                     RuleAction="allow", CidrBlock=VPC_CIDRS["vpc1"],
                                     IcmpTypeCode={"Type": -1, "Code": -1})
        ec2.replace_network_acl_association(AssociationId=_acl_association(lab, r.subnet2), NetworkAclId=acl)

    def fix(self, lab) -> None:
        ec2, r = lab.client("ec2"), lab_resources(lab)
        defaults = [{"Name": "vpc-id", "Values": [r.vpc2]}, {"Name": "default", "Values": ["true"]}]
        default = ec2.describe_network_acls(Filters=defaults)["NetworkAcls"][0]
        ec2.replace_network_acl_association(AssociationId=_acl_association(lab, r.subnet2),
                                            NetworkAclId=default["NetworkAclId"])
        for acl in _fault_acls(lab):
            ec2.delete_network_acl(NetworkAclId=acl)

    def is_present(self, lab) -> bool:
        # Present while subnet 2 uses the planted ACL; a detached one only waits for fix or teardown.
        return self.culprit(lab) in _fault_acls(lab)

    def culprit(self, lab) -> str:
        ec2, r = lab.client("ec2"), lab_resources(lab)
        found = ec2.describe_network_acls(
            Filters=[{"Name": "association.subnet-id", "Values": [r.subnet2]}])["NetworkAcls"]
        return found[0]["NetworkAclId"]


def _acl_association(lab, subnet_id: str) -> str:
    found = lab.client("ec2").describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"]
    return next(a["NetworkAclAssociationId"] for a in found[0]["Associations"] if a["SubnetId"] == subnet_id)


def _fault_acls(lab) -> list[str]:
    found = lab.client("ec2").describe_network_acls(Filters=lab_filter(lab.name, FAULT_ACL_ROLE))
    return [a["NetworkAclId"] for a in found["NetworkAcls"]]


class NoReturnRoute(Fault):
    def break_(self, lab) -> None:
        r = lab_resources(lab)
        lab.client("ec2").delete_route(RouteTableId=r.rtb2, DestinationCidrBlock=VPC_CIDRS["vpc1"])

    def fix(self, lab) -> None:
        r = lab_resources(lab)
        if r.pcx is None:
            raise LabError("no active peering to route through: fix the peering first")
        lab.client("ec2").create_route(RouteTableId=r.rtb2, DestinationCidrBlock=VPC_CIDRS["vpc1"],
                                       VpcPeeringConnectionId=r.pcx)

    def is_present(self, lab) -> bool:
        return _route(lab, lab_resources(lab).rtb2, VPC_CIDRS["vpc1"]) is None

    def culprit(self, lab) -> str:
        return lab_resources(lab).rtb2


def _route(lab, table_id: str, destination: str) -> dict | None:
    table = lab.client("ec2").describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]
    return next((x for x in table["Routes"] if x.get("DestinationCidrBlock") == destination), None)


class PeeringDeleted(Fault):
    """The peering deleted (a deleted peering cannot come back: the fix builds a new one)."""

    def break_(self, lab) -> None:
        r = lab_resources(lab)
        if r.pcx is None:
            raise LabError("the lab has no active peering to delete")
        lab.client("ec2").delete_vpc_peering_connection(VpcPeeringConnectionId=r.pcx)

    def fix(self, lab) -> None:
        from labkit.lab.steps.peering import wait_for_peering
        from labkit.lab.tags import tag_spec

        ec2, r = lab.client("ec2"), lab_resources(lab)
        pcx = ec2.create_vpc_peering_connection(
            VpcId=r.vpc1, PeerVpcId=r.vpc2,
            TagSpecifications=tag_spec("vpc-peering-connection", lab.name, "pcx"),
        )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        wait_for_peering(lab, pcx, quiet=True)  # accepts it, and waits until it is active
        for table, peer in ((r.rtb1, VPC_CIDRS["vpc2"]), (r.rtb2, VPC_CIDRS["vpc1"])):
            call = ec2.replace_route if _route(lab, table, peer) else ec2.create_route
            call(RouteTableId=table, DestinationCidrBlock=peer, VpcPeeringConnectionId=pcx)

    def is_present(self, lab) -> bool:
        return lab_resources(lab).pcx is None

    def culprit(self, lab) -> str:
        route = _route(lab, lab_resources(lab).rtb1, VPC_CIDRS["vpc2"])
        if route is None or not route.get("VpcPeeringConnectionId"):
            raise LabError("route table 1 has no route to VPC 2 through a peering")
        return route["VpcPeeringConnectionId"]


WRONG_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


class FlowLogRoleTrust(Fault):
    """The delivery role trusts EC2 instead of VPC Flow Logs: nothing is delivered."""

    def break_(self, lab) -> None:
        lab.client("iam").update_assume_role_policy(RoleName=delivery_role_name(lab),
                                                    PolicyDocument=json.dumps(WRONG_TRUST))

    def fix(self, lab) -> None:
        trust = trust_policy(lab.account_id, lab.region)
        lab.client("iam").update_assume_role_policy(RoleName=delivery_role_name(lab),
                                                    PolicyDocument=json.dumps(trust))

    def is_present(self, lab) -> bool:
        from labkit.analysis.explain import trusts_flow_logs

        return not trusts_flow_logs(lab, delivery_role_name(lab))

    def culprit(self, lab) -> str:
        return delivery_role_name(lab)

    def accepted(self, lab) -> set[str]:
        role = lab.client("iam").get_role(RoleName=delivery_role_name(lab))["Role"]
        return {role["RoleName"], role["Arn"]}


FAULTS: dict[str, Fault] = {f.name: f for f in (
    ReceiverSecurityGroup(
        "receiver-sg-without-icmp", "the receiver's security group lets no ICMP in",
        "Which resource rejected the ping? Give its id.",
        "one REJECT, ingress, on the receiver's interface: what stands in front of that interface?"),
    ReplyBlockedByNetworkAcl(
        "reply-blocked-by-nacl", "a network ACL lets the request in but not the reply out",
        "Which resource rejected the reply? Give its id.",
        "the request was ACCEPTed in and the reply REJECTed out: which filter is stateless?"),
    NoReturnRoute(
        "no-return-route", "the receiver's subnet has no route back",
        "Which resource sent the reply the wrong way? Give its id.",
        "the reply left instance 2 with traffic-path 8 (the internet gateway): which table chose that?"),
    PeeringDeleted(
        "peering-deleted", "the peering connection is no longer active",
        "Which resource is missing from the path? Give its id.",
        "the request left instance 1 and never arrived: what does its route point at?"),
    FlowLogRoleTrust(
        "flow-log-role-trust", "the flow-log role's trust policy names the wrong service",
        "Which resource keeps the records from arriving? Give its name.",
        "no records at all: look at DeliverLogsErrorMessage in DescribeFlowLogs, then at the role"),
)}


# ---- answers -------------------------------------------------------------------------------------


def check_diagnosis(lab, name: str, answer, hint: str | None = None) -> bool:
    """Check a diagnosis against the lab as it is now; print why it is right or wrong."""
    fault = _fault(name)
    hint = hint or fault.hint
    if answer is None or answer is ...:
        print(f"Not answered yet. Hint: {hint}")
        return False
    if not fault.is_present(lab):
        print(f"The lab does not have this fault right now ({fault.title}): break it first, then diagnose.")
        return False
    text = str(answer).strip()
    accepted = fault.accepted(lab)
    if text in accepted:
        print(f"Correct: {text} ({fault.title}).")
        return True
    print(f"Not quite: {answer!r}. {_why_wrong(lab, text, accepted)} Hint: {hint}")
    return False


def _why_wrong(lab, text: str, accepted: set[str]) -> str:
    if any(a.startswith(text) for a in accepted) or text.endswith("-"):
        return "That is only the kind of resource: which one?"
    kind = lab_resources(lab).kind_of(text)
    if kind:
        return f"That is the lab's {kind}: it did not stop this traffic."
    return "No resource on the path has that id."


def _fault(name: str) -> Fault:
    if name not in FAULTS:
        raise LabError(f"no fault named {name!r}: choose one of {', '.join(FAULTS)}")
    return FAULTS[name]


# ---- the mystery ---------------------------------------------------------------------------------


MYSTERY_HINT = ("which interfaces recorded the ping, in which direction, with which action and traffic-path? "
                "No records at all: look at DescribeFlowLogs")


class PlantedFault:
    """A fault planted at random: its name stays hidden until ``reveal()``."""

    def __init__(self, lab, fault: Fault):
        self._lab, self._fault = lab, fault

    def __repr__(self) -> str:
        return ("A fault is planted. Send a ping (lab.ping('instance1', 'instance2')), read the records, "
                "and answer with mystery.check('<resource id or name>').")

    def check(self, answer) -> bool:
        """Is ``answer`` the resource that breaks the traffic? Prints feedback."""
        return check_diagnosis(self._lab, self._fault.name, answer, hint=MYSTERY_HINT)

    def reveal(self) -> str:
        """The fault's name and what it broke."""
        return f"{self._fault.name}: {self._fault.title} (culprit {self._fault.culprit(self._lab)})"

    def fix(self) -> None:
        """Undo the fault."""
        self._fault.fix(self._lab)


def plant_fault(lab, seed: int | None = None) -> PlantedFault:
    """Heal the lab, then plant one of the five faults at random (``seed`` makes the choice repeatable)."""
    lab.require_write("planting a fault")
    fix_fault(lab)
    fault = random.Random(seed).choice(list(FAULTS.values()))
    fault.break_(lab)
    return PlantedFault(lab, fault)


def fix_fault(lab) -> list[str]:
    """Undo every fault the lab has now (found by looking, not remembered); the names undone."""
    fixed = []
    # The peering first: the return route needs an active peering to point at.
    order = ["peering-deleted", *[n for n in FAULTS if n != "peering-deleted"]]
    for name in order:
        if FAULTS[name].is_present(lab):
            FAULTS[name].fix(lab)
            fixed.append(name)
    return fixed
