"""The ``labkit`` command: the emulator, the series, teardown, and a setup check."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from labkit.errors import LabError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description="VPC Flow Logs Lab tools")
    sub = parser.add_subparsers(dest="command", required=True)
    emu = sub.add_parser("emulator", help="the shared offline emulator")
    emu.add_argument("action", choices=["start", "stop", "status"])
    run = sub.add_parser("run", help="run the notebook series headless on a fresh emulator")
    run.add_argument("--out", type=Path, default=Path("build"), help="where executed copies go")
    run.add_argument("--inplace", action="store_true", help="store the outputs in notebooks/")
    run.add_argument("--only", nargs="*", help="notebook number prefixes, e.g. 01 04")
    for name, text in (("teardown", "delete everything the lab created"),
                       ("inventory", "list what the lab owns"), ("check", "check the setup")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--mode", choices=["offline", "live"], default=None)
        cmd.add_argument("--confirm-account", default=None)
        if name == "teardown":
            cmd.add_argument("--dry-run", action="store_true",
                             help="list what would be deleted (and what is left alone); delete nothing")
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except LabError as error:
        print(f"labkit: {error}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "emulator":
        from labkit.emulator import process

        if args.action == "start":
            print(f"emulator running at {process.start().endpoint}")
        elif args.action == "stop":
            print("emulator stopped" if process.stop() else "no emulator was running")
        else:
            info = process.status()
            print(f"emulator running at {info.endpoint} (pid {info.pid})" if info
                  else "no emulator running")
        return 0
    if args.command == "run":
        from labkit.lab.runner import run_series

        _offline_only()
        run_series(out_dir=args.out, inplace=args.inplace, only=args.only)
        return 0
    if args.command == "check":
        from labkit.lab.setup_check import check_setup

        report = check_setup(args.mode)
        print(repr(report))
        return 0 if report.ok else 1
    from labkit.lab import open_lab

    lab = open_lab(mode=args.mode, confirm_account=args.confirm_account, quiet=True)
    if args.command == "inventory":
        print(lab.inventory().to_string(index=False))
    else:
        print(repr(lab.teardown(dry_run=args.dry_run)))
    return 0


def _offline_only() -> None:
    """The headless series runs on a fresh private emulator, never on an AWS account.

    An exported LABKIT_MODE=live (or replay) would otherwise reach every notebook's kernel.
    """
    mode = os.environ.get("LABKIT_MODE", "").strip().lower()
    if mode and mode != "offline":
        print(f"labkit run: LABKIT_MODE={mode} is ignored: the series always runs offline, on a "
              "fresh private emulator (open the notebooks in JupyterLab to use live mode)",
              file=sys.stderr)
    os.environ["LABKIT_MODE"] = "offline"


if __name__ == "__main__":
    sys.exit(main())
