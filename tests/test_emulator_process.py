"""The shared emulator's life: one per machine however many kernels start it, recovery from a dead one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from labkit.emulator import process
from labkit.errors import LabError

pytestmark = pytest.mark.serial  # starting and killing emulators has time bounds

START_IN_CHILD = ("import json; from labkit.emulator import process; info = process.start(); "
                  "print(json.dumps({'endpoint': info.endpoint, 'pid': info.pid}))")


def _wait_gone(pid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while process.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_two_kernels_starting_at_once_get_one_emulator(tmp_path):
    env = dict(os.environ, LABKIT_STATE_DIR=str(tmp_path))
    kernels = [subprocess.Popen([sys.executable, "-c", START_IN_CHILD], env=env, stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    answers = [json.loads(k.communicate(timeout=120)[0]) for k in kernels]
    try:
        assert answers[0] == answers[1]
        assert process.alive(answers[0]["pid"])
    finally:
        os.kill(answers[0]["pid"], signal.SIGTERM)
        _wait_gone(answers[0]["pid"])
    assert not (tmp_path / "emulator.json").exists()  # its owner removed it on the way out


def test_an_emulator_leaves_another_ones_state_file_alone(tmp_path):
    state = tmp_path / "emulator.json"
    child = subprocess.Popen([sys.executable, "-m", "labkit.emulator", "--port", "0",
                              "--state-file", str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert "labkit emulator on" in child.stdout.readline()
        # Another emulator took over the state file meanwhile.
        process.write_state(state, "http://127.0.0.1:1", 1, "theirs")
        child.terminate()
        child.communicate(timeout=20)
    finally:
        child.kill()
    assert process.read_state(state).token == "theirs"


def test_remove_own_state_only_when_it_names_this_process(tmp_path):
    state = tmp_path / "emulator.json"
    process.write_state(state, "http://127.0.0.1:5", 5, "mine")
    assert process.remove_own_state(state, port=6) is False
    assert process.remove_own_state(state, port=5) is True
    assert not state.exists()


def test_a_dead_emulator_is_replaced_by_a_fresh_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))
    first = process.start()
    os.kill(first.pid, signal.SIGKILL)  # killed: it leaves its state file behind
    _wait_gone(first.pid)
    assert process.read_state(process.state_file()).pid == first.pid
    assert process.health(first.endpoint, timeout=1) is None
    assert process.status() is None
    second = process.start()
    try:
        assert second.pid != first.pid
        assert process.health(second.endpoint)["emulator"] == "labkit"
    finally:
        assert process.stop() is True
    assert process.status() is None


def test_a_hung_emulator_is_named_with_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))
    # A live process that answers nothing on the recorded port stands for a hung emulator.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        process.write_state(process.state_file(), "http://127.0.0.1:9", 9, "t")
        state = json.loads(process.state_file().read_text())
        state["pid"] = sleeper.pid
        process.state_file().write_text(json.dumps(state))
        with pytest.raises(LabError) as info:
            process.start()
        message = str(info.value)
        assert f"pid {sleeper.pid}" in message and "does not answer" in message
        assert "labkit emulator stop" in message
        assert process.stop() is True  # stop ends the hung one, answering or not
        sleeper.wait(timeout=15)
    finally:
        sleeper.kill()
