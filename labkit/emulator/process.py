"""The shared background emulator: start it once, and let every kernel find it.

Its port and pid live in a small state file, so that notebook 9's kernel talks
to the same emulator (the same VPCs) as notebook 1's, as with real AWS.
"""

from __future__ import annotations

import contextlib
import fcntl
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
STOP_TIMEOUT_S = 10
RESTART_HINT = "run `labkit emulator stop`, then `labkit emulator start` (or just open the lab again)"


def state_dir() -> Path:
    return Path(os.environ.get("LABKIT_STATE_DIR") or Path.home() / ".cache" / "labkit")


def state_file() -> Path:
    return state_dir() / "emulator.json"


@dataclass
class EmulatorInfo:
    endpoint: str
    pid: int | None = None
    port: int | None = None
    token: str = ""


def read_state(path: Path) -> EmulatorInfo | None:
    """The emulator a state file names, or None when there is no readable one."""
    try:
        saved = json.loads(path.read_text())
        return EmulatorInfo(saved["endpoint"], saved.get("pid"), saved.get("port"), saved.get("token", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def state_lock(directory: Path, timeout: float | None = None):
    """An exclusive lock on ``directory``'s emulator, shared by every process on this machine.

    Yields True when held; False when ``timeout`` passed first.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / "emulator.lock", "a+") as handle:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline else 0))
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def health(endpoint: str, timeout: float = 2.0) -> dict | None:
    """The emulator's health answer, or None when nothing (or something else) answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/labkit/health", timeout=timeout) as response:
            answer = json.load(response)
    except (OSError, ValueError):
        return None
    return answer if answer.get("emulator") == "labkit" else None


def status() -> EmulatorInfo | None:
    """The running shared emulator, or None. Never removes a state file: only its emulator does."""
    info = read_state(state_file())
    if info is None or health(info.endpoint, timeout=1.0) is None:
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
    """Start the shared emulator in the background (or return the one already running).

    A lock in the state directory makes kernels that start at once share one emulator.
    """
    with state_lock(state_dir()):
        running = status()
        if running:
            return running
        _refuse_hung(read_state(state_file()))
        return _spawn_shared()


def _refuse_hung(saved: EmulatorInfo | None) -> None:
    # A process that lives but does not answer holds the lab's state: a second emulator
    # would hide it (and the lab with it). Say so rather than start another.
    if saved is None or not alive(saved.pid):
        return  # none, or a dead emulator's state file: the new one replaces it
    if health(saved.endpoint, timeout=5.0) is None:
        raise LabError(f"the shared emulator (pid {saved.pid}, {saved.endpoint}) is running but does not "
                       f"answer: {RESTART_HINT}. Its log: {state_dir() / 'emulator.log'}")


def _spawn_shared() -> EmulatorInfo:
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
            raise LabError(f"the emulator exited as it started (exit code {child.returncode}); the end of "
                           f"its log: {_log_tail(log_path)!r}. See {log_path}, then run "
                           "`labkit emulator start` again")
        info = read_state(state_file())
        if info and info.pid == child.pid and health(info.endpoint, timeout=1.0):
            return info
        time.sleep(0.1)
    child.kill()
    raise LabError(f"the emulator did not answer within {START_TIMEOUT_S} s and was stopped; see {log_path}, "
                   "then run `labkit emulator start` again")


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def stop() -> bool:
    """Stop the shared emulator. True when one was running (answering or hung)."""
    with state_lock(state_dir()):
        info = read_state(state_file())
        if info is None or not alive(info.pid):
            return False
        _terminate(info.pid)
        return True


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 15)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):  # it ignored SIGTERM (a hung request): its state file stays, marked by a dead pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def write_state(path: Path, endpoint: str, port: int, token: str) -> None:
    """Record this process as the emulator at ``endpoint``; readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # in case tmp already existed with looser bits
        json.dump({"endpoint": endpoint, "port": port, "pid": os.getpid(), "token": token}, handle)
    tmp.replace(path)


def remove_own_state(path: Path, port: int) -> bool:
    """Remove ``path`` if it still names this process on ``port``; another emulator's stays."""
    if not path.parent.is_dir():
        return False  # a private emulator's directory, already cleaned up
    with state_lock(path.parent, timeout=5.0) as held:
        saved = read_state(path)
        if not held or saved is None or (saved.pid, saved.port) != (os.getpid(), port):
            return False
        path.unlink(missing_ok=True)
        return True


def reset(endpoint: str, token: str) -> None:
    """Forget every resource of the emulator at ``endpoint`` (its state file holds ``token``)."""
    from labkit.emulator.guard import CONTROL_RESET, TOKEN_HEADER

    request = urllib.request.Request(f"{endpoint}{CONTROL_RESET}", method="POST", data=b"",
                                     headers={TOKEN_HEADER: token})
    urllib.request.urlopen(request, timeout=10).close()


class PrivateEmulator:
    """A fresh emulator of one's own (tests, `make run`), stopped on exit. Not the shared one."""

    def __init__(self, idle_seconds: float = 3600):
        self.idle_seconds = idle_seconds
        self.child: subprocess.Popen | None = None
        self.endpoint = ""
        self.token = ""

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
            info = read_state(state)
            if info and health(info.endpoint, timeout=1.0):
                self.endpoint, self.token = info.endpoint, info.token
                return self
            time.sleep(0.05)
        self.__exit__(None, None, None)
        raise LabError(f"private emulator did not answer within {START_TIMEOUT_S} s")

    def reset(self) -> None:
        """Forget every resource: a fresh AWS account, without a new process."""
        reset(self.endpoint, self.token)

    def __exit__(self, *exc) -> None:
        if self.child and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()
        self._dir.cleanup()
