"""Every notebook has its navigation line at top and bottom, and every link leads somewhere real."""

from __future__ import annotations

import re

import nbformat
import pytest

from labkit.lab.runner import NOTEBOOKS, series

LINK = re.compile(r"\]\(([^)#]+\.ipynb)\)")


@pytest.mark.parametrize("path", series(), ids=lambda p: p.name)
def test_navigation_at_top_and_bottom(path):
    cells = nbformat.read(path, as_version=4).cells
    for cell in (cells[0], cells[-1]):
        assert cell.cell_type == "markdown"
        assert "[Contents](index.ipynb)" in cell.source
        for target in LINK.findall(cell.source):
            assert (NOTEBOOKS / target).is_file(), f"{path.name} links to missing {target}"


def test_index_lists_every_notebook_of_the_series():
    index = nbformat.read(NOTEBOOKS / "index.ipynb", as_version=4)
    listed = list(dict.fromkeys(LINK.findall("".join(c.source for c in index.cells))))
    assert listed == [p.name for p in series()]


@pytest.mark.parametrize("path", series(), ids=lambda p: p.name)
def test_every_code_cell_has_stored_outputs_or_none_expected(path):
    # nbval compares nothing in a notebook stored without outputs: the series must carry a run's.
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert sum(bool(c.outputs) for c in cells) >= len(cells) // 2
