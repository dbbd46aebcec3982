"""Within one ``bring_to``, each step runs once, and the later steps that need its result reuse it.

Every step ensures what it builds on (``ensure_flow_logs`` ensures the VPCs), so that it also
works when called alone; bringing a lab to step 7 would otherwise find the VPCs seven times over.
Outside a build nothing is remembered: a learner who deletes something by hand and runs a step
again gets it found or made again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar

_RESULTS: ContextVar[dict | None] = ContextVar("labkit_step_results", default=None)


def once_per_build(ensure: Callable):
    """Mark ``ensure(lab, quiet=...)`` as a step whose result one build shares."""

    @functools.wraps(ensure)
    def run(lab, quiet: bool = False):
        results = _RESULTS.get()
        if results is None:
            return ensure(lab, quiet=quiet)
        key = (ensure, id(lab))
        if key not in results:
            results[key] = ensure(lab, quiet=quiet)
        return results[key]

    return run


def build_to(lab, step: int, steps: Mapping[int, Callable]) -> None:
    """Run steps 1..step quietly, each once."""
    token = _RESULTS.set({})
    try:
        for number in range(1, step + 1):
            steps[number](lab, quiet=True)
    finally:
        _RESULTS.reset(token)
