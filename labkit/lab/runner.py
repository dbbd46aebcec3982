"""Run the notebook series headless (``make run``), or refresh the stored outputs (``make notebooks``).

Each run gets a fresh private emulator, so the results do not depend on what a
learner's shared emulator holds, and stops it at the end.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def series(only: list[str] | None = None) -> list[Path]:
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
    return found


def execute(path: Path, timeout_s: int = 600):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def run_series(out_dir: Path | None = None, inplace: bool = False,
               only: list[str] | None = None) -> float:
    import nbformat
    from nbconvert import HTMLExporter
    from tqdm import tqdm

    from labkit.emulator.process import PrivateEmulator

    paths = series(only)
    if out_dir:
        (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
        (out_dir / "html").mkdir(parents=True, exist_ok=True)
    timings: list[tuple[str, float]] = []
    started = time.monotonic()
    with PrivateEmulator() as emulator:
        previous = os.environ.get("LABKIT_ENDPOINT")
        os.environ["LABKIT_ENDPOINT"] = emulator.endpoint
        try:
            for path in tqdm(paths, desc="notebooks", unit="nb"):
                t0 = time.monotonic()
                notebook = execute(path)
                timings.append((path.name, time.monotonic() - t0))
                if inplace:
                    nbformat.write(notebook, path)
                if out_dir:
                    nbformat.write(notebook, out_dir / "notebooks" / path.name)
                    html, _ = HTMLExporter().from_notebook_node(notebook)
                    (out_dir / "html" / path.with_suffix(".html").name).write_text(html)
        finally:
            if previous is None:
                os.environ.pop("LABKIT_ENDPOINT", None)
            else:
                os.environ["LABKIT_ENDPOINT"] = previous
    total = time.monotonic() - started
    for name, seconds in timings:
        print(f"  {seconds:6.1f} s  {name}")
    print(f"  {total:6.1f} s  total ({len(timings)} notebooks)")
    return total
