"""The emulator's outer boundary: a service for this machine's own programs, nothing else.

A web page the learner happens to open can reach ``127.0.0.1`` too. So the guard
refuses what a browser sends on a foreign page's behalf: a Host header naming
another site (DNS rebinding), an ``Origin`` or ``Sec-Fetch-Site`` that says
"another site", and moto's own ``/moto-api/`` (recorder, reset, dashboard). It
strips the CORS headers moto adds to every answer, so no page may read one.
labkit's reset needs the token the emulator wrote to its state file (mode 0600).
"""

from __future__ import annotations

import hmac
import json

CONTROL_RESET = "/labkit/reset"
TOKEN_HEADER = "X-Labkit-Token"
# moto resets its state (and our layer its own) on this path; only the guard may send it there.
_MOTO_RESET = "/moto-api/reset"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost")


class LocalOnly:
    """WSGI middleware: only requests from this machine's programs reach ``app``."""

    def __init__(self, app, port: int, token: str):
        self.app = app
        self.port = port
        self.token = token
        self.own_origins = {f"http://{name}:{port}" for name in _LOOPBACK_NAMES}

    def __call__(self, environ, start_response):
        refusal = self._refusal(environ)
        if refusal:
            return _plain(start_response, "403 Forbidden", refusal)
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return _plain(start_response, "404 Not Found", "no such endpoint")
        if path == CONTROL_RESET:
            return self._reset(environ, start_response)

        def without_cors(status, headers, exc_info=None):
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        return self.app(environ, without_cors)

    def allowed_host(self, host: str) -> bool:
        """``127.0.0.1:PORT``, ``localhost:PORT`` or ``<bucket>.localhost:PORT`` (S3 virtual hosts)."""
        name, _, port = host.rpartition(":")
        if port != str(self.port):
            return False
        return name in _LOOPBACK_NAMES or name.endswith(".localhost")

    def _refusal(self, environ) -> str:
        host = environ.get("HTTP_HOST", "")
        if not self.allowed_host(host):
            return (f"refused: Host {host!r} is not this emulator; it answers only "
                    f"http://127.0.0.1:{self.port} and http://localhost:{self.port}")
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin not in self.own_origins:
            return f"refused: requests from the web page {origin!r} are not allowed"
        if environ.get("HTTP_SEC_FETCH_SITE", "none") not in ("none", "same-origin"):
            return "refused: requests from another web site are not allowed"
        return ""

    def _reset(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, "405 Method Not Allowed", "POST only")
        given = environ.get("HTTP_" + TOKEN_HEADER.upper().replace("-", "_"), "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _plain(start_response, "403 Forbidden",
                          f"refused: {CONTROL_RESET} needs the {TOKEN_HEADER} from the emulator's state file")
        inner = dict(environ, PATH_INFO=_MOTO_RESET, REQUEST_URI=_MOTO_RESET, RAW_URI=_MOTO_RESET)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            return lambda data: None

        b"".join(self.app(inner, capture))
        ok = captured.get("status", "").startswith("2")
        return _plain(start_response, "200 OK" if ok else "500 Internal Server Error",
                      "reset" if ok else "reset failed: see the emulator's log")


def _plain(start_response, status: str, message: str):
    body = json.dumps({"message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
