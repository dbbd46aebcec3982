"""Step 7: traffic through Systems Manager Run Command, then waiting for its flow-log records."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.lab.commands import CommandResult, run_command
from labkit.lab.names import PROBE_PORT, log_group_name
from labkit.lab.steps.common import check
from labkit.lab.steps.flow_logs import ensure_flow_logs
from labkit.lab.steps.instances import ensure_instances
from labkit.lab.steps.once import once_per_build
from labkit.lab.steps.peering import ensure_peering
from labkit.lab.wait import Pace, Pending, wait_until
from labkit.netmodel.shell import TIMEOUT_EXIT_CODE

# On AWS records reach CloudWatch Logs 5-10 minutes after the traffic; the emulator delivers at once.
RECORDS_PACE = Pace(timeout_s=30, interval_s=0.1, live_timeout_s=900, live_interval_s=10)


@dataclass(frozen=True)
class StandardTraffic:
    """The three commands every later notebook analyses."""

    ping_1_to_2: CommandResult
    ping_2_to_1: CommandResult
    probe: CommandResult


def probe_command(address: str, port: int, seconds: int = 3) -> str:
    """A TCP port probe with what a default Amazon Linux 2023 surely has: bash's /dev/tcp and timeout.

    (``nc`` may be missing from the AMI.) Exit 0: connected; 1 with "Connection refused": a TCP RST
    answered; 124: no answer within ``seconds`` (the SYN was dropped).
    """
    return f"timeout {seconds} bash -c '</dev/tcp/{address}/{port}'"


def send_standard_traffic(lab) -> StandardTraffic:
    """Ping across the peering both ways, and a TCP probe whose SYNs the security group drops."""
    instances = ensure_instances(lab, quiet=True)
    one, two = instances.instance1, instances.instance2
    traffic = StandardTraffic(
        run_command(lab, one.id, f"ping -c 4 {two.private_ip}"),
        run_command(lab, two.id, f"ping -c 4 {one.private_ip}"),
        run_command(lab, one.id, probe_command(two.private_ip, PROBE_PORT)),
    )
    check(traffic.ping_1_to_2.exit_code == 0, f"ping from {one.id} failed:\n{traffic.ping_1_to_2}")
    check(traffic.ping_2_to_1.exit_code == 0, f"ping from {two.id} failed:\n{traffic.ping_2_to_1}")
    check(traffic.probe.exit_code == TIMEOUT_EXIT_CODE,
          f"the probe to port {PROBE_PORT} should time out (the security group drops it):\n{traffic.probe}")
    return traffic


def probe_records(lab) -> int:
    """How many delivered records mention the probe's port (a cheap 'has traffic arrived?')."""
    logs = lab.client("logs")
    try:
        events = logs.filter_log_events(logGroupName=log_group_name(lab), filterPattern=f'"{PROBE_PORT}"',
                                        limit=50)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return 0
    return len(events)


def wait_for_records(lab, timeout_s: float | None = None, quiet: bool = False) -> int:
    """Wait, with a progress bar, until the probe's records have been delivered; how many there are."""
    group = log_group_name(lab)
    if lab.mode == "live" and not quiet:
        print("On AWS, flow-log records reach CloudWatch Logs about 5-10 minutes after the traffic.")
    found = wait_until(lambda: probe_records(lab) or Pending("none yet"), mode=lab.mode, pace=RECORDS_PACE,
                       timeout_s=timeout_s, progress=not quiet, done="delivered",
                       what=f"flow-log records in {group}",
                       advice="check DescribeFlowLogs (DeliverLogsStatus) and the role's trust policy")
    if not quiet:
        print(f"Delivered: {found} records of the probe to port {PROBE_PORT} are in {group}.")
    return found


@once_per_build
def ensure_standard_traffic(lab, quiet: bool = False) -> int:
    """The traffic every later notebook analyses: sent once, then found in the log group."""
    ensure_peering(lab, quiet=True)
    ensure_flow_logs(lab, quiet=True)
    if not probe_records(lab):
        lab.require_write("sending traffic")
        traffic = send_standard_traffic(lab)
        if not quiet:
            for result in (traffic.ping_1_to_2, traffic.ping_2_to_1, traffic.probe):
                print(result, end="\n\n")
    return wait_for_records(lab, quiet=quiet)
