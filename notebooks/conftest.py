"""nbval runs the series in order against one fresh private emulator, as `make run` does.

The emulator starts in pytest_configure, before nbval starts any kernel, so that
every kernel inherits LABKIT_ENDPOINT and never touches the learner's shared emulator.
"""

from __future__ import annotations

import os
import tempfile

from labkit.emulator.process import PrivateEmulator

_emulator: PrivateEmulator | None = None


def pytest_configure(config):
    global _emulator
    os.environ["LABKIT_STATE_DIR"] = tempfile.mkdtemp(prefix="labkit-nbval-state-")
    _emulator = PrivateEmulator().__enter__()
    os.environ["LABKIT_ENDPOINT"] = _emulator.endpoint


def pytest_unconfigure(config):
    if _emulator is not None:
        _emulator.__exit__(None, None, None)
