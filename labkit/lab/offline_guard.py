"""A dead offline emulator as one LabError that says what happened and what to run.

The shared emulator stops itself after two idle hours (or is killed); its
clients would then retry for a while and raise botocore's raw
``EndpointConnectionError``. A handler on the client's ``needs-retry`` event
sees the first failed connection, asks the emulator's health endpoint, and, if
nothing answers, raises the LabError at once instead of retrying.
"""

from __future__ import annotations

import os

from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from labkit.emulator import process as emulator_process
from labkit.errors import LabError

CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError)


def emulator_gone_message(endpoint: str) -> str:
    if os.environ.get("LABKIT_ENDPOINT", "").strip() == endpoint:
        what_to_run = ("start it again (`python -m labkit.emulator --port PORT`), or unset "
                       "LABKIT_ENDPOINT and run open_lab() again to use the shared one")
    else:
        what_to_run = "run open_lab() again (it starts a new one), or `labkit emulator start`"
    return (f"the offline emulator at {endpoint} is not answering (stopped after 2 h idle, or "
            f"killed?): {what_to_run}; a new emulator starts empty, so open_lab(step=N) rebuilds "
            "the lab")


def watch_offline_endpoint(client, endpoint: str) -> None:
    """Make this client raise a LabError when the emulator behind ``endpoint`` is gone."""

    def check_alive(caught_exception=None, **_):
        if isinstance(caught_exception, CONNECTION_ERRORS) and emulator_process.health(
                endpoint, timeout=1.0) is None:
            raise LabError(emulator_gone_message(endpoint)) from None

    # First, so that it runs before botocore's own retry handler schedules another attempt.
    client.meta.events.register_first("needs-retry", check_alive)
