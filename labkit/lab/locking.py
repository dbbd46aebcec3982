"""One lab built by one process at a time: a file lock per lab in the state directory.

Two kernels opening the same lab at once would each find nothing and each
create a copy of every resource. Find-or-create and bringing the lab to a step
hold ``<state dir>/<lab>.lock`` (``fcntl.flock``, released by the OS if the
process dies), so the second kernel waits, then finds what the first created.
The lock is re-entrant within a process: bring_to holds it while each step's
find-or-create takes it again.
"""

from __future__ import annotations

import fcntl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from labkit.emulator.process import state_dir


@dataclass
class _Held:
    guard: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    file: IO | None = None


_held: dict[Path, _Held] = {}
_registry = threading.Lock()


def lock_path(lab_name: str) -> Path:
    return state_dir() / f"{lab_name}.lock"


@contextmanager
def lab_lock(lab_name: str) -> Iterator[None]:
    """Hold the lab's lock (waiting, with one line said, while another process holds it)."""
    path = lock_path(lab_name)
    with _registry:
        held = _held.setdefault(path, _Held())
    with held.guard:
        if held.depth == 0:
            held.file = _acquire(path, lab_name)
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0:
                fcntl.flock(held.file, fcntl.LOCK_UN)
                held.file.close()
                held.file = None


def _acquire(path: Path, lab_name: str) -> IO:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")  # noqa: SIM115 - kept open while the lock is held
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another process that is building lab {lab_name!r} ({path})",
              file=sys.stderr)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle
