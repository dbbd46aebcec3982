"""labkit.logsinsights: imports run one way, and the flow-log field names come from one table."""

from __future__ import annotations

import ast
from pathlib import Path

from labkit.flowlogs.fields import DEFAULT_INSIGHTS_FIELDS

PACKAGE = Path(__file__).resolve().parents[1] / "labkit" / "logsinsights"
PREFIX = "labkit.logsinsights."


def _imports(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n[len(PREFIX):] for n in names if n.startswith(PREFIX) and n[len(PREFIX):] in _modules()}
        found |= {"__init__" for n in names if n == PREFIX[:-1]}
    return found


def _modules() -> set[str]:
    return {p.stem for p in PACKAGE.glob("*.py")}


def test_no_import_cycle_inside_logsinsights():
    graph = {m: _imports(PACKAGE / f"{m}.py") for m in _modules() - {"__init__"}}
    assert all("__init__" not in deps for deps in graph.values()), "modules must not import the package"
    visiting, done = set(), set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in visiting, f"import cycle: {' -> '.join(path + [module])}"
        if module in done:
            return
        visiting.add(module)
        for dep in sorted(graph[module]):
            visit(dep, path + [module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_no_module_spells_the_discovered_flow_log_names():
    """The camelCase names live in labkit.flowlogs' field table only."""
    camel = {name for name in DEFAULT_INSIGHTS_FIELDS if name != name.lower()}
    for path in PACKAGE.glob("*.py"):
        literals = {n.value for n in ast.walk(ast.parse(path.read_text()))
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not literals & camel, f"{path.name} spells {sorted(literals & camel)}"
