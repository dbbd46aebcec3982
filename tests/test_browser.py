"""The notebooks as a person sees them: JupyterLab in headless Chromium (labkit.browser).

The browser test builds a small notebook (a mermaid diagram, the accept/reject chart, the
explorer widget), runs it in a real JupyterLab driven by Debian's /usr/bin/chromium and
checks that the chart, the widgets and the diagram rendered with no error. It is skipped
where Chromium is missing, except under CI (the CI variable set), where it fails instead.
Its screenshot is kept in build/browser/ for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from tests import browser_harness as browser

pytestmark = pytest.mark.serial  # a browser and a JupyterLab server are heavy: alone, not beside other tests

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "browser"
NO_CHROMIUM = (
    "Chromium not found at /usr/bin/chromium: install Debian's chromium "
    "(scripts/install-chromium.sh) to run the browser test"
)

MERMAID_MD = """# Browser check

The lab's two VPCs, peered:

```mermaid
graph LR
    A["VPC 1 (10.0.0.0/16)"] -- peering --> B["VPC 2 (192.168.0.0/16)"]
    A --> C["instance 10.0.1.10"]
    B --> D["instance 192.168.1.20"]
    E["Flow logs"] --> F["CloudWatch Logs"]
```
"""

FRAME_CODE = """\
import pandas as pd
from labkit.analysis import charts
from labkit.analysis import widgets

t0 = pd.Timestamp("2025-03-01 10:00", tz="UTC")
rows = (
    [("eni-a", "10.0.1.10", "192.168.1.20", 1, 0, 60, "ACCEPT", m) for m in range(10)]
    + [("eni-b", "10.0.1.10", "192.168.1.20", 6, 8080, 2, "REJECT", m) for m in (3, 4, 5)]
    + [("eni-a", f"198.51.100.{i}", "10.0.1.10", 6, p, 1, "REJECT", i)
       for i, p in enumerate([22, 22, 23, 3389, 445, 22, 56121])]
)
cols = ["interface_id", "srcaddr", "dstaddr", "protocol", "dstport", "packets", "action", "m"]
df = pd.DataFrame(rows, columns=cols)
df["protocol_name"] = df["protocol"].map({1: "ICMP", 6: "TCP"}).astype("string")
df["protocol"] = df["protocol"].astype("category")
df["dstport"] = df["dstport"].astype("Int64")
df["packets"] = df["packets"].astype("Int64")
df["bytes"] = (df["packets"] * 84).astype("Int64")
df["start"] = t0 + pd.to_timedelta(df.pop("m"), unit="min")
df["action"] = df["action"].astype("category")
df["log_status"] = pd.Categorical(["OK"] * len(df))
charts.accept_reject_pie(df)"""

EXPLORER_CODE = "widgets.explorer(df)"


def make_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(MERMAID_MD),
        nbformat.v4.new_code_cell(FRAME_CODE),
        nbformat.v4.new_code_cell(EXPLORER_CODE),
    ]
    nbformat.write(nb, path)
    return path


def require_chromium() -> None:
    if browser.chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail(NO_CHROMIUM + " (CI is set: the browser test must run)")
        pytest.skip(NO_CHROMIUM)


@pytest.mark.browser
@pytest.mark.timeout(200)
def test_analysis_notebook_renders_in_jupyterlab(tmp_path, fresh_emulator):
    """Notebook 08, as a learner opens it: the pie chart, the explorer widgets, the mermaid diagram."""
    require_chromium()
    notebook = tmp_path / "08_flow_logs_in_pandas.ipynb"
    shutil.copy(REPO / "notebooks" / notebook.name, notebook)
    shot = BUILD / "08_flow_logs_in_pandas.png"
    shot.unlink(missing_ok=True)
    result = browser.run_notebook_in_lab(
        notebook, shot, checks=browser.ALL_CHECKS, timeout=180,
        env={"LABKIT_ENDPOINT": fresh_emulator.endpoint, "LABKIT_STATE_DIR": str(tmp_path / "state")},
    )
    print(result.summary())
    assert result.ok, result.summary()
    assert set(result.passed) == set(browser.ALL_CHECKS)
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert shot.resolve().is_relative_to(REPO / "build")


@pytest.mark.browser
@pytest.mark.timeout(150)
def test_a_failing_cell_is_reported(tmp_path):
    require_chromium()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 / 0"), nbformat.v4.new_code_cell("print('after')")]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)

    result = browser.run_notebook_in_lab(
        path, BUILD / "broken.png", checks=("executed", "no_errors"), timeout=90
    )

    assert not result.ok
    assert set(result.failed) == {"executed", "no_errors"}
    assert "ZeroDivisionError" in result.checks["no_errors"].detail
    assert "FAILED" in result.summary()


# ------------------------------------------------------------------ no browser needed


def test_unknown_check_is_refused(tmp_path):
    path = make_notebook(tmp_path / "n.ipynb")
    with pytest.raises(ValueError, match="unknown check"):
        browser.run_notebook_in_lab(path, tmp_path / "n.png", checks=["pretty"])


def test_missing_notebook(tmp_path):
    with pytest.raises(FileNotFoundError):
        browser.run_notebook_in_lab(tmp_path / "nope.ipynb", tmp_path / "n.png")


def test_missing_chromium_is_a_clear_error(tmp_path):
    path = make_notebook(tmp_path / "n.ipynb")
    with pytest.raises(browser.BrowserUnavailable, match="install Debian's chromium"):
        browser.run_notebook_in_lab(path, tmp_path / "n.png", chromium="/nonexistent/chromium")


def test_missing_chromium_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(browser, "chromium_path", lambda path=browser.CHROMIUM: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="scripts/install-chromium.sh"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_chromium()


def test_summary_lists_checks(tmp_path):
    run = browser.LabRun(notebook=tmp_path / "x.ipynb", screenshot=None, required=("image",))
    run.checks = {
        "image": browser.CheckResult("image", True, "1 of 1 images rendered"),
        "mermaid": browser.CheckResult("mermaid", False, "0 of 0 mermaid diagrams rendered"),
    }
    assert run.ok and run.passed == ["image"] and run.failed == []
    text = run.summary()
    assert "pass image" in text and "FAIL mermaid (not required)" in text
