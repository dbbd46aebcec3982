"""Seeded randomness where moto draws at random and a learner would see it.

Public IPv4 addresses come from a seeded sequence (reset with the emulator), so
that two runs of the series print the same addresses and tables keep their
widths. Resource ids stay random, as on AWS.
"""

from __future__ import annotations

import random

from labkit.emulator import moto_adapter

SEED = 20261126
_rng = random.Random(SEED)


def _seeded_public_ip() -> str:
    # 3.80.0.0/12 is an Amazon EC2 range in us-east-1; three digits each keep widths fixed.
    return f"3.{_rng.randrange(80, 96)}.{_rng.randrange(100, 256)}.{_rng.randrange(100, 255)}"


def reset() -> None:
    _rng.seed(SEED)


def _install() -> None:
    from labkit.emulator import layer

    moto_adapter.seed_public_ips(_seeded_public_ip)
    if reset not in layer.RESET_CALLBACKS:
        layer.RESET_CALLBACKS.append(reset)


_install()
