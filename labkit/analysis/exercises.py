"""The exercise at the end of each notebook, checked against the lab as it is now.

``check(name, answer, lab)`` prints feedback and returns True or False. It never raises on a wrong
answer: a learner can run the whole notebook first and come back. Every check reads the lab's real
state through boto3 (so it works on a live account too): an id must be the very resource the lab
uses, not merely one of the right kind. The acting exercises probe the lab: they read the records a
learner's command left, run the learner's Logs Insights query, or send a ping through a fix.

>>> exercises.check("04-peer-route", "pcx-0a1b2c3d4e5f67890", lab)
Correct: route table 1 sends 192.168.0.0/16 through pcx-0a1b2c3d4e5f67890, the lab's active peering.
True
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from botocore.exceptions import ClientError, ParamValidationError

from labkit.errors import LabError
from labkit.lab.names import PROBE_PORT, VPC_CIDRS
from labkit.lab.tags import lab_filter

__all__ = ["NAMES", "check"]


@dataclass(frozen=True)
class Verdict:
    """A check's answer: right or not, and why, in words a learner can act on."""

    right: bool
    why: str = ""


@dataclass(frozen=True)
class Exercise:
    name: str
    hint: str
    is_right: Callable[[object, object], Verdict]
    needs_lab: bool = True


_EXERCISES: dict[str, Exercise] = {}


def _exercise(name: str, hint: str, needs_lab: bool = True):
    def register(fn):
        _EXERCISES[name] = Exercise(name, hint, fn, needs_lab)
        return fn

    return register


def check(name: str, answer, lab=None) -> bool:
    """Check ``answer`` to exercise ``name`` against ``lab``; print why, return True or False.

    ``None`` (the committed notebooks' placeholder) prints "Not answered yet" and returns False
    without touching the lab. An unknown ``name`` raises :class:`~labkit.errors.LabError` listing
    ``NAMES``; a wrong answer never raises.
    """
    exercise = _EXERCISES.get(name)
    if exercise is None:
        raise LabError(f"no exercise named {name!r}: choose one of {', '.join(NAMES)}")
    if answer is None or answer is ...:
        print(f"Not answered yet. Hint: {exercise.hint}")
        return False
    if exercise.needs_lab and lab is None:
        raise LabError(f"exercise {name!r} reads the lab: call exercises.check({name!r}, answer, lab)")
    try:
        verdict = exercise.is_right(answer, lab)
    except LabError as error:  # the lab is not where the exercise needs it: say so, do not crash
        verdict = Verdict(False, f"The lab cannot check this yet: {error}")
    if verdict.right:
        print(f"Correct{': ' + verdict.why if verdict.why else '!'}")
        return True
    parts = (f"Not quite: {answer!r}.", verdict.why, f"Hint: {exercise.hint}")
    print(" ".join(part for part in parts if part))
    return False


# ---- reading the lab -----------------------------------------------------------------------------


def _tagged(lab, describe: str, key: str, role: str) -> dict:
    """The lab's one resource with this role tag (e.g. the route table "rtb1"), described."""
    found = getattr(lab.client("ec2"), describe)(Filters=lab_filter(lab.name, role))[key]
    if not found:
        raise LabError(f"the lab has no {role} yet: run the notebook that builds it (or open_lab(step=7))")
    return found[0]


def _route(table: dict, destination: str) -> dict | None:
    return next((r for r in table["Routes"] if r.get("DestinationCidrBlock") == destination), None)


def _text(answer) -> str | None:
    return answer.strip() if isinstance(answer, str) else None


def _same_id(answer, actual: str, kind: str, others: dict[str, str]) -> Verdict:
    """An id answer: exactly ``actual``; say why a prefix or another resource's id is not it."""
    text = _text(answer)
    if text is None:
        return Verdict(False, f"Give the id as a string, like '{kind}-...'.")
    if text == actual:
        return Verdict(True)
    if actual.startswith(text):
        return Verdict(False, "That is only the beginning of an id: which one exactly?")
    for what, other in others.items():
        if text == other:
            return Verdict(False, f"That is {what}.")
    return Verdict(False, f"No {kind}- id of the lab is {text!r}.")


def _instances(lab) -> dict[str, dict]:
    """instance1 and instance2, described (running or pending)."""
    return {role: _tagged(lab, "describe_instances", "Reservations", role)["Instances"][0]
            for role in ("instance1", "instance2")}


# ---- 00 to 07 and 99: what the build notebooks made -------------------------------------------


@_exercise("00-mode", "lab.mode holds it")
def _mode(answer, lab) -> Verdict:
    if answer == lab.mode:
        return Verdict(True, f"this notebook runs {lab.mode}.")
    return Verdict(False, "That is not the mode this lab was opened in.")


@_exercise("01-overlap", "two CIDRs overlap when one contains the other's first address", needs_lab=False)
def _overlap(answer, lab) -> Verdict:
    overlaps = ipaddress.ip_network("10.0.0.0/16").overlaps(ipaddress.ip_network("10.0.128.0/17"))
    if not isinstance(answer, bool):
        return Verdict(False, "Answer True or False.")
    if answer == overlaps:
        return Verdict(True, "10.0.128.0/17 lies inside 10.0.0.0/16, so AWS would refuse to peer them.")
    return Verdict(False, "")


@_exercise("02-default-route", "list route table 2's routes (describe_route_tables); find 0.0.0.0/0")
def _default_route(answer, lab) -> Verdict:
    # Notebook 02 asks about subnet 2's route table (VPC 2's).
    table = _tagged(lab, "describe_route_tables", "RouteTables", "rtb2")
    route = _route(table, "0.0.0.0/0")
    if route is None or not route.get("GatewayId"):
        raise LabError("route table 2 has no 0.0.0.0/0 route to a gateway: run notebook 02")
    other = _tagged(lab, "describe_internet_gateways", "InternetGateways", "igw1")["InternetGatewayId"]
    verdict = _same_id(answer, route["GatewayId"], "igw", {"VPC 1's internet gateway": other})
    if verdict.right:
        return Verdict(True, f"route table 2 sends 0.0.0.0/0 to {route['GatewayId']}, VPC 2's internet "
                             "gateway.")
    return verdict


@_exercise("03-icmp-source", "look at security group 1's inbound ICMP rule (lab.rules_table)")
def _icmp_source(answer, lab) -> Verdict:
    group = _tagged(lab, "describe_security_groups", "SecurityGroups", "sg1")
    sources = [r["CidrIp"] for p in group.get("IpPermissions", []) if p.get("IpProtocol") == "icmp"
               for r in p.get("IpRanges", [])]
    if not sources:
        raise LabError("security group 1 has no ICMP rule: run notebook 03")
    text = _text(answer)
    if text in sources:
        return Verdict(True, f"security group 1 lets ICMP in from {text} only.")
    if text == "0.0.0.0/0":
        return Verdict(False, "That was the seed guide's rule, before the notebook tightened it.")
    if text == VPC_CIDRS["vpc1"]:
        return Verdict(False, "That is VPC 1's own range: who pings instance 1?")
    return Verdict(False, "That is not the source of security group 1's ICMP rule.")


@_exercise("04-peer-route", "list route table 1's routes; the target of 192.168.0.0/16 is a pcx- id")
def _peer_route(answer, lab) -> Verdict:
    table = _tagged(lab, "describe_route_tables", "RouteTables", "rtb1")
    route = _route(table, VPC_CIDRS["vpc2"])
    if route is None or not route.get("VpcPeeringConnectionId"):
        raise LabError("route table 1 has no route to VPC 2 through a peering: run notebook 04")
    actual = route["VpcPeeringConnectionId"]
    verdict = _same_id(answer, actual, "pcx", {"route table 1's own id": table["RouteTableId"]})
    if not verdict.right:
        return verdict
    peering = lab.client("ec2").describe_vpc_peering_connections(
        VpcPeeringConnectionIds=[actual])["VpcPeeringConnections"][0]
    if peering["Status"]["Code"] != "active":
        return Verdict(False, f"The route does point there, but {actual} is {peering['Status']['Code']}.")
    return Verdict(True, f"route table 1 sends {VPC_CIDRS['vpc2']} through {actual}, the lab's active "
                         "peering.")


@_exercise("05-which-policy", "the trust policy says who may assume the role; which one says what it may do?",
           needs_lab=False)
def _which_policy(answer, lab) -> Verdict:
    text = (_text(answer) or "").lower()
    if text == "permissions":
        return Verdict(True, "a second log group is a new Resource in the permissions policy.")
    if text == "trust":
        return Verdict(False, "The trust policy only says that VPC Flow Logs may assume the role.")
    return Verdict(False, 'Answer "trust" or "permissions".')


@_exercise("06-direction-field", "look for 'direction' in the flow log's LogFormat (lab.flow_logs_table)")
def _direction_field(answer, lab) -> Verdict:
    from labkit.analysis.records import lab_format

    fields = [f.strip("${}") for f in lab_format(lab).split()]
    text = _text(answer)
    if text == "flow-direction" and text in fields:
        return Verdict(True, "${flow-direction} is in the lab's format: ingress or egress.")
    if text == "flow_direction":
        return Verdict(False, "That is pandas' column name: the format spells it with hyphens.")
    if text in fields:
        return Verdict(False, f"{text} is in the format, but it does not say in or out.")
    return Verdict(False, "That field is not in the lab's format.")


@_exercise("07-probe-source-port", "the source port of the REJECT record between the two instances: "
                                   "the port the sender's kernel picked, not the one it probed")
def _probe_source_port(answer, lab) -> Verdict:
    ips = [i["PrivateIpAddress"] for i in _instances(lab).values()]
    records = lab.flow_logs(progress=False)
    between = records[records["srcaddr"].isin(ips) & records["dstaddr"].isin(ips)]
    rejected = {int(p) for p in between.loc[between["action"] == "REJECT", "srcport"].dropna()}
    if not rejected:
        raise LabError("the lab's flow logs hold no REJECT between the instances yet: run notebook 07")
    try:
        port = int(answer)
    except (TypeError, ValueError):
        return Verdict(False, "Give the port as a number.")
    if port in rejected:
        return Verdict(True, f"instance 1 sent the probe from ephemeral port {port}; instance 2's "
                             "security group REJECTed it on arrival.")
    return Verdict(False, "No REJECT record between the two instances has that source port.")


@_exercise("07-ping-back", "ssm.send_command(InstanceIds=[instance 2's id], "
                           "DocumentName='AWS-RunShellScript', Parameters={'commands': "
                           "['ping -c 1 <instance 1's address>']}); answer its CommandId")
def _ping_back(answer, lab) -> Verdict:
    command_id = _text(answer)
    if not command_id:
        return Verdict(False, "Give the CommandId that send_command returned, as a string.")
    instances = _instances(lab)
    two, one = instances["instance2"], instances["instance1"]
    try:
        invocation = lab.client("ssm").get_command_invocation(CommandId=command_id,
                                                              InstanceId=two["InstanceId"])
    except ParamValidationError:
        return Verdict(False, "That is not a CommandId (36 characters, from send_command's answer).")
    except ClientError as error:
        if error.response["Error"]["Code"] in ("InvocationDoesNotExist", "InvalidCommandId"):
            return Verdict(False, "No command with that id ran on instance 2: send it to instance 2's id.")
        raise
    if invocation["Status"] in ("Pending", "InProgress", "Delayed"):
        return Verdict(False, "The command is still running: check again in a moment.")
    # ICMP has no ports: a record 2 -> 1 may be the reply to instance 1's own ping. What the command
    # printed says what it pinged ("PING 10.0.1.10 (10.0.1.10) 56(84) bytes of data.").
    if f"({one['PrivateIpAddress']})" not in invocation.get("StandardOutputContent", "").split("\n")[0]:
        return Verdict(False, f"That command did not ping instance 1 ({one['PrivateIpAddress']}).")
    sent = datetime.fromisoformat(invocation["ExecutionStartDateTime"].replace("Z", "+00:00"))
    since = pd.Timestamp(sent).tz_convert(UTC).floor("s")
    records = lab.flow_logs(since=since - pd.Timedelta(minutes=10), progress=False)
    # A record's end is its last packet: a ping that joined an open capture window still moves it.
    mine = records[(records["srcaddr"] == two["PrivateIpAddress"])
                   & (records["dstaddr"] == one["PrivateIpAddress"])
                   & (records["protocol_name"] == "ICMP") & (records["end"] >= since)]
    if mine.empty:
        if lab.mode == "live":
            return Verdict(False, "No record of it yet: flow logs reach CloudWatch Logs about 5 minutes "
                                  "after the traffic. Check again in a few minutes.")
        return Verdict(False, f"The flow logs hold no ICMP from {two['PrivateIpAddress']} to "
                              f"{one['PrivateIpAddress']} since that command: did it ping instance 1?")
    return Verdict(True, f"{len(mine)} new ICMP record(s) from {two['PrivateIpAddress']} to "
                         f"{one['PrivateIpAddress']}: " + ", ".join(
                             f"{d} {a}" for d, a in zip(mine["flow_direction"], mine["action"], strict=True))
                   + ".")


@_exercise("99-left", "lab.inventory() lists what the lab still owns")
def _left(answer, lab) -> Verdict:
    left = len(lab.inventory())
    if isinstance(answer, bool) or not isinstance(answer, int):
        return Verdict(False, "Give a whole number.")
    if answer == left:
        return Verdict(True, f"the lab owns {left} resource(s) now.")
    return Verdict(False, "That is not how many the lab owns now.")


# ---- 08 to 10: reading, querying, fixing --------------------------------------------------------


@_exercise("08-scans", "filter action == 'REJECT', then keep srcaddr that is not private (ipaddress)")
def _scans(answer, lab) -> Verdict:
    records = lab.flow_logs(progress=False)
    rejected = records.loc[records["action"] == "REJECT", "srcaddr"].dropna()
    scans = int(sum(not ipaddress.ip_address(a).is_private for a in rejected))
    if isinstance(answer, bool) or not isinstance(answer, int):
        return Verdict(False, "Give a whole number.")
    if answer == scans:
        return Verdict(True, f"{scans} of the {len(rejected)} REJECT records came from the internet.")
    if answer == len(rejected):
        return Verdict(False, "That counts every REJECT, the lab's own probe too.")
    return Verdict(False, "")


@_exercise("09-rejects-by-port", "queries.PARSE first, then a filter on action, then stats ... by dstPort")
def _rejects_by_port(answer, lab) -> Verdict:
    if not isinstance(answer, str) or not answer.strip():
        return Verdict(False, "Give the query as a string.")
    records = lab.flow_logs(progress=False)
    rejected = records[records["action"] == "REJECT"]
    expected = {int(p): int(n) for p, n in rejected.groupby("dstport", observed=True).size().items()}
    try:
        result = lab.insights(answer, progress=False)
    except LabError as error:
        return Verdict(False, str(error))
    if "dstPort" not in result.columns:
        return Verdict(False, "The answer has no dstPort column. Without parse, Logs Insights knows no "
                              "field of the lab's custom format.")
    counts = [c for c in result.columns if c != "dstPort"]
    if len(counts) != 1:
        return Verdict(False, f"Give two columns, dstPort and the count, not {list(result.columns)}.")
    try:
        got = {int(p): int(n) for p, n in zip(result["dstPort"], result[counts[0]], strict=True)}
    except (TypeError, ValueError):
        return Verdict(False, f"{counts[0]} does not hold whole numbers.")
    if got == expected:
        return Verdict(True, f"{len(got)} ports, the same counts as pandas; port {PROBE_PORT} is the "
                             "lab's own probe.")
    wrong = sorted(p for p in set(got) | set(expected) if got.get(p) != expected.get(p))
    return Verdict(False, f"{len(wrong)} port(s) differ from the REJECT records counted in pandas, e.g. "
                          f"port {wrong[0]}: yours {got.get(wrong[0], 0)}, the records "
                          f"{expected.get(wrong[0], 0)}.")


@_exercise("10-fix-it-yourself", "lab.explain(src=r.ip1, dst=r.ip2) writes the smallest fix as a boto3 call; "
                                 "answer the id (or role name) of what your fix changed")
def _fix_it_yourself(answer, lab) -> Verdict:
    text = _text(answer)
    if not text:
        return Verdict(False, "Give the id (or role name) of the resource your fix changed.")
    r = lab.resources()
    trial = lab.ping("instance1", "instance2")
    records = trial.records()
    if not trial.answered:
        seen = ", ".join(f"{'instance 1' if i == r.instance1 else 'instance 2'} {d} {a}"
                         for i, d, a in zip(records.get("instance_id", []), records.get("flow_direction", []),
                                            records.get("action", []), strict=True))
        return Verdict(False, f"A ping from instance 1 to instance 2 still gets no answer (records: "
                              f"{seen or 'none'}).")
    if records.empty:
        return Verdict(False, "The ping is answered, but no flow-log records arrive: look at "
                              "DeliverLogsErrorMessage in describe_flow_logs.")
    if (records["action"] != "ACCEPT").any():
        return Verdict(False, "The ping is answered, yet a record still says REJECT.")
    if text not in _lab_ids(lab, r):
        return Verdict(False, "The ping gets through now, but no resource of the lab has that id.")
    return Verdict(True, f"the ping is answered, and its {len(records)} records all say ACCEPT.")


def _lab_ids(lab, r) -> set[str]:
    """Every id or name on the ping's path that a fix could change."""
    ec2 = lab.client("ec2")
    ids = {v for v in vars(r).values() if isinstance(v, str)}
    ids |= {a["NetworkAclId"] for a in ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [r.vpc1, r.vpc2]}])["NetworkAcls"]}
    ids |= {p["VpcPeeringConnectionId"] for p in ec2.describe_vpc_peering_connections(
        Filters=lab_filter(lab.name))["VpcPeeringConnections"]}
    ids.add(lab.client("iam").get_role(RoleName=r.delivery_role)["Role"]["Arn"])
    return ids


NAMES: tuple[str, ...] = (
    "00-mode", "01-overlap", "02-default-route", "03-icmp-source", "04-peer-route", "05-which-policy",
    "06-direction-field", "07-probe-source-port", "07-ping-back", "08-scans", "09-rejects-by-port",
    "10-fix-it-yourself", "99-left",
)
"""Every exercise, in notebook order."""
