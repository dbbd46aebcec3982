"""The lab's names and fixed numbers, in one place: the steps create with them, read code finds with them.

Everything the lab owns is named after the lab (``flowlogs-lab`` by default), so two labs in one
account never collide and teardown can find what is its own.
"""

from __future__ import annotations

from labkit.errors import LabError

OFFLINE_ACCOUNT_ID = "123456789012"
"""The account the offline emulator answers as (moto's default)."""

PROBE_PORT = 56121
"""The TCP port the lab probes and the receiving security group drops (the seed guide's example)."""

VPC_CIDRS = {"vpc1": "10.0.0.0/16", "vpc2": "192.168.0.0/16"}
"""Two address ranges that do not overlap, so that the VPCs can be peered."""

SUBNET_CIDRS = {"vpc1": "10.0.1.0/24", "vpc2": "192.168.1.0/24"}
"""The public subnet of each VPC."""

PRIVATE_IPS = {"vpc1": "10.0.1.10", "vpc2": "192.168.1.10"}
"""Fixed instance addresses (each subnet's .10), so that records and exercises read the same every run."""


def iam_path(lab) -> str:
    """Every IAM role and instance profile of the lab lives under this path, which teardown lists."""
    return f"/{lab.name}/"


def log_group_prefix(lab) -> str:
    """Every log group of the lab starts with this."""
    return f"/{lab.name}/"


def log_group_name(lab) -> str:
    """The log group the lab's flow logs write to."""
    return f"{log_group_prefix(lab)}vpc-flow-logs"


def delivery_role_name(lab) -> str:
    """The role VPC Flow Logs assumes to write into the log group."""
    return f"{lab.name}-flow-logs-delivery"


def instance_role_name(lab) -> str:
    """The role (and instance profile) that lets Systems Manager run commands on the instances."""
    return f"{lab.name}-ssm-instance"


def bucket_prefix(lab) -> str:
    """Every S3 bucket of the lab starts with this."""
    return f"{lab.name}-flowlogs-"


def bucket_name(lab) -> str:
    """``<lab>-flowlogs-<account>-<region>``: bucket names are global, so the account and
    region make it the lab's own; it starts with the prefix teardown looks for."""
    name = f"{bucket_prefix(lab)}{lab.account_id}-{lab.region}"
    if len(name) > 63:
        raise LabError(f"bucket name {name!r} is longer than S3's 63 characters: choose a shorter lab name")
    return name
