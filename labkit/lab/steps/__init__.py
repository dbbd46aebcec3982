"""The build steps, one module each. ``STEPS[n](lab, quiet=...)`` brings the lab to notebook n's state.

Every step finds its resources by tag or creates them, so running it twice
creates nothing new, and ends with a check that raises if the result is wrong.
"""

from labkit.lab.steps.flow_log_role import ensure_flow_log_role
from labkit.lab.steps.flow_logs import ensure_flow_logs
from labkit.lab.steps.instances import ensure_instances
from labkit.lab.steps.once import build_to
from labkit.lab.steps.peering import ensure_peering
from labkit.lab.steps.s3_flow_logs import ensure_cloudwatch_and_s3_flow_logs, ensure_s3_flow_logs
from labkit.lab.steps.subnets import ensure_public_subnets
from labkit.lab.steps.traffic import ensure_standard_traffic
from labkit.lab.steps.vpcs import ensure_vpcs

STEPS = {
    1: ensure_vpcs,
    2: ensure_public_subnets,
    3: ensure_instances,
    4: ensure_peering,
    5: ensure_flow_log_role,
    6: ensure_cloudwatch_and_s3_flow_logs,
    7: ensure_standard_traffic,
}

__all__ = ["STEPS", "build_to", "ensure_cloudwatch_and_s3_flow_logs", "ensure_flow_log_role",
           "ensure_flow_logs", "ensure_instances", "ensure_peering", "ensure_public_subnets",
           "ensure_s3_flow_logs", "ensure_standard_traffic", "ensure_vpcs"]
