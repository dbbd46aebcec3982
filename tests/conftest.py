"""Shared fixtures: every test that touches AWS gets an emulator of its own, never the learner's."""

from __future__ import annotations

import pytest

from labkit.emulator.process import PrivateEmulator


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    # Never start, find or stop the learner's shared emulator from a test.
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path_factory.getbasetemp() / "labkit-state"))
    for name in ("LABKIT_MODE", "LABKIT_LAB", "LABKIT_REGION", "LABKIT_CONFIRM_ACCOUNT",
                 "LABKIT_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def emulator():
    with PrivateEmulator() as running:
        yield running


@pytest.fixture
def fresh_emulator(emulator, monkeypatch):
    """The session's private emulator, reset to an empty account, used through LABKIT_ENDPOINT."""
    emulator.reset()
    monkeypatch.setenv("LABKIT_ENDPOINT", emulator.endpoint)
    return emulator
