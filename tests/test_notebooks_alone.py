"""Every notebook runs alone on a fresh emulator, and running the series twice creates nothing new.

nbval runs the series in order (``make test-notebooks``); these tests cover what it cannot: a
learner who opens notebook N first, and one who runs everything again. Each notebook runs in
its own kernel through ``labkit.lab.runner.execute``; the kernel inherits ``LABKIT_ENDPOINT`` (set
by the ``fresh_emulator`` fixture) when it starts, so it talks to the test's private emulator.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labkit import open_lab
from labkit.lab.runner import execute, series

# Collected from the glob, so that notebooks added later are covered without editing this file.
NOTEBOOKS = series()
TEARDOWN = [p for p in NOTEBOOKS if "teardown" in p.stem]
BUILDING = [p for p in NOTEBOOKS if p not in TEARDOWN]

pytestmark = pytest.mark.slow


def _problems(notebook) -> list[str]:
    """Error outputs (outside cells meant to raise) and tracebacks written to stderr."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index}: {output.ename}: {output.evalue}")
            elif (output.output_type == "stream" and output.name == "stderr"
                  and "Traceback" in output.text):
                found.append(f"cell {index}: traceback on stderr: {output.text[-500:]}")
    return found


def _counts() -> dict[str, int]:
    """Tagged resources in the test's emulator, by kind (the same inventory teardown uses)."""
    return open_lab(quiet=True).inventory().groupby("kind").size().to_dict()


def _run(path: Path):
    notebook = execute(path)
    assert _problems(notebook) == [], f"{path.name} has errors"
    return notebook


def _opened_at_step(notebook) -> int:
    """The step of the notebook's ``open_lab(step=N)`` call (0 when it opens the lab as it is)."""
    for cell in notebook.cells:
        found = re.search(r"open_lab\(\s*(?:step=)?(\d+)", cell.source)
        if cell.cell_type == "code" and found:
            return int(found.group(1))
    return 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_alone_on_a_fresh_emulator(fresh_emulator, path):
    assert _counts() == {}, "the emulator was not reset"
    notebook = _run(path)
    counts = _counts()
    if path in TEARDOWN:
        assert counts == {}, f"{path.name} left tagged resources: {counts}"
    elif _opened_at_step(notebook) >= 1:
        # It built the earlier notebooks' state itself, in this test's emulator (the kernel
        # inherited LABKIT_ENDPOINT): a learner can open it first.
        assert counts.get("vpc") == 2, f"{path.name} alone did not build the lab: {counts}"


def test_running_the_series_twice_creates_nothing_new(fresh_emulator):
    assert BUILDING, "no notebooks found"
    for path in BUILDING:
        _run(path)
    first = _counts()
    assert first.get("vpc") == 2, first
    for path in BUILDING:
        _run(path)
    assert _counts() == first
