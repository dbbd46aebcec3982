"""Serving the emulator: moto's server wrapped in our layer, on 127.0.0.1 only."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import signal
import socket
import threading
import time

from labkit.emulator.guard import LocalOnly
from labkit.errors import LabError

# moto reads these when it is imported: set them first.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")  # AWS refuses unknown AMIs too

HOST = "127.0.0.1"
DEFAULT_IDLE_SECONDS = 2 * 3600
WARM_REGIONS = ("us-east-1",)


def build_app():
    """moto's server inside our layer, inside the AWS-shaped answers to bad input."""
    from importlib.metadata import version

    from labkit.emulator import moto_adapter
    from labkit.emulator.input_errors import InputErrors
    from labkit.emulator.layer import LabLayer
    from labkit.emulator.logs_limits import PutLogEventsLimits

    layer = LabLayer(moto_adapter.wsgi_app(), version("labkit"))
    return layer, InputErrors(PutLogEventsLimits(layer))


def _warm_up(regions=WARM_REGIONS) -> None:
    # moto builds a backend on first use (about a second for EC2): pay it at start.
    from labkit.emulator import moto_adapter

    moto_adapter.warm_up(regions)


def _require_free(port: int) -> None:
    # werkzeug would print its own message and sys.exit(1); say it in one line of ours instead.
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind((HOST, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise LabError(f"port {port} on {HOST} is already in use: choose another with --port "
                           "(or --port 0 for a free one)") from None
        raise
    finally:
        probe.close()


class EmulatorServer:
    """One emulator on one port. ``serve_forever`` returns on stop, a signal, or idle time."""

    def __init__(self, port: int = 0, idle_seconds: float = DEFAULT_IDLE_SECONDS):
        from werkzeug.serving import make_server

        from labkit.emulator import moto_adapter

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _require_free(port)
        self.layer, app = build_app()
        self.server = make_server(HOST, port, app, threaded=True,
                                  request_handler=moto_adapter.request_handler())
        self.port = self.server.server_address[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        # The guard needs the port the socket got (port 0 picks one), so it goes on last.
        self.token = secrets.token_urlsafe(32)
        self.server.app = LocalOnly(app, self.port, self.token)
        self.idle_seconds = idle_seconds
        self.stopped_because = ""

    def serve_forever(self) -> str:
        _warm_up()
        watcher = threading.Thread(target=self._watch_idle, daemon=True)
        watcher.start()
        self.server.serve_forever(poll_interval=0.2)
        return self.stopped_because or "stopped"

    def stop(self, reason: str = "stopped") -> None:
        self.stopped_because = reason
        threading.Thread(target=self.server.shutdown, daemon=True).start()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self.stop(signal.Signals(signum).name))

    def _watch_idle(self) -> None:
        while not self.stopped_because:
            time.sleep(min(30.0, max(self.idle_seconds / 4, 0.1)))
            if time.monotonic() - self.layer.last_request > self.idle_seconds:
                self.stop(f"idle for {self.idle_seconds:.0f} s")
