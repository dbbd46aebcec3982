"""The first notebook's configuration check: each line says what is fine or exactly what to fix."""

from __future__ import annotations

import importlib.metadata as metadata
import sys
from dataclasses import dataclass

from labkit.errors import LabError
from labkit.lab import config


@dataclass
class Check:
    """One line of the setup report: what was checked, whether it is fine, and the detail."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok ' if self.ok else 'FIX'}  {self.name:<22} {self.detail}"


@dataclass
class SetupReport:
    """The checks, shown one a line, then "Ready." or what to do."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def __repr__(self) -> str:
        verdict = "Ready." if self.ok else "Not ready: fix the lines marked FIX, then run this again."
        return "\n".join([*map(str, self.checks), verdict])


def check_setup(mode: str | None = None) -> SetupReport:
    """Check Python, the packages, the mode and (offline) the emulator or (live) the credentials.

    Each line of the report says ``ok`` or ``FIX`` and what to do; nothing is created.
    """
    checks = [Check("python", sys.version_info >= (3, 11),
                    f"{sys.version.split()[0]} (3.11 or newer needed)")]
    for package in ("boto3", "moto", "pandas", "pyarrow", "jupyterlab"):
        try:
            checks.append(Check(package, True, metadata.version(package)))
        except metadata.PackageNotFoundError:
            checks.append(Check(package, False, "not installed: run `make lab` or "
                                "`pip install -e .` in the lab's folder"))
    try:
        chosen = config.resolve_mode(mode)
    except Exception as error:  # noqa: BLE001 - reported as a line, not raised
        return SetupReport([*checks, Check("mode", False, str(error))])
    checks.append(Check("mode", True, chosen + ("" if chosen != "offline" else " (default)")))
    if chosen == "offline":
        checks += [_check_region(config.DEFAULT_OFFLINE_REGION)[0], _check_emulator()]
    elif chosen == "live":
        checks += _check_live()
    else:
        checks.append(Check("sample data", True, "replaying data/sample_flowlogs"))
    return SetupReport(checks)


def _check_emulator() -> Check:
    from labkit.emulator import process

    endpoint = config.env("LABKIT_ENDPOINT")
    if endpoint:
        ok = process.health(endpoint) is not None
        return Check("emulator", ok, f"answers at {endpoint}" if ok else
                     f"LABKIT_ENDPOINT={endpoint} does not answer: start `python -m labkit.emulator "
                     "--port PORT` there, or unset LABKIT_ENDPOINT")
    try:
        info = process.start()
    except Exception as error:  # noqa: BLE001
        return Check("emulator", False, f"could not start: {error}")
    return Check("emulator", True, f"answers at {info.endpoint}")


def _check_region(fallback: str | None) -> tuple[Check, str | None]:
    """LABKIT_REGION (else ``fallback``) is a region name that botocore knows; the region if it is."""
    try:
        region, source = config.resolve_region(None, fallback)
        if not region:
            return Check("region", False, "not set: set LABKIT_REGION or a region in your AWS profile"), None
        config.check_known_region(region, source)
    except LabError as error:
        return Check("region", False, str(error)), None
    return Check("region", True, region + (" (LABKIT_REGION)" if source == "LABKIT_REGION=" else "")), region


def _check_live() -> list[Check]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    profile = config.env("LABKIT_PROFILE")
    try:
        session = boto3.Session(profile_name=profile)
    except BotoCoreError as error:  # ProfileNotFound
        return [Check("profile", False, f"LABKIT_PROFILE={profile}: {error}")]
    region_check, region = _check_region(session.region_name)
    checks = [region_check]
    if session.get_credentials() is None:
        return [*checks, Check("credentials", False,
                               "none found: run `aws configure` or `aws sso login`")]
    try:
        # STS answers in every region: the credentials are checked even when the region is not usable.
        sts = session.client("sts", region_name=region or config.DEFAULT_OFFLINE_REGION)
        account = sts.get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        return [*checks, Check("credentials", False, f"rejected by AWS: {error}")]
    confirmed = config.env("LABKIT_CONFIRM_ACCOUNT") == account
    return [*checks, Check("credentials", True, f"account {account}"),
            Check("confirmation", confirmed, "LABKIT_CONFIRM_ACCOUNT matches" if confirmed else
                  f"set LABKIT_CONFIRM_ACCOUNT={account} to let the lab create resources")]
