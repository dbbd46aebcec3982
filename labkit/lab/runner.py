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


def start_kernel(cwd: Path):
    """A Python kernel, started now: it loads while the previous notebook still runs."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    kernel = AsyncKernelManager(kernel_name="python3")
    run_sync(kernel.start_kernel)(cwd=str(cwd))
    return kernel


def execute(path: Path, timeout_s: int = 600, kernel=None):
    """Run the notebook at ``path`` top to bottom (in ``kernel``, if given, which it then shuts down)."""
    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3", km=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        if kernel is not None:
            run_sync(kernel.shutdown_kernel)(now=True)
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
        # Notebooks run one after another (each builds on the lab the previous one left), but
        # the next one's kernel starts while this one runs: a second or two each, on the other core.
        kernel = None
        try:
            kernel = start_kernel(NOTEBOOKS) if paths else None
            for number, path in enumerate(tqdm(paths, desc="notebooks", unit="nb")):
                t0 = time.monotonic()
                this, kernel = kernel, (start_kernel(NOTEBOOKS) if number + 1 < len(paths) else None)
                notebook = execute(path, kernel=this)
                timings.append((path.name, time.monotonic() - t0))
                if inplace:
                    nbformat.write(notebook, path)
                if out_dir:
                    nbformat.write(notebook, out_dir / "notebooks" / path.name)
                    html, _ = HTMLExporter().from_notebook_node(notebook)
                    (out_dir / "html" / path.with_suffix(".html").name).write_text(html)
        finally:
            if kernel is not None:  # a notebook failed: the next one's kernel is not needed
                from jupyter_core.utils import run_sync

                run_sync(kernel.shutdown_kernel)(now=True)
            if previous is None:
                os.environ.pop("LABKIT_ENDPOINT", None)
            else:
                os.environ["LABKIT_ENDPOINT"] = previous
    total = time.monotonic() - started
    for name, seconds in timings:
        print(f"  {seconds:6.1f} s  {name}")
    print(f"  {total:6.1f} s  total ({len(timings)} notebooks)")
    return total
