"""The build steps, one module each. ``STEPS[n](lab, quiet=...)`` brings the lab to notebook n's state.

Every step finds its resources by tag or creates them, so running it twice
creates nothing new, and ends with a check that raises if the result is wrong.
"""

from labkit.steps.instances import ensure_instances
from labkit.steps.peering import ensure_peering
from labkit.steps.subnets import ensure_public_subnets
from labkit.steps.vpcs import ensure_vpcs

STEPS = {
    1: ensure_vpcs,
    2: ensure_public_subnets,
    3: ensure_instances,
    4: ensure_peering,
}

__all__ = ["STEPS", "ensure_instances", "ensure_peering", "ensure_public_subnets", "ensure_vpcs"]
