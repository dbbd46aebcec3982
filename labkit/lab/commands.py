"""Shell commands on the lab's instances through Systems Manager Run Command (no SSH).

``SendCommand`` with the ``AWS-RunShellScript`` document runs a command on the instance and
``GetCommandInvocation`` returns what it printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from labkit.lab.wait import Pace, Pending, wait_until

DONE = {"Success", "Failed", "Cancelled", "TimedOut", "Cancelling"}
COMMAND_PACE = Pace(timeout_s=120, interval_s=0.05, live_interval_s=1.0)


@dataclass(frozen=True)
class CommandResult:
    """What one command printed, its exit code and SSM's final status."""

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


def run_command(lab, instance_id: str, command: str, timeout_s: float | None = None) -> CommandResult:
    """Run one shell command on an instance through SSM and wait for its result."""
    ssm = lab.client("ssm")
    sent = ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                            Parameters={"commands": [command]}, Comment="flowlogs lab traffic")
    command_id = sent["Command"]["CommandId"]

    def finished():
        try:
            answer = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as error:
            # Right after SendCommand the invocation may not exist yet.
            if error.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
            return Pending("Pending")
        if answer["Status"] not in DONE:
            return Pending(answer["Status"])
        return CommandResult(instance_id, command, answer["Status"], answer["ResponseCode"],
                             answer.get("StandardOutputContent", ""), answer.get("StandardErrorContent", ""))

    return wait_until(finished, mode=lab.mode, pace=COMMAND_PACE, timeout_s=timeout_s, progress=False,
                      what=f"command {command_id} on {instance_id}",
                      advice="is the SSM agent online (Systems Manager, Fleet Manager)?")
