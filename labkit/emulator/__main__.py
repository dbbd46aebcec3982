"""``python -m labkit.emulator [--port PORT]``: run an emulator in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit.errors import LabError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.emulator",
        description="The lab's offline AWS: moto's server plus labkit's layer, on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=5000, help="port (0 picks a free one)")
    parser.add_argument("--idle-seconds", type=float, default=None,
                        help="stop after this long without a request (default 7200)")
    parser.add_argument("--state-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from labkit.emulator.server import DEFAULT_IDLE_SECONDS, EmulatorServer

    try:
        server = EmulatorServer(args.port, args.idle_seconds or DEFAULT_IDLE_SECONDS)
    except LabError as error:
        print(f"labkit emulator: {error}", file=sys.stderr)
        return 2
    server.install_signal_handlers()
    if args.state_file:
        from labkit.emulator.process import write_state

        write_state(args.state_file, server.endpoint, server.port, server.token)
    print(f"labkit emulator on {server.endpoint} (Ctrl-C stops it)", flush=True)
    reason = server.serve_forever()
    if args.state_file:
        from labkit.emulator.process import remove_own_state

        remove_own_state(args.state_file, server.port)
    print(f"labkit emulator stopped: {reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
