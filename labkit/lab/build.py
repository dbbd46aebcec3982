"""The build verbs of a :class:`~labkit.lab.lab.Lab`, one per notebook step: ``lab.ensure_vpcs()``.

Each finds the lab's resources by tag or creates them (running it twice creates nothing new),
prints one line per resource unless ``quiet``, and ends with a check that raises if the result
is wrong. The work is done in :mod:`labkit.lab.steps`; these methods are the notebooks' way in.
"""

from __future__ import annotations

from labkit.lab.steps import (
    flow_log_role,
    flow_logs,
    instances,
    peering,
    security_groups,
    subnets,
    traffic,
    vpcs,
)


class BuildSteps:
    """The steps of notebooks 01-07 as methods of the lab."""

    def ensure_vpcs(self, quiet: bool = False) -> vpcs.Vpcs:
        """Notebook 01: VPC 1 (10.0.0.0/16) and VPC 2 (192.168.0.0/16)."""
        return vpcs.ensure_vpcs(self, quiet=quiet)

    def ensure_public_subnets(self, quiet: bool = False) -> subnets.PublicSubnets:
        """Notebook 02: a public subnet, an internet gateway and a route table in each VPC."""
        return subnets.ensure_public_subnets(self, quiet=quiet)

    def ensure_security_group(self, vpc: vpcs.Vpc, icmp_from: str = "peer",
                              quiet: bool = False) -> security_groups.SecurityGroup:
        """Notebook 03: the VPC's security group: ICMP in from the peer VPC (or ``"anywhere"``), no SSH."""
        return security_groups.ensure_security_group(self, vpc, icmp_from=icmp_from, quiet=quiet)

    def ensure_instances(self, quiet: bool = False) -> instances.Instances:
        """Notebook 03: a running instance in each public subnet, reachable through SSM only."""
        return instances.ensure_instances(self, quiet=quiet)

    def ensure_peering(self, quiet: bool = False) -> peering.Peering:
        """Notebook 04: the two VPCs peered, and a route to the peer in each route table."""
        return peering.ensure_peering(self, quiet=quiet)

    def ensure_flow_log_role(self, quiet: bool = False) -> flow_log_role.DeliveryRole:
        """Notebook 05: the role VPC Flow Logs assumes to write into the lab's log group."""
        return flow_log_role.ensure_flow_log_role(self, quiet=quiet)

    def demonstrate_broken_trust(self):
        """Notebook 05: a flow log whose role trusts the wrong service, and the error it shows.

        Everything it makes is deleted again before it returns.
        """
        return flow_log_role.demonstrate_broken_trust(self)

    def ensure_flow_logs(self, quiet: bool = False) -> flow_logs.FlowLogs:
        """Notebook 06: the log group and a flow log on each VPC, in the lab's custom format."""
        return flow_logs.ensure_flow_logs(self, quiet=quiet)

    def send_standard_traffic(self) -> traffic.StandardTraffic:
        """Notebook 07: pings across the peering both ways and a TCP probe the security group refuses."""
        return traffic.send_standard_traffic(self)

    def wait_for_records(self, timeout_s: float | None = None, quiet: bool = False) -> int:
        """Notebook 07: wait (with a progress bar) until the probe's records are in the log group."""
        return traffic.wait_for_records(self, timeout_s=timeout_s, quiet=quiet)
