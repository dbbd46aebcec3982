"""Everything a learner can set, in one place, read from arguments or the environment.

| variable                | meaning                                                    |
|-------------------------|------------------------------------------------------------|
| LABKIT_MODE             | offline (default), live, or replay                         |
| LABKIT_LAB              | the lab's name, used in tags and resource names            |
| LABKIT_REGION           | region (offline default us-east-1; live: your profile's)   |
| LABKIT_ENDPOINT         | use this emulator instead of the shared background one     |
| LABKIT_PROFILE          | live: the AWS profile to use                                |
| LABKIT_CONFIRM_ACCOUNT  | live: the account id you agree to create resources in      |
| LABKIT_STATE_DIR        | where the shared emulator's state and the lab locks live   |
"""

from __future__ import annotations

import functools
import os
import re

from botocore.loaders import create_loader

from labkit.errors import LabError

MODES = ("offline", "live", "replay")
DEFAULT_LAB = "flowlogs-lab"
DEFAULT_OFFLINE_REGION = "us-east-1"

# The lab's name starts its log groups (/<lab>/...), IAM path (/<lab>/) and buckets (<lab>-flowlogs-...).
# Names that would put them where AWS keeps its own are refused:
# - CloudWatch Logs, CreateLogGroup: "Log group names can't start with the string aws/", and AWS
#   services write their own groups under /aws/... (/aws/lambda/, /aws/eks/...);
# - IAM identifiers (IAM User Guide): AWS puts service-linked roles under /aws-service-role/ and
#   console-made service roles under /service-role/;
# - S3 "General purpose bucket naming rules": names must not start with xn--, sthree- or amzn-s3-demo-.
RESERVED_PREFIXES = ("aws", "amazon", "amzn", "sthree", "xn--")
RESERVED_NAMES = ("service-role",)

# What a region name looks like: botocore's partitions.json gives each partition a regionRegex such as
# ^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$ or ^us\-gov\-\w+\-\d+$; AWS's region codes are lowercase.
REGION_SHAPE = re.compile(r"[a-z]+(-[a-z]+)+-\d+")
REGION_EXAMPLE = "a region looks like us-east-1 or eu-west-2 (lowercase words and hyphens, a number last)"


def resolve_mode(mode: str | None) -> str:
    chosen = (mode or os.environ.get("LABKIT_MODE") or "offline").strip().lower()
    if chosen not in MODES:
        raise LabError(f"unknown mode {chosen!r}: choose one of {', '.join(MODES)}")
    return chosen


def resolve_lab_name(name: str | None) -> str:
    chosen = name or os.environ.get("LABKIT_LAB") or DEFAULT_LAB
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}", chosen):
        raise LabError(
            f"lab name {chosen!r} is not usable in AWS names: use 2-31 lowercase letters, "
            "digits and hyphens, starting with a letter"
        )
    if chosen.startswith(RESERVED_PREFIXES) or chosen in RESERVED_NAMES:
        raise LabError(
            f"lab name {chosen!r} collides with names AWS reserves for its own resources "
            f"(log groups /aws/..., IAM paths /aws-service-role/ and /service-role/, buckets "
            f"xn--/sthree-/amzn-...): names starting with {', '.join(RESERVED_PREFIXES)} or equal to "
            f"{', '.join(RESERVED_NAMES)} are refused; choose another, e.g. 'my-{chosen}'"
        )
    return chosen


def resolve_region(region: str | None, fallback: str | None) -> tuple[str | None, str]:
    """The region and where it came from: ``region=``, else ``LABKIT_REGION``, else ``fallback``.

    A name that cannot be a region (``us-east-x``, ``US-EAST-1``, an empty LABKIT_REGION) raises a
    :class:`LabError` that names the setting, its value and what a region looks like.
    """
    if region is not None:
        return _region_name(region, "region="), "region="
    if "LABKIT_REGION" in os.environ:
        return _region_name(os.environ["LABKIT_REGION"], "LABKIT_REGION="), "LABKIT_REGION="
    return fallback, "default"


def check_known_region(region: str, source: str) -> None:
    """Refuse a well-formed name that is no region botocore knows, in any partition."""
    known = known_regions()
    if region not in known:
        where = "" if source == "default" else f" (from {source}{region!r})"
        raise LabError(f"unknown region {region!r}{where}: use one of {', '.join(sorted(known)[:6])}, ...")


@functools.cache
def known_regions() -> frozenset[str]:
    """The regions of botocore's small partitions table (the 1 MB endpoints table it would
    otherwise read costs half a second at every ``open_lab``); ``aws-global`` and the like are
    pseudo-regions, not places to build a lab."""
    partitions = create_loader().load_data("partitions")["partitions"]
    return frozenset(name for partition in partitions for name in partition["regions"]
                     if not name.endswith("-global"))


def _region_name(value: str, source: str) -> str:
    name = value.strip()
    if REGION_SHAPE.fullmatch(name):
        return name
    if not name:
        problem = f"{source}{value!r} is empty: {REGION_EXAMPLE}"
    elif REGION_SHAPE.fullmatch(name.lower()):
        problem = f"{source}{value!r} is not a region name: region names are lowercase, use {name.lower()!r}"
    else:
        problem = f"{source}{value!r} is not a region name: {REGION_EXAMPLE}"
    if source == "LABKIT_REGION=":
        problem += ("; fix LABKIT_REGION, or unset it to use the default "
                    "(us-east-1 offline, your AWS profile's region live)")
    raise LabError(problem)


def env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None
