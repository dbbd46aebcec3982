"""The notebook series' wall time and open_lab()'s attach time, against the foundation issue's goals.

Goals (once the venv exists, on this 2-core machine): the whole series in under 90 s, and
open_lab() attaching to a running emulator in under 1 s.

    python benchmarks/bench_series.py
"""

from __future__ import annotations

import os
import statistics
import time

SERIES_GOAL_S = 90.0
ATTACH_GOAL_S = 1.0


def attach_times(repeats: int = 5) -> list[float]:
    import subprocess
    import sys

    from labkit.emulator.process import PrivateEmulator

    with PrivateEmulator() as emulator:
        code = ("import time; t=time.perf_counter(); from labkit import open_lab; "
                "open_lab(quiet=True); print(time.perf_counter()-t)")
        env = dict(os.environ, LABKIT_ENDPOINT=emulator.endpoint)
        return [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                     text=True, check=True).stdout) for _ in range(repeats)]


def main() -> None:
    from labkit.lab.runner import run_series

    attach = statistics.median(attach_times())
    print(f"open_lab() attach (fresh interpreter, imports included), median of 5: {attach:.2f} s; "
          f"goal < {ATTACH_GOAL_S} s: {'PASS' if attach < ATTACH_GOAL_S else 'MISS'} "
          f"(ratio {attach / ATTACH_GOAL_S:.2f})")
    started = time.perf_counter()
    total = run_series(out_dir=None)
    wall = time.perf_counter() - started
    print(f"series: {total:.1f} s ({wall:.1f} s with emulator start/stop); goal < {SERIES_GOAL_S:.0f} s: "
          f"{'PASS' if wall < SERIES_GOAL_S else 'MISS'} (ratio {wall / SERIES_GOAL_S:.2f})")


if __name__ == "__main__":
    main()
