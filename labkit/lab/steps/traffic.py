"""Step 7: traffic through Systems Manager Run Command, then waiting for its flow-log records.

No SSH: ``SendCommand`` with the ``AWS-RunShellScript`` document runs a shell
command on the instance and ``GetCommandInvocation`` returns what it printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from labkit.errors import LabError
from labkit.lab.steps.common import check
from labkit.lab.steps.flow_logs import ensure_flow_logs
from labkit.lab.steps.instances import ensure_instances
from labkit.lab.steps.peering import ensure_peering

PROBE_PORT = 56121  # the seed guide's refused port
DONE = {"Success", "Failed", "Cancelled", "TimedOut", "Cancelling"}


@dataclass(frozen=True)
class CommandResult:
    instance_id: str
    command: str
    status: str
    exit_code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        text = f"[{self.instance_id}]$ {self.command}\n{self.stdout}"
        if self.stderr:
            text += self.stderr
        return text + f"(exit {self.exit_code}, {self.status})"


def run_command(lab, instance_id: str, command: str, timeout_s: float = 120) -> CommandResult:
    """Run one shell command on an instance through SSM and wait for its result."""
    ssm = lab.client("ssm")
    sent = ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                            Parameters={"commands": [command]}, Comment="flowlogs lab traffic")
    command_id = sent["Command"]["CommandId"]
    deadline = time.monotonic() + timeout_s
    while True:
        time.sleep(1.0 if lab.mode == "live" else 0.05)
        try:
            answer = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as error:
            # Right after SendCommand the invocation may not exist yet.
            if error.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
            answer = {"Status": "Pending"}
        if answer["Status"] in DONE:
            return CommandResult(instance_id, command, answer["Status"], answer["ResponseCode"],
                                 answer.get("StandardOutputContent", ""),
                                 answer.get("StandardErrorContent", ""))
        if time.monotonic() > deadline:
            raise LabError(f"command {command_id} on {instance_id} still {answer['Status']} "
                           f"after {timeout_s:.0f} s; is the SSM agent online (Fleet Manager)?")


@dataclass(frozen=True)
class StandardTraffic:
    ping_1_to_2: CommandResult
    ping_2_to_1: CommandResult
    probe: CommandResult


def send_standard_traffic(lab) -> StandardTraffic:
    """Ping across the peering both ways, and a TCP probe the security group refuses."""
    instances = ensure_instances(lab, quiet=True)
    one, two = instances.instance1, instances.instance2
    traffic = StandardTraffic(
        run_command(lab, one.id, f"ping -c 4 {two.private_ip}"),
        run_command(lab, two.id, f"ping -c 4 {one.private_ip}"),
        run_command(lab, one.id, f"nc -z -v -w 3 {two.private_ip} {PROBE_PORT}"),
    )
    check(traffic.ping_1_to_2.exit_code == 0, f"ping from {one.id} failed:\n{traffic.ping_1_to_2}")
    check(traffic.ping_2_to_1.exit_code == 0, f"ping from {two.id} failed:\n{traffic.ping_2_to_1}")
    check(traffic.probe.exit_code != 0, f"the probe to port {PROBE_PORT} was not refused")
    return traffic


def probe_records(lab, log_group: str) -> int:
    """How many delivered records mention the probe's port (a cheap 'has traffic arrived?')."""
    logs = lab.client("logs")
    try:
        events = logs.filter_log_events(logGroupName=log_group, filterPattern=f'"{PROBE_PORT}"',
                                        limit=50)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return 0
    return len(events)


def wait_for_records(lab, log_group: str, timeout_s: float | None = None, quiet: bool = False) -> int:
    """Wait, with a progress bar, until the probe's REJECT record has been delivered."""
    from tqdm.auto import tqdm

    timeout_s = timeout_s or (900 if lab.mode == "live" else 30)
    if lab.mode == "live" and not quiet:
        print("On AWS, flow-log records reach CloudWatch Logs about 5-10 minutes after the traffic.")
    started = time.monotonic()
    with tqdm(total=int(timeout_s), desc="waiting for flow-log records", unit="s", disable=quiet,
              bar_format="{desc}: {postfix}") as bar:
        bar.set_postfix_str("none yet")
        while True:
            found = probe_records(lab, log_group)
            if found:
                bar.set_postfix_str("delivered")
                if not quiet:
                    print(f"Delivered: {found} records of the probe to port {PROBE_PORT} are in {log_group}.")
                return found
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                raise LabError(f"no flow-log records in {log_group} after {timeout_s:.0f} s: check "
                               "DescribeFlowLogs (DeliverLogsStatus) and the role's trust policy")
            bar.update(int(elapsed) - bar.n)
            time.sleep(10 if lab.mode == "live" else 0.1)


def ensure_standard_traffic(lab, quiet: bool = False) -> int:
    """The traffic every later notebook analyses: sent once, then found in the log group."""
    ensure_peering(lab, quiet=True)
    flow_logs = ensure_flow_logs(lab, quiet=True)
    if not probe_records(lab, flow_logs.log_group):
        lab.require_write("sending traffic")
        traffic = send_standard_traffic(lab)
        if not quiet:
            for result in (traffic.ping_1_to_2, traffic.ping_2_to_1, traffic.probe):
                print(result, end="\n\n")
    return wait_for_records(lab, flow_logs.log_group, quiet=quiet)
