"""moto's in-process state, reached directly: our layer reads and amends it."""

from __future__ import annotations

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

ACCOUNT_ID = DEFAULT_ACCOUNT_ID


def backend(service: str, region: str = "us-east-1"):
    backends = get_backend(service)[ACCOUNT_ID]
    # IAM and S3 are global: moto keeps them under the partition name.
    return backends["global"] if service in ("iam",) else backends[region]


def ec2(region: str):
    return backend("ec2", region)


def logs(region: str):
    return backend("logs", region)


def ssm(region: str):
    return backend("ssm", region)


def iam():
    return backend("iam")


def s3():
    return get_backend("s3")[ACCOUNT_ID]["global"]
