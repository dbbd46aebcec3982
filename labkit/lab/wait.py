"""One way to wait: look at something until it is ready, with a timeout, a progress bar, and an
error that says what to do when it never gets there.

A check returns :class:`Pending` (with a word for the progress bar) while it should be asked
again; anything else ends the wait and is returned. Live AWS is slower than the emulator, so a
:class:`Pace` has numbers for each mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from labkit.errors import LabError

__all__ = ["Pace", "Pending", "wait_until"]

T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    """What a check returns while it should be asked again; ``status`` shows on the progress bar."""

    status: str


@dataclass(frozen=True)
class Pace:
    """How long to wait and how often to look, offline and on live AWS.

    With ``backoff`` above 1 each interval is the last one times ``backoff``, up to
    ``max_interval_s``: quick answers come quickly, slow ones are not polled hard.
    """

    timeout_s: float
    interval_s: float
    live_timeout_s: float | None = None
    live_interval_s: float | None = None
    backoff: float = 1.0
    max_interval_s: float = float("inf")

    def for_mode(self, mode: str) -> tuple[float, float]:
        """(timeout, first interval) in seconds for the lab's mode."""
        if mode == "live":
            return (self.live_timeout_s or self.timeout_s, self.live_interval_s or self.interval_s)
        return self.timeout_s, self.interval_s


def wait_until(check: Callable[[], T | Pending], *, mode: str, pace: Pace, what: str, advice: str,
               timeout_s: float | None = None, progress: bool = True, done: str = "done",
               clock: Callable[[], float] | None = None,
               sleep: Callable[[float], None] | None = None) -> T:
    """Call ``check`` until it returns something other than :class:`Pending`, and return that.

    ``what`` names the thing waited for (the progress bar's label and the start of the error);
    ``advice`` says what to do if it times out. ``timeout_s`` overrides the pace's timeout.
    ``clock`` and ``sleep`` default to this module's ``time`` (tests replace them).
    """
    from tqdm.auto import tqdm

    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    default_timeout, interval = pace.for_mode(mode)
    timeout_s = default_timeout if timeout_s is None else timeout_s
    started = clock()
    with tqdm(desc=what, disable=not progress, bar_format="{desc}") as bar:
        while True:
            answer = check()
            if not isinstance(answer, Pending):
                bar.set_description_str(f"{what}: {done}")
                return answer
            bar.set_description_str(f"{what}: {answer.status}")
            if clock() - started > timeout_s:
                raise LabError(f"{what} still {answer.status} after {timeout_s:.0f} s; {advice}")
            sleep(interval)
            interval = min(interval * pace.backoff, pace.max_interval_s)
