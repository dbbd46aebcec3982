"""Run a notebook in a real JupyterLab, in a real headless Chromium, and check what a person sees.

nbval compares a notebook's saved text outputs; it cannot tell whether the chart, the
widgets or the mermaid diagram actually render in JupyterLab. This harness can:

>>> result = run_notebook_in_lab("notebooks/09_analyse.ipynb", "build/browser/09.png")
>>> result.ok, result.failed
(True, [])

It starts ``jupyter lab`` from this Python environment on a free loopback port (with a
token, no browser, settings that avoid the kernel-select dialog and the news notice, all
in a temporary folder), opens the notebook with Python Playwright driving Debian's
``/usr/bin/chromium`` (never a downloaded browser; ``scripts/install-chromium.sh`` installs
it), waits for the kernel, runs every cell, waits for execution to finish, then checks the
page and saves a screenshot of the whole notebook. JupyterLab, its kernels and the browser
are always stopped afterwards, also on failure.

Checks (pass any subset as ``checks``):

- ``executed``: every code cell ran (an error stops the run, leaving cells without a count);
- ``image``: a matplotlib image rendered (``.jp-RenderedImage img`` with naturalWidth > 0);
- ``widgets``: ipywidgets rendered (slider, dropdown, ... inside an output), none failed;
- ``mermaid``: a mermaid diagram rendered (``.jp-RenderedMermaid`` img or svg);
- ``no_errors``: no error output (no "Traceback" on stderr, no output of type error).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from labkit.emulator.process import alive

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "ALL_CHECKS",
    "DEFAULT_CHECKS",
    "BrowserUnavailable",
    "CheckResult",
    "LabRun",
    "chromium_path",
    "run_notebook_in_lab",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ALL_CHECKS = ("executed", "image", "widgets", "mermaid", "no_errors")
DEFAULT_CHECKS = ("image", "widgets", "mermaid", "no_errors")

#: JupyterLab user settings for the run: no kernel dialog, no news, every cell in the DOM,
#: and no autosave (the run must never write its outputs into the notebook under test).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {
        "autosave": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class BrowserUnavailable(RuntimeError):
    """Chromium (or Playwright) is not installed: the browser check cannot run here."""


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class LabRun:
    """What a run saw: each check's result, the screenshot, and logs for when it failed."""

    notebook: Path
    screenshot: Path | None
    required: tuple[str, ...]
    checks: dict[str, CheckResult] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    lab_log: str = ""
    console_errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> list[str]:
        return [name for name, c in self.checks.items() if c.passed]

    @property
    def failed(self) -> list[str]:
        return [n for n in self.required if n not in self.checks or not self.checks[n].passed]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed

    def summary(self) -> str:
        lines = [f"{self.notebook.name}: {'OK' if self.ok else 'FAILED'} in {self.seconds:.1f}s"]
        if self.timings:
            laps = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
            lines.append(f"  timings: {laps}")
        if self.error:
            lines.append(f"  error: {self.error}")
        for name in ALL_CHECKS:
            if name in self.checks:
                c = self.checks[name]
                mark = "pass" if c.passed else "FAIL"
                need = "" if name in self.required else " (not required)"
                lines.append(f"  {mark} {name}{need}: {c.detail}")
        if self.screenshot:
            lines.append(f"  screenshot: {self.screenshot}")
        if not self.ok:
            if self.console_errors:
                lines.append("  browser console errors:")
                lines.extend(f"    {e[:300]}" for e in self.console_errors[-10:])
            if self.lab_log:
                lines.append("  last lines of the JupyterLab log:")
                lines.extend(f"    {line}" for line in self.lab_log.splitlines()[-25:])
        return "\n".join(lines)


def chromium_path(path: str = CHROMIUM) -> str | None:
    """The Chromium executable if it is installed, else None."""
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


# --------------------------------------------------------------------------- JupyterLab


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    for rel, values in LAB_SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2), encoding="utf-8")


def _children(pid: int) -> list[int]:
    """Every descendant of pid, from /proc (kernels run in sessions of their own)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class _Lab:
    """One JupyterLab server in a temporary home; stop() ends it and its kernels."""

    def __init__(self, root_dir: Path, env: Mapping[str, str] | None, log_path: Path):
        self.tmp = Path(tempfile.mkdtemp(prefix="labkit-lab-"))
        self.port = _free_port()
        self.token = secrets.token_hex(24)
        self.log_path = log_path
        self.base = f"http://127.0.0.1:{self.port}"
        settings = self.tmp / "user-settings"
        _write_settings(settings)
        for d in ("workspaces", "config", "runtime", "data", "ipython"):
            (self.tmp / d).mkdir()
        run_env = dict(os.environ)
        run_env.pop("MPLBACKEND", None)  # the kernel picks its inline backend itself
        run_env.update(
            JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
            JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"),
            JUPYTER_DATA_DIR=str(self.tmp / "data"),
            IPYTHONDIR=str(self.tmp / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        if env:
            run_env.update(env)
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI and these machines run as root
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=root_dir,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.base}/api/status?token={self.token}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter lab did not answer on {self.base} within {timeout:.0f}s")

    def stop(self) -> None:
        pids = _children(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            with contextlib.suppress(urllib.error.URLError, OSError):
                req = urllib.request.Request(
                    f"{self.base}/api/shutdown",
                    method="POST",
                    headers={"Authorization": f"token {self.token}"},
                )
                urllib.request.urlopen(req, timeout=3).close()
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
        for pid in pids:  # kernels the server did not shut down (their own sessions)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# --------------------------------------------------------------------------- the page

_FIND_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
};
"""

_KERNEL_IDLE = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const p = findPanel(path);
  if (!p || !p.context.isReady) return false;
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""
)

_RUN_ALL = (
    "async (path) => {"
    + _FIND_PANEL
    + """
  const app = window.jupyterapp;
  const p = findPanel(path);
  app.shell.activateById(p.id);
  await app.commands.execute('notebook:clear-all-cell-outputs');
  window.__labkitRun = null;
  app.commands.execute('notebook:run-all-cells').then(
    (r) => { window.__labkitRun = {done: true, result: String(r)}; },
    (e) => { window.__labkitRun = {done: true, error: String(e)}; });
  return true;
}"""
)

_RUN_FINISHED = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const p = findPanel(path);
  if (!p || !window.__labkitRun || !window.__labkitRun.done) return false;
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  const prompts = Array.from(p.node.querySelectorAll('.jp-InputPrompt'));
  return !prompts.some((e) => e.textContent.includes('[*]'));
}"""
)

_INSPECT = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const p = findPanel(path);
  const root = p ? p.node : document;
  const all = (sel) => Array.from(root.querySelectorAll(sel));
  const out = {};

  const codeCells = [];
  const errors = [];
  if (p) {
    for (const cell of p.content.model.cells) {
      if (cell.type !== 'code') continue;
      codeCells.push(cell.executionCount);
      for (let i = 0; i < cell.outputs.length; i++) {
        const o = cell.outputs.get(i).toJSON();
        if (o.output_type === 'error') errors.push(`${o.ename}: ${o.evalue}`);
      }
    }
  }
  const notRun = codeCells.filter((c) => c === null || c === undefined).length;
  const running = all('.jp-InputPrompt').filter((e) => e.textContent.includes('[*]')).length;
  out.executed = [codeCells.length > 0 && notRun === 0 && running === 0,
    `${codeCells.length - notRun} of ${codeCells.length} code cells ran`];

  const imgs = all('.jp-RenderedImage img');
  const okImgs = imgs.filter((i) => i.complete && i.naturalWidth > 0);
  out.image = [okImgs.length > 0, `${okImgs.length} of ${imgs.length} images rendered` +
    (okImgs.length ? ` (first ${okImgs[0].naturalWidth}x${okImgs[0].naturalHeight})` : '')];

  const controls = all('.jp-OutputArea-output .jupyter-widgets').filter((e) =>
    e.matches('.widget-slider, .widget-hslider, .widget-dropdown, .widget-toggle-buttons,' +
              ' .widget-text, .widget-image, .widget-html, .widget-label, .widget-button,' +
              ' .widget-checkbox, .widget-box, .widget-output'));
  const outputsText = all('.jp-OutputArea-output').map((e) => e.textContent).join('\\n');
  const broken = /Error displaying widget|Loading widget\\.\\.\\./.test(outputsText);
  const kinds = new Set();
  for (const e of all('.jp-OutputArea-output [class*="widget-"]')) {
    for (const c of e.classList) {
      if (/^widget-(slider|hslider|dropdown|toggle-buttons|text|image|html|button|checkbox)$/
          .test(c)) kinds.add(c);
    }
  }
  out.widgets = [controls.length > 0 && !broken,
    broken ? 'a widget failed to render or is still loading'
           : `${controls.length} widget views (${Array.from(kinds).sort().join(', ')})`];

  const mermaid = all('.jp-RenderedMermaid');
  const drawn = mermaid.filter((m) => {
    const img = m.querySelector('img');
    if (img && img.complete && img.naturalWidth > 0) return true;
    const svg = m.querySelector('svg');
    return !!svg && svg.getBoundingClientRect().width > 0;
  });
  const mermaidWarn = all('.jp-RenderedMermaid.jp-mod-warning').length;
  out.mermaid = [drawn.length > 0 && mermaidWarn === 0,
    `${drawn.length} of ${mermaid.length} mermaid diagrams rendered` +
    (mermaidWarn ? `, ${mermaidWarn} with a syntax error` : '')];

  const stderr = all('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]');
  const tracebacks = stderr.filter((e) => e.textContent.includes('Traceback')).length;
  out.no_errors = [errors.length === 0 && tracebacks === 0,
    errors.length || tracebacks
      ? `${errors.length} error outputs, ${tracebacks} tracebacks: ` +
        errors.slice(0, 3).join(' | ')
      : 'no error output'];
  return out;
}"""
)

_FIT_HEIGHT = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const app = window.jupyterapp;
  app.shell.collapseLeft();
  app.shell.collapseRight();
  const p = findPanel(path);
  if (!p) return document.body.scrollHeight;
  p.content.activeCellIndex = 0;
  p.content.deselectAll();
  const nb = p.content.node;
  for (const e of [nb, nb.querySelector('.jp-WindowedPanel-outer')]) if (e) e.scrollTop = 0;
  const top = nb.getBoundingClientRect().top;
  const inner = nb.querySelector('.jp-WindowedPanel-inner') || nb;
  const status = document.querySelector('#jp-main-statusbar');
  return Math.ceil(top + Math.max(inner.scrollHeight, nb.scrollHeight) + 60 +
                   (status ? status.getBoundingClientRect().height : 0));
}"""
)

_SCROLL_TOP = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const p = findPanel(path);
  if (!p) return;
  const nb = p.content.node;
  for (const e of [nb, nb.querySelector('.jp-WindowedPanel-outer')]) if (e) e.scrollTop = 0;
}"""
)


def _inspect(page, rel_path: str) -> dict[str, CheckResult]:
    raw = page.evaluate(_INSPECT, rel_path)
    return {name: CheckResult(name, bool(ok), str(detail)) for name, (ok, detail) in raw.items()}


def run_notebook_in_lab(
    notebook_path: str | os.PathLike,
    screenshot_path: str | os.PathLike,
    checks: Iterable[str] = DEFAULT_CHECKS,
    *,
    timeout: float = 120.0,
    settle: float = 20.0,
    chromium: str = CHROMIUM,
    env: Mapping[str, str] | None = None,
    width: int = 1280,
    max_height: int = 16000,
    before_screenshot: Callable[[Any], None] | None = None,
) -> LabRun:
    """Open ``notebook_path`` in JupyterLab in headless Chromium, run all cells, check the page.

    ``checks`` are the names (from :data:`ALL_CHECKS`) that must pass for ``result.ok``;
    every check is evaluated and reported anyway. ``timeout`` bounds the whole run (lab
    start, kernel start, execution); ``settle`` is how long to wait, after execution, for
    the outputs to render. ``env`` adds environment variables for JupyterLab and its kernel.
    The screenshot is of the whole notebook (the viewport grows to fit, up to
    ``max_height`` pixels); the JupyterLab log is kept beside it as ``<name>.lab.log``.
    ``before_screenshot``, if given, is called with the Playwright page after the checks
    (to click a widget, say) and before the screenshot.

    Raises :class:`BrowserUnavailable` when Chromium or Playwright is missing; every other
    failure is reported in the returned :class:`LabRun` (``ok`` False, ``error`` set).
    """
    started = time.monotonic()
    notebook = Path(notebook_path).resolve()
    shot = Path(screenshot_path).resolve()
    required = tuple(checks)
    unknown = [c for c in required if c not in ALL_CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {list(ALL_CHECKS)}")
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    if chromium_path(chromium) is None:
        raise BrowserUnavailable(
            f"Chromium not found at {chromium}: install Debian's chromium "
            "(scripts/install-chromium.sh)"
        )
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a test dependency
        msg = "Python Playwright is not installed (pip install playwright)"
        raise BrowserUnavailable(msg) from exc

    result = LabRun(notebook=notebook, screenshot=None, required=required)
    shot.parent.mkdir(parents=True, exist_ok=True)
    lab = _Lab(notebook.parent, env, shot.with_suffix(".lab.log"))
    rel_path = notebook.name

    def remaining() -> float:
        return max(1.0, timeout - (time.monotonic() - started))

    mark = [started]

    def lap(name: str) -> None:
        now = time.monotonic()
        result.timings[name] = now - mark[0]
        mark[0] = now

    step = "opening JupyterLab"
    try:
        lab.wait_ready(min(60.0, remaining()))
        lap("lab start")
        step = "starting Chromium"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS)
            )
            page = None
            step = "opening JupyterLab in Chromium"
            try:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on(
                    "console",
                    lambda m: result.console_errors.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda e: result.console_errors.append(str(e)))
                url = f"{lab.base}/lab/tree/{quote(rel_path)}?reset&token={lab.token}"
                page.goto(url, wait_until="domcontentloaded", timeout=remaining() * 1000)
                page.wait_for_function(
                    "() => window.jupyterapp && window.jupyterapp.shell",
                    timeout=remaining() * 1000,
                )
                page.evaluate("async () => { await window.jupyterapp.restored; }")
                lap("page load")
                step = "waiting for the kernel to be idle"
                page.wait_for_function(_KERNEL_IDLE, arg=rel_path, timeout=remaining() * 1000)
                lap("kernel start")
                step = "running all cells"
                page.evaluate(_RUN_ALL, rel_path)
                page.wait_for_function(
                    _RUN_FINISHED, arg=rel_path, timeout=remaining() * 1000, polling=250
                )
                lap("run")
                run = page.evaluate("() => window.__labkitRun")
                if run and run.get("error"):
                    result.error = f"notebook:run-all-cells failed: {run['error']}"
                step = "waiting for outputs to render"
                deadline = time.monotonic() + settle
                while True:
                    result.checks = _inspect(page, rel_path)
                    if all(c.passed for c in result.checks.values()):
                        break
                    if not all(result.checks[n].passed for n in ("executed", "no_errors")):
                        page.wait_for_timeout(500)  # an error: no point waiting for more
                        result.checks = _inspect(page, rel_path)
                        break
                    if time.monotonic() > deadline:
                        break
                    page.wait_for_timeout(250)
                lap("render")
                if before_screenshot is not None:
                    step = "before_screenshot"
                    before_screenshot(page)
                step = "taking the screenshot"
                height = int(page.evaluate(_FIT_HEIGHT, rel_path))
                height = min(max(height, 900), max_height)
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(600)
                page.evaluate(_SCROLL_TOP, rel_path)  # the resize may have scrolled it
                page.wait_for_timeout(200)
                page.screenshot(path=str(shot), full_page=True)
                result.screenshot = shot
                lap("screenshot")
            except PlaywrightError as exc:
                result.error = f"{step}: {exc}"
                if page is not None:
                    with contextlib.suppress(PlaywrightError):
                        page.screenshot(path=str(shot), full_page=True)
                        result.screenshot = shot
            finally:
                with contextlib.suppress(Exception):
                    browser.close()
    except (RuntimeError, OSError, PlaywrightError) as exc:  # lab or browser did not start
        result.error = f"{step}: {exc}"
    finally:
        lab.stop()
        lap("stop")
        result.lab_log = lab.log_tail()
        result.seconds = time.monotonic() - started
    return result
