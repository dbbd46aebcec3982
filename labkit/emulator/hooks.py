"""The registry of what our layer does around moto, by (service, operation).

A ``before`` hook runs first: it may raise :class:`AwsError` (AWS refuses), return
a full response (our layer answers instead of moto), or return None (moto answers).
An ``after`` hook sees moto's successful answer: it may amend moto's state, and
may return a new body (bytes) that replaces moto's answer; None keeps it.

This is the one way the emulator overrides an operation: no module patches moto.

Hooks run under :data:`LOCK`, the one lock around moto's state (moto has none of its own).
Work that may take long (a Logs Insights query) takes what it needs under the lock and
runs outside it, taking the lock again only to store what it found.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

LOCK = threading.RLock()

BEFORE: dict[tuple[str, str], list[Callable]] = {}
AFTER: dict[tuple[str, str], list[Callable]] = {}


def before(service: str, operation: str):
    def register(fn):
        BEFORE.setdefault((service, operation), []).append(fn)
        return fn

    return register


def after(service: str, operation: str):
    def register(fn):
        AFTER.setdefault((service, operation), []).append(fn)
        return fn

    return register
