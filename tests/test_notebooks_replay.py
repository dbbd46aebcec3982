"""The analysis notebooks run in replay mode: sample records only, no emulator, no account."""

from __future__ import annotations

import pytest

from labkit.lab.runner import NOTEBOOKS, execute

ANALYSIS = ["08_flow_logs_in_pandas.ipynb", "09_logs_insights.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ANALYSIS)
def test_analysis_notebook_runs_on_the_sample_data(name, monkeypatch):
    monkeypatch.setenv("LABKIT_MODE", "replay")
    # Nothing answers here: any AWS call would fail the notebook.
    monkeypatch.setenv("LABKIT_ENDPOINT", "http://127.0.0.1:9")
    notebook = execute(NOTEBOOKS / name)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "replay of data/sample_flowlogs" in text
    assert "same as pandas: False" not in text
