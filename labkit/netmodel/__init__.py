"""The network model: a topology read from describe calls, and what happens to a packet.

Pure (no boto3, no I/O). ``Topology.from_describe`` reads EC2 describe
responses; ``evaluate`` follows one packet and names the route or rule that
decided; ``traffic`` turns pings and TCP probes into flow-log drafts;
``run_shell_script`` runs the lab's shell commands on the model.

    responses = {"DescribeVpcs": ec2.describe_vpcs(), ...}   # nine Describe* calls
    topology = Topology.from_describe(responses)
    result = run_shell_script(topology, "i-0123...", "ping -c 4 192.168.1.20", rng)
    result.stdout, result.exit_code           # what GetCommandInvocation shows
    records = aggregate(result.drafts, window_s=60, phase_s=start % 60)
    evaluate(topology, Packet("10.0.1.10", "192.168.1.20", 6, 40000, 56121)).decided_by
"""

from labkit.netmodel.shell import (
    ShellResult,
    UnsupportedCommand,
    find_unsupported,
    run_shell_script,
)
from labkit.netmodel.topology import Eni, Instance, Topology
from labkit.netmodel.traffic import FlowDraft, aggregate, internet_scan, ping, tcp_connect
from labkit.netmodel.verdict import Packet, Verdict, evaluate, reply_packet

__all__ = [
    "Eni",
    "FlowDraft",
    "Instance",
    "Packet",
    "ShellResult",
    "Topology",
    "UnsupportedCommand",
    "Verdict",
    "aggregate",
    "evaluate",
    "find_unsupported",
    "internet_scan",
    "ping",
    "reply_packet",
    "run_shell_script",
    "tcp_connect",
]
