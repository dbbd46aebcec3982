"""SSM Run Command (``AWS-RunShellScript``) on the network model, with flow-log delivery.

``SendCommand``: every target must be an instance AWS could reach (exists, not
stopped, shutting-down or terminated), else ``InvalidInstanceId``. The script
runs at once on the topology built from moto's EC2 state, with a seeded
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

``GetCommandInvocation`` answers at once with the final status (Success when
the script exits 0, Failed otherwise, ResponseCode = exit code) — boto3's
``command_executed`` waiter sleeps 5 s after an InProgress, so no InProgress is
ever shown offline. ``ListCommandInvocations`` is answered for our commands.
Other documents, and targets given as tags, go to moto.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field

from labkit.emulator import delivery, ec2_topology, moto_adapter
from labkit.emulator.awsproto import AwsError, Call, json_body
from labkit.emulator.hooks import before
from labkit.netmodel import internet_scan, run_shell_script

SEED = 20261126
NOISE_SCANS_PER_ENI = 6
NOISE_SPAN_S = 60.0
OUTPUT_LIMIT = 24000  # GetCommandInvocation truncates StandardOutputContent here
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
_UNREACHABLE = ("stopped", "stopping", "shutting-down", "terminated")


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    comment: str
    requested: float
    stdout: str
    stderr: str
    exit_code: int
    duration_s: float

    @property
    def status(self) -> str:
        return "Success" if self.exit_code == 0 else "Failed"


@dataclass
class _State:
    # How often each (source address, script) has run: seeds that do not depend on what else ran.
    occurrences: dict[str, int] = field(default_factory=dict)
    invocations: dict[tuple[str, str], Invocation] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)  # command id -> instance ids


STATE = _State()


def reset() -> None:
    STATE.occurrences.clear()
    STATE.invocations.clear()
    STATE.commands.clear()


def _iso(t: float) -> str:
    stamp = dt.datetime.fromtimestamp(t, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _invalid_instances(ids: list[str]) -> AwsError:
    listed = ", ".join(ids)
    return AwsError(
        "InvalidInstanceId",
        f"Instances [[{listed}]] not in a valid state for account {moto_adapter.ACCOUNT_ID}",
    )


def _check_targets(region: str, instance_ids: list[str]) -> None:
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


@before("ssm", "SendCommand")
def send_command(call: Call):
    p = call.params
    if p.get("DocumentName") != RUN_SHELL_SCRIPT or not p.get("InstanceIds"):
        return None  # another document, or Targets: moto's answer
    instance_ids = list(dict.fromkeys(p["InstanceIds"]))
    _check_targets(call.region, instance_ids)
    script = _script(p.get("Parameters"))

    # Traffic starts now; capture windows open with each flow's first packet (see aggregation),
    # so a short command's records never straddle one and their counts do not depend on the clock.
    t0 = time.time()
    network = ec2_topology.build(call.region)
    drafts = []
    results = {}
    keys = []
    for instance_id in instance_ids:
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

    failed = [i for i, r in results.items() if r.exit_code != 0]
    answer = moto_adapter.record_command(call.region, document=RUN_SHELL_SCRIPT, instance_ids=instance_ids,
                                         params=p, status="Failed" if failed else "Success",
                                         error_count=len(failed))
    command_id = answer["CommandId"]
    STATE.commands[command_id] = instance_ids
    for instance_id, r in results.items():
        STATE.invocations[(command_id, instance_id)] = Invocation(
            command_id, instance_id, p.get("Comment", ""), t0,
            r.stdout, r.stderr, r.exit_code, r.duration_s,
        )  # fmt: skip
    answer.update(
        Status="Pending", StatusDetails="Pending", CompletedCount=0, ErrorCount=0,
        TargetCount=len(instance_ids), InstanceIds=instance_ids,
        RequestedDateTime=t0, ExpiresAfter=t0 + int(answer.get("TimeoutSeconds") or 3600),
        DocumentVersion="$DEFAULT", DeliveryTimedOutCount=0,
    )  # fmt: skip
    answer.pop("NotificationConfig", None)
    return json_body({"Command": answer})


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


def _invocation_dict(inv: Invocation, *, details: bool) -> dict:
    end = inv.requested + inv.duration_s
    base = {
        "CommandId": inv.command_id,
        "InstanceId": inv.instance_id,
        "Comment": inv.comment,
        "DocumentName": RUN_SHELL_SCRIPT,
        "DocumentVersion": "$DEFAULT",
        "Status": inv.status,
        "StatusDetails": inv.status,
    }
    if details:
        base.update(
            PluginName="aws:runShellScript",
            ResponseCode=inv.exit_code,
            ExecutionStartDateTime=_iso(inv.requested),
            ExecutionElapsedTime=f"PT{inv.duration_s:.3f}S",
            ExecutionEndDateTime=_iso(end),
            StandardOutputContent=inv.stdout[:OUTPUT_LIMIT],
            StandardOutputUrl="",
            StandardErrorContent=inv.stderr[:OUTPUT_LIMIT],
            StandardErrorUrl="",
            CloudWatchOutputConfig={"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        )
    return base


@before("ssm", "GetCommandInvocation")
def get_command_invocation(call: Call):
    command_id = call.params.get("CommandId", "")
    instance_id = call.params.get("InstanceId", "")
    inv = STATE.invocations.get((command_id, instance_id))
    if inv is None:
        if command_id in STATE.commands or not _moto_knows(call.region, command_id, instance_id):
            raise AwsError("InvocationDoesNotExist", "")
        return None
    plugin = call.params.get("PluginName")
    if plugin and plugin not in ("aws:runShellScript", "aws:RunShellScript"):
        raise AwsError("InvalidPluginName", "")
    return json_body(_invocation_dict(inv, details=True))


def _moto_knows(region: str, command_id: str, instance_id: str) -> bool:
    return instance_id in (moto_adapter.command_targets(region, command_id) or [])


@before("ssm", "ListCommandInvocations")
def list_command_invocations(call: Call):
    command_id = call.params.get("CommandId")
    instance_id = call.params.get("InstanceId")
    details = bool(call.params.get("Details"))
    ours = [
        inv for (cid, iid), inv in STATE.invocations.items()
        if (command_id is None or cid == command_id) and (instance_id is None or iid == instance_id)
    ]  # fmt: skip
    if command_id and command_id not in STATE.commands:
        return None
    rows = []
    for inv in ours:
        row = _invocation_dict(inv, details=False)
        row.update(
            InstanceName="", RequestedDateTime=inv.requested, TraceOutput="",
            StandardOutputUrl="", StandardErrorUrl="", ServiceRole="",
            NotificationConfig={"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            CloudWatchOutputConfig={"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        )  # fmt: skip
        if details:
            row["CommandPlugins"] = [{
                "Name": "aws:runShellScript", "Status": inv.status, "StatusDetails": inv.status,
                "ResponseCode": inv.exit_code,
                "ResponseStartDateTime": inv.requested,
                "ResponseFinishDateTime": inv.requested + inv.duration_s,
                "Output": (inv.stdout + inv.stderr)[:2500],
                "StandardOutputUrl": "", "StandardErrorUrl": "",
                "OutputS3Region": call.region, "OutputS3BucketName": "", "OutputS3KeyPrefix": "",
            }]  # fmt: skip
        rows.append(row)
    return json_body({"CommandInvocations": rows})


def _register_reset() -> None:
    from labkit.emulator import layer

    if reset not in layer.RESET_CALLBACKS:
        layer.RESET_CALLBACKS.append(reset)


_register_reset()
