"""Write (or check) the lab's sample flow logs under data/sample_flowlogs/.

    python scripts/generate_sample_data.py            # rewrite the files
    python scripts/generate_sample_data.py --check    # verify the committed files are identical

The records and the writing live in ``labkit.lab.sampledata``; this is only its command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from labkit.lab import sampledata  # noqa: E402 - after the path is set


def main(argv: list[str] | None = None) -> int:
    """Regenerate, or with ``--check`` compare; 0 when the files are as committed."""
    ap = argparse.ArgumentParser(prog="scripts/generate_sample_data.py", description=__doc__)
    ap.add_argument("--check", action="store_true",
                    help="verify the committed files are byte-identical to a fresh build")
    ap.add_argument("--dir", type=Path, default=sampledata.SAMPLE_DIR, help="sample directory")
    args = ap.parse_args(argv)
    if args.check:
        problems = sampledata.check(args.dir)
        for p in problems:
            print(p)
        verdict = "OK, byte-identical" if not problems else (
            f"{len(problems)} difference(s); run python scripts/generate_sample_data.py")
        print("sample data: " + verdict)
        return 1 if problems else 0
    paths = sampledata.generate(args.dir)
    print(f"wrote {len(paths)} files under {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
