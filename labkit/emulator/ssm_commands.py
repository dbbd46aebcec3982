"""SSM Run Command (``AWS-RunShellScript``) on the network model, with flow-log delivery.

``SendCommand`` takes ``InstanceIds`` or ``Targets`` (``InstanceIds``, ``tag:<key>``, ``tag-key``;
every target must match, any of its values): each instance must be one AWS could reach (exists, not
stopped, shutting-down or terminated), else ``InvalidInstanceId``; tag targets select the running
managed nodes (:mod:`ssm_nodes`). It answers the ``Command`` data type as the API reference and the
CLI's SendCommand example show it: the request echoed (an ``InstanceIds`` target becomes
``InstanceIds``), ``Status`` ``Pending``, ``TargetCount`` the number of instances, nothing completed
yet. Other documents are refused with an error that names them: the emulator only runs shell scripts.

The script runs at once on the topology built from moto's EC2 state, with a seeded
``random.Random`` that depends only on (SEED, the source's private address, the
script, and how often that source ran that script since the last reset): the same
command prints the same output and leaves the same records every run, whatever
other commands ran before it.
The drafts it leaves are delivered to the flow logs (see :mod:`delivery`).

Internet background noise: each SendCommand also lets the internet knock on
every ENI with a public IPv4 address (attached to a running instance or to
nothing): ``NOISE_SCANS_PER_ENI`` (6) SYN probes from random public addresses
to common/random TCP ports, spread over the minute before the command, drawn
from a second seeded rng (the same key, "noise"). The security groups
reject them (REJECT ingress records), except where a rule allows the port.
A lab that ran the standard traffic therefore always has the same counts.

The commands and their invocations are kept here (:data:`STATE`); :mod:`ssm_history` answers
``ListCommands``, ``ListCommandInvocations`` and ``GetCommandInvocation`` from them.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

from labkit.emulator import delivery, ec2_topology, moto_adapter, ssm_nodes
from labkit.emulator.awsproto import AwsError, Call, json_body
from labkit.emulator.hooks import before
from labkit.netmodel import internet_scan, run_shell_script

SEED = 20261126
NOISE_SCANS_PER_ENI = 6
NOISE_SPAN_S = 60.0
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
DEFAULT_TIMEOUT_S = 3600  # SendCommand's TimeoutSeconds and the document's executionTimeout
DEFAULT_MAX_CONCURRENCY = "50"
DEFAULT_MAX_ERRORS = "0"
EMPTY_NOTIFICATION = {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""}
EMPTY_CLOUDWATCH_OUTPUT = {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}
_UNREACHABLE = ("stopped", "stopping", "shutting-down", "terminated")


@dataclass
class Invocation:
    """A command's run on one instance."""

    command_id: str
    instance_id: str
    comment: str
    document_version: str
    requested: float
    stdout: str
    stderr: str
    exit_code: int
    duration_s: float

    @property
    def status(self) -> str:
        return "Success" if self.exit_code == 0 else "Failed"


@dataclass
class Command:
    """A SendCommand request as Systems Manager keeps it: what was asked, and on which instances it ran."""

    command_id: str
    request: dict  # SendCommand's parameters, echoed back in every Command answer
    requested: float
    instance_ids: list[str]  # echoed: the ids given (InstanceIds or an InstanceIds target), in order
    targets: list[dict]  # echoed: tag targets as given
    ran_on: list[str]  # the instances the command ran on
    error_count: int = 0

    @property
    def status(self) -> str:
        return "Success" if self.error_count == 0 else "Failed"

    @property
    def status_details(self) -> str:
        # "Failed: The value of MaxErrors or more command invocations shows a status of Failed";
        # fewer failures than that leave the command "Incomplete" (Command data type, StatusDetails).
        if self.error_count == 0:
            return "Success"
        return "Failed" if self.error_count > _max_errors(self.request, len(self.ran_on)) else "Incomplete"


@dataclass
class _State:
    # How often each (source address, script) has run: seeds that do not depend on what else ran.
    occurrences: dict[str, int] = field(default_factory=dict)
    invocations: dict[tuple[str, str], Invocation] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)  # in the order they were sent


STATE = _State()


def reset() -> None:
    STATE.occurrences.clear()
    STATE.invocations.clear()
    STATE.commands.clear()


def _invalid_instances(ids: list[str]) -> AwsError:
    listed = ", ".join(ids)
    return AwsError(
        "InvalidInstanceId",
        f"Instances [[{listed}]] not in a valid state for account {moto_adapter.ACCOUNT_ID}",
    )


def _check_instances(region: str, instance_ids: list[str]) -> None:
    states = moto_adapter.instance_states(region)
    bad = [i for i in instance_ids if states.get(i, "terminated") in _UNREACHABLE]
    if bad:
        raise _invalid_instances(bad)


def _script(parameters: dict) -> list[str]:
    commands = (parameters or {}).get("commands")
    if not commands:
        raise AwsError("InvalidParameters", "Parameter \"commands\" is required.")
    lines: list[str] = []
    for command in commands:
        lines.extend(str(command).splitlines() or [""])
    return lines


def _resolve(region: str, p: dict) -> tuple[list[str], list[dict], list[str]]:
    """(InstanceIds to echo, Targets to echo, instances to run on) of a SendCommand request."""
    instance_ids = list(p.get("InstanceIds") or [])
    targets = list(p.get("Targets") or [])
    by_id = [t for t in targets if t.get("Key", "").lower() == "instanceids"]
    if instance_ids and targets:
        raise AwsError("UnsupportedOperation", "The lab's offline emulator takes InstanceIds or Targets, "
                                               "not both, in one SendCommand.")
    if by_id:
        if len(by_id) < len(targets):
            raise AwsError("UnsupportedOperation", "The lab's offline emulator does not combine an "
                                                   "InstanceIds target with tag targets.")
        # AWS echoes an InstanceIds target as InstanceIds (the SendCommand example of the CLI reference).
        instance_ids, targets = [v for t in by_id for v in t.get("Values") or []], []
    if instance_ids:
        run_on = list(dict.fromkeys(instance_ids))
        _check_instances(region, run_on)
        return run_on, [], run_on
    if not targets:
        raise AwsError("ValidationException", "SendCommand needs InstanceIds or Targets.")
    for t in targets:
        key = t.get("Key", "")
        if key != "tag-key" and not (key.startswith("tag:") and len(key) > 4):
            raise AwsError("UnsupportedOperation", f"The target key {key!r} is not implemented by the lab's "
                                                   "offline emulator: use InstanceIds, tag:<key> or tag-key.")
    online = [n for n in ssm_nodes.managed_nodes(region) if n.ping_status == "Online"]
    # Every target must match (AND); within one target, any of its values.
    run_on = [n.instance_id for n in online if all(_matches(n, t) for t in targets)]
    return [], targets, run_on


def _matches(node: ssm_nodes.Node, target: dict) -> bool:
    return bool(ssm_nodes.values_of(node, target["Key"]) & set(target.get("Values") or []))


def _max_errors(request: dict, target_count: int) -> int:
    raw = str(request.get("MaxErrors") or DEFAULT_MAX_ERRORS)
    if raw.endswith("%"):
        return int(target_count * int(raw[:-1]) / 100)
    return int(raw)


def _seconds(value, default: int) -> int:
    try:
        return int(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError, IndexError):
        return default


@before("ssm", "SendCommand")
def send_command(call: Call):
    p = call.params
    if p.get("DocumentName") != RUN_SHELL_SCRIPT:
        raise AwsError("UnsupportedOperation",
                       f"The lab's offline emulator runs only the {RUN_SHELL_SCRIPT} document; "
                       f"{p.get('DocumentName')} works only against AWS (live mode).")
    script = _script(p.get("Parameters"))
    echo_ids, echo_targets, run_on = _resolve(call.region, p)

    # Traffic starts now; capture windows open with each flow's first packet (see aggregation),
    # so a short command's records never straddle one and their counts do not depend on the clock.
    t0 = time.time()
    network = ec2_topology.build(call.region)
    drafts = []
    results = {}
    keys = []
    for instance_id in run_on:
        # Seeded by the command and its source's (fixed) address, not by the global sequence, so that
        # a notebook's ephemeral ports and scans are the same whatever other notebooks ran before.
        key = f"{_source_address(network, instance_id)}:{script}"
        STATE.occurrences[key] = STATE.occurrences.get(key, 0) + 1
        keys.append(f"{key}:{STATE.occurrences[key]}")
        rng = random.Random(f"{SEED}:{keys[-1]}")
        result = run_shell_script(network.topology, instance_id, script, rng)
        results[instance_id] = result
        drafts += result.drafts
    drafts += background_noise(network, "|".join(keys))
    delivery.deliver(call.region, drafts, t0, network)

    command = Command(str(uuid.uuid4()), dict(p), t0, echo_ids, echo_targets, run_on,
                      error_count=sum(1 for r in results.values() if r.exit_code != 0))
    STATE.commands[command.command_id] = command
    for instance_id, r in results.items():
        STATE.invocations[(command.command_id, instance_id)] = Invocation(
            command.command_id, instance_id, p.get("Comment", ""), p.get("DocumentVersion", ""), t0,
            r.stdout, r.stderr, r.exit_code, r.duration_s,
        )  # fmt: skip
    # SendCommand answers before anything ran: Pending, nothing completed yet (SendCommand, API reference).
    return json_body({"Command": command_dict(command, pending=True)})


def command_dict(command: Command, *, pending: bool = False) -> dict:
    """The ``Command`` data type (Systems Manager API reference) of a command, as sent or as it ended."""
    p = command.request
    timeout = int(p.get("TimeoutSeconds") or DEFAULT_TIMEOUT_S)
    execution = _seconds((p.get("Parameters") or {}).get("executionTimeout"), DEFAULT_TIMEOUT_S)
    answer = {
        "CommandId": command.command_id,
        "DocumentName": p["DocumentName"],
        "DocumentVersion": p.get("DocumentVersion", ""),
        "Comment": p.get("Comment", ""),
        # "ExpiresAfter is calculated based on the total timeout for the overall command":
        # the delivery timeout plus the document's executionTimeout.
        "ExpiresAfter": command.requested + timeout + execution,
        "Parameters": p.get("Parameters") or {},
        "InstanceIds": list(command.instance_ids),
        "Targets": list(command.targets),
        "RequestedDateTime": command.requested,
        "Status": "Pending" if pending else command.status,
        "StatusDetails": "Pending" if pending else command.status_details,
        "OutputS3Region": p.get("OutputS3Region", ""),
        "OutputS3BucketName": p.get("OutputS3BucketName", ""),
        "OutputS3KeyPrefix": p.get("OutputS3KeyPrefix", ""),
        "MaxConcurrency": p.get("MaxConcurrency", DEFAULT_MAX_CONCURRENCY),
        "MaxErrors": p.get("MaxErrors", DEFAULT_MAX_ERRORS),
        "TargetCount": len(command.ran_on),
        "CompletedCount": 0 if pending else len(command.ran_on),
        "ErrorCount": 0 if pending else command.error_count,
        "DeliveryTimedOutCount": 0,
        "ServiceRole": p.get("ServiceRoleArn", ""),
        "NotificationConfig": p.get("NotificationConfig") or EMPTY_NOTIFICATION,
        "CloudWatchOutputConfig": p.get("CloudWatchOutputConfig") or EMPTY_CLOUDWATCH_OUTPUT,
        "TimeoutSeconds": timeout,
    }
    if p.get("AlarmConfiguration"):
        answer["AlarmConfiguration"] = p["AlarmConfiguration"]
    return answer


def _source_address(network, instance_id: str) -> str:
    instance = network.topology.instances.get(instance_id)
    if instance is None:
        return instance_id
    return network.topology.primary_eni(instance_id).private_ip


def background_noise(network, seed: int | str) -> list:
    """Seeded internet scans of every public ENI (see the module docstring)."""
    rng = random.Random(f"{SEED}:{seed}:noise")
    topology = network.topology
    drafts = []
    for eni in sorted(topology.enis.values(), key=lambda e: e.private_ip):
        if not eni.public_ip:
            continue
        instance = topology.instances.get(eni.instance_id or "")
        if instance is not None and instance.state != "running":
            continue
        drafts += internet_scan(topology, eni, rng, NOISE_SCANS_PER_ENI,
                                span_s=NOISE_SPAN_S, start_s=-NOISE_SPAN_S)
    return drafts


def _register_reset() -> None:
    from labkit.emulator import layer

    if reset not in layer.RESET_CALLBACKS:
        layer.RESET_CALLBACKS.append(reset)


_register_reset()
