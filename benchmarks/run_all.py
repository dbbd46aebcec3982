"""Run every benchmark in turn (``make bench``). Each prints its own ratios against its goals."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("bench_series.py", "bench_parser.py", "bench_insights.py", "bench_delivery.py",
              "bench_scale.py", "bench_load.py")
for name in BENCHMARKS:
    path = HERE / name
    if path.exists():
        print(f"\n=== {name}", flush=True)
        subprocess.run([sys.executable, str(path), *sys.argv[1:]], check=False)
