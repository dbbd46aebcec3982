"""The walls of ARCHITECTURE.md, checked from the code's own imports (those inside functions too).

* ``flowlogs``, ``netmodel`` and ``logsinsights`` are pure: they import nothing of labkit but each
  other (downwards only) and ``labkit.errors``, and no AWS SDK;
* the emulator imports only the pure layers and ``labkit.errors``: never the lab, the analysis, nor
  the package's face (``labkit/__init__``);
* the lab and the analysis reach the emulator only through its launcher, ``labkit.emulator.process``;
* read code (``labkit.analysis``) never imports the build steps;
* no module imports itself back through any chain of imports;
* the package holds the product only: no test harness, no data-generator command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "labkit"

# What each pure layer may import from labkit besides itself.
PURE = {
    "labkit.flowlogs": {"labkit.errors"},
    "labkit.netmodel": {"labkit.errors"},
    "labkit.logsinsights": {"labkit.errors", "labkit.flowlogs"},
}

SDKS = ("boto3", "botocore", "moto")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(name: str) -> str:
    """The module an imported name stands for: ``labkit.lab.tags.lab_filter`` -> ``labkit.lab.tags``."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str) -> set[str]:
    """Every module (labkit's resolved, others by their top name) that ``module`` imports, anywhere."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] if base.startswith("labkit") else [base]
        else:
            continue
        for name in names:
            if name == "labkit" or name.startswith("labkit."):
                target = _resolve(name)
                if target and target != module:
                    found.add(target)
            else:
                found.add(name.split(".")[0])
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _in(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


@pytest.mark.parametrize("layer", sorted(PURE))
def test_pure_layers_import_only_below_them(layer):
    allowed = PURE[layer]
    offences = []
    for module, targets in GRAPH.items():
        if not _in(module, layer):
            continue
        for target in targets:
            if target.startswith("labkit"):
                if not (_in(target, layer) or any(_in(target, a) for a in allowed)):
                    offences.append(f"{module} -> {target}")
            elif target in SDKS:
                offences.append(f"{module} -> {target} (an AWS SDK in a pure layer)")
    assert not offences, "pure layer imports from above it:\n" + "\n".join(offences)


def test_emulator_uses_only_the_pure_layers():
    allowed = {"labkit.errors", "labkit.flowlogs", "labkit.netmodel", "labkit.logsinsights"}
    offences = [f"{module} -> {target}"
                for module, targets in GRAPH.items() if _in(module, "labkit.emulator")
                for target in targets
                if target.startswith("labkit") and not _in(target, "labkit.emulator")
                and not any(_in(target, a) for a in allowed)]
    assert not offences, "the emulator reaches above the pure layers:\n" + "\n".join(offences)


def test_lab_and_analysis_reach_the_emulator_only_through_its_launcher():
    offences = [f"{module} -> {target}"
                for module, targets in GRAPH.items()
                if _in(module, "labkit.lab") or _in(module, "labkit.analysis") or module == "labkit.cli"
                for target in targets
                if _in(target, "labkit.emulator") and target != "labkit.emulator.process"
                and target != "labkit.emulator"]
    assert not offences, "\n".join(offences)


def test_read_code_never_imports_build_steps():
    offences = [f"{module} -> {target}"
                for module, targets in GRAPH.items() if _in(module, "labkit.analysis")
                for target in targets if _in(target, "labkit.lab.steps")]
    assert not offences, "analysis imports build steps:\n" + "\n".join(offences)


def test_no_import_cycles():
    """Tarjan's strongly connected components over labkit's modules: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in GRAPH:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_package_holds_the_product_only():
    assert not (PACKAGE / "browser.py").exists(), "the browser harness belongs under tests/"
    offenders = [m for m, p in MODULES.items() if "argparse" in GRAPH[m] and m not in {
        "labkit.cli", "labkit.emulator.__main__"}]
    assert not offenders, f"command lines outside labkit.cli / python -m labkit.emulator: {offenders}"


def test_the_checker_sees_imports_inside_functions():
    # The walls are only as good as the graph: a function-level import must count.
    assert "labkit.lab.lab" in GRAPH["labkit.lab"]
    assert any(_in(t, "labkit.analysis") for t in GRAPH["labkit.lab.lab"]), (
        "Lab's methods import analysis inside functions; the graph must see it")


def test_one_module_reaches_moto():
    """The emulator's one moto adapter is the only code that imports moto or touches its state."""
    importers = sorted(m for m, targets in GRAPH.items() if "moto" in targets)
    assert importers == ["labkit.emulator.moto_adapter"], importers
