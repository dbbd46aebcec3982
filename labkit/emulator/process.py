"""The shared background emulator: start it once, and let every kernel find it.

Its port and pid live in a small state file, so that notebook 9's kernel talks
to the same emulator (the same VPCs) as notebook 1's, as with real AWS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabError

START_TIMEOUT_S = 30


def state_dir() -> Path:
    return Path(os.environ.get("LABKIT_STATE_DIR") or Path.home() / ".cache" / "labkit")


def state_file() -> Path:
    return state_dir() / "emulator.json"


@dataclass
class EmulatorInfo:
    endpoint: str
    pid: int | None = None
    port: int | None = None


def health(endpoint: str, timeout: float = 2.0) -> dict | None:
    """The emulator's health answer, or None when nothing (or something else) answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/labkit/health", timeout=timeout) as response:
            answer = json.load(response)
    except (OSError, ValueError):
        return None
    return answer if answer.get("emulator") == "labkit" else None


def status() -> EmulatorInfo | None:
    """The running shared emulator, or None. A stale state file is removed."""
    path = state_file()
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    info = EmulatorInfo(saved["endpoint"], saved.get("pid"), saved.get("port"))
    if health(info.endpoint, timeout=1.0) is None:
        if not alive(info.pid):
            path.unlink(missing_ok=True)  # left behind by an emulator that is gone
        return None
    return info


def alive(pid: int | None) -> bool:
    """Whether a process runs; a zombie (exited, not yet reaped) counts as gone."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): kill(0) said it exists


def start() -> EmulatorInfo:
    """Start the shared emulator in the background (or return the one already running)."""
    running = status()
    if running:
        return running
    state_dir().mkdir(parents=True, exist_ok=True)
    log_path = state_dir() / "emulator.log"
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "labkit.emulator", "--port", "0",
             "--state-file", str(state_file())],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the kernel that started it
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise LabError(f"the emulator exited at start (code {child.returncode}): see {log_path}")
        info = status()
        if info:
            return info
        time.sleep(0.1)
    child.kill()
    raise LabError(f"the emulator did not answer within {START_TIMEOUT_S} s: see {log_path}")


def stop() -> bool:
    """Stop the shared emulator. True when one was running."""
    info = status()
    if info is None or info.pid is None:
        return False
    try:
        os.kill(info.pid, 15)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and health(info.endpoint, timeout=0.5):
        time.sleep(0.1)
    state_file().unlink(missing_ok=True)
    return True


def write_state(path: Path, endpoint: str, port: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"endpoint": endpoint, "port": port, "pid": os.getpid()}))
    tmp.replace(path)


class PrivateEmulator:
    """A fresh emulator of one's own (tests, `make run`), stopped on exit. Not the shared one."""

    def __init__(self, idle_seconds: float = 3600):
        self.idle_seconds = idle_seconds
        self.child: subprocess.Popen | None = None
        self.endpoint = ""

    def __enter__(self) -> PrivateEmulator:
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="labkit-emulator-")
        state = Path(self._dir.name) / "emulator.json"
        self.log_path = Path(self._dir.name) / "emulator.log"
        with open(self.log_path, "wb") as log:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "labkit.emulator", "--port", "0", "--state-file", str(state),
                 "--idle-seconds", str(self.idle_seconds)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.child.poll() is not None:
                raise LabError(f"private emulator exited: {self.log_path.read_text()[-2000:]}")
            if state.exists():
                self.endpoint = json.loads(state.read_text())["endpoint"]
                if health(self.endpoint, timeout=1.0):
                    return self
            time.sleep(0.05)
        self.__exit__(None, None, None)
        raise LabError(f"private emulator did not answer within {START_TIMEOUT_S} s")

    def reset(self) -> None:
        """Forget every resource: a fresh AWS account, without a new process."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def __exit__(self, *exc) -> None:
        if self.child and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()
        self._dir.cleanup()
