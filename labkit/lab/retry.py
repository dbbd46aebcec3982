"""Retrying what AWS refuses for a while: throttling, IAM propagation, eventual consistency."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}


def error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""


def with_retries(
    action: Callable,
    *,
    retry_on: set[str] | Callable[[ClientError], bool] = frozenset(),
    timeout_s: float = 60.0,
    first_delay_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
):
    """Call ``action`` until it succeeds, retrying the given error codes with backoff and jitter.

    Throttling is always retried. After ``timeout_s`` the last error is raised as it was.
    """
    deadline = time.monotonic() + timeout_s
    delay = first_delay_s
    while True:
        try:
            return action()
        except ClientError as error:
            code = error_code(error)
            wanted = retry_on(error) if callable(retry_on) else code in retry_on
            if not (wanted or code in THROTTLING) or time.monotonic() + delay > deadline:
                raise
            sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)
