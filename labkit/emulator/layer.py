"""Our WSGI layer around moto's server: every request passes here first.

It reads the call, runs the hooks registered for it (strictness, SSM, delivery,
Logs Insights...), and otherwise hands the request to moto untouched.
"""

from __future__ import annotations

import io
import json
import logging
import time
import traceback

from labkit.emulator import hooks
from labkit.emulator.awsproto import AwsError, Call, error_body, parse_call

log = logging.getLogger("labkit.emulator")

# Hooks register themselves on import.
HOOK_MODULES = [
    "labkit.emulator.strictness",
    "labkit.emulator.flow_log_rules",
    "labkit.emulator.delivery",  # before logs_api: a read publishes the open windows, then answers
    "labkit.emulator.ssm_commands",
    "labkit.emulator.ssm_history",
    "labkit.emulator.ssm_nodes",
    "labkit.emulator.iam_tags",
    "labkit.emulator.logs_api",
    "labkit.emulator.query_definitions",
    "labkit.emulator.filters",
    "labkit.emulator.determinism",
]
# Called when moto's state is reset (POST /moto-api/reset), so that our state is reset with it.
# (hook modules with state of their own append their reset functions here when they are imported.)
RESET_CALLBACKS: list = []


class LabLayer:
    def __init__(self, moto_app, version: str):
        self.moto_app = moto_app
        self.version = version
        # moto has no locks of its own; one lock around each call keeps its state whole
        # (shared with the hooks that work outside it, e.g. Logs Insights queries).
        self.lock = hooks.LOCK
        self.last_request = time.monotonic()
        for name in HOOK_MODULES:
            __import__(name)

    def __call__(self, environ, start_response):
        self.last_request = time.monotonic()
        if environ.get("PATH_INFO") == "/labkit/health":
            return self._health(start_response)
        if environ.get("PATH_INFO") == "/moto-api/reset":
            with self.lock:
                for callback in RESET_CALLBACKS:
                    callback()
        body = self._read_body(environ)
        call = parse_call(environ, body)
        try:
            with self.lock:
                return self._dispatch(call, environ, start_response)
        except AwsError as error:
            return self._answer(start_response, error_body(call, error))
        except Exception:  # noqa: BLE001 - the learner sees an AWS-shaped error, not a traceback
            log.error("emulator error in %s: %s", call, traceback.format_exc())
            error = AwsError("InternalFailure", "The emulator failed on this request.", 500)
            return self._answer(start_response, error_body(call or Call("ec2", "", ""), error))

    def _dispatch(self, call: Call | None, environ, start_response):
        if call is None:
            return self.moto_app(environ, start_response)
        key = (call.service, call.operation)
        for hook in hooks.BEFORE.get(key, ()):
            answer = hook(call)
            if answer is not None:
                return self._answer(start_response, answer)
        after = hooks.AFTER.get(key)
        if not after:
            return self.moto_app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.moto_app(environ, capture))
        headers = captured["headers"]
        if captured["status"].startswith("2"):
            for hook in after:
                replaced = hook(call, body)
                if replaced is not None:
                    body = replaced
                    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                    headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    def _health(self, start_response):
        body = json.dumps({"emulator": "labkit", "version": self.version}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    @staticmethod
    def _read_body(environ) -> bytes:
        # Read the body once, then put it back so that moto can read it again.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    @staticmethod
    def _answer(start_response, answer):
        status, headers, body = answer
        start_response(status, headers)
        return [body]
