"""Everything a learner can set, in one place, read from arguments or the environment.

| variable                | meaning                                                    |
|-------------------------|------------------------------------------------------------|
| LABKIT_MODE             | offline (default), live, or replay                         |
| LABKIT_LAB              | the lab's name, used in tags and resource names            |
| LABKIT_REGION           | region (offline default us-east-1; live: your profile's)   |
| LABKIT_ENDPOINT         | use this emulator instead of the shared background one     |
| LABKIT_PROFILE          | live: the AWS profile to use                                |
| LABKIT_CONFIRM_ACCOUNT  | live: the account id you agree to create resources in      |
| LABKIT_STATE_DIR        | where the shared emulator's state file lives               |
"""

from __future__ import annotations

import os
import re

from labkit.errors import LabError

MODES = ("offline", "live", "replay")
DEFAULT_LAB = "flowlogs-lab"
DEFAULT_OFFLINE_REGION = "us-east-1"


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
    return chosen


def env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None
