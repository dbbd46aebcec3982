"""What a notebook may import is labkit's declared public API, and every public name says what it is.

Notebooks import from ``labkit`` only names in ``labkit.__all__``, or from a module reached
through it (``from labkit.flowlogs import LAB_FIELDS``) only names in that module's ``__all__``;
never the build steps, the lab's internals, the analysis modules by path, or the emulator.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import labkit

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _code_cells(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def _public_modules() -> dict[str, types.ModuleType]:
    """labkit and the modules its ``__all__`` names, by the dotted name a notebook could import."""
    found = {"labkit": labkit}
    for name in labkit.__all__:
        value = getattr(labkit, name)
        if isinstance(value, types.ModuleType):
            found[f"labkit.{name}"] = value
    return found


def undeclared_imports(source: str) -> list[str]:
    """Every labkit import in ``source`` that is not a declared public name."""
    public = _public_modules()
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            problems += [f"import {a.name}" for a in node.names
                         if a.name.startswith("labkit.") and a.name not in public]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "labkit":
            module = public.get(node.module)
            if module is None:
                problems.append(f"from {node.module} import ...: not a public module")
                continue
            declared = getattr(module, "__all__", None)
            if declared is None:
                problems.append(f"from {node.module} import ...: the module declares no __all__")
                continue
            problems += [f"from {node.module} import {a.name}" for a in node.names if a.name not in declared]
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_import_only_the_public_api(path):
    problems = [f"cell {i}: {p}" for i, source in _code_cells(path) for p in undeclared_imports(source)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source, bad", [
    ("from labkit import open_lab, charts", []),
    ("from labkit.flowlogs import LAB_FIELDS", []),
    ("from labkit.lab.steps import ensure_vpcs", ["from labkit.lab.steps import ...: not a public module"]),
    ("from labkit import Lab", ["from labkit import Lab"]),
    ("from labkit.flowlogs import _snake", ["from labkit.flowlogs import _snake"]),
    ("import labkit.emulator.process", ["import labkit.emulator.process"]),
    ("from labkit.analysis.widgets import explorer",
     ["from labkit.analysis.widgets import ...: not a public module"]),
])
def test_the_import_check_tells_public_from_private(source, bad):
    assert undeclared_imports(source) == bad


def _attribute_documented(module: types.ModuleType, name: str) -> bool:
    """A constant's documentation: a string right after its assignment, or a ``#:`` / ``#`` line above it.

    The assignment may be in a module the public one re-exports from, so every module of the
    package that assigns ``name`` at top level is looked at.
    """
    package_dir = Path(labkit.__file__).parent
    candidates = [Path(inspect.getsourcefile(module))] + sorted(package_dir.rglob("*.py"))
    for path in candidates:
        text = path.read_text()
        lines = text.splitlines()
        body = ast.parse(text).body
        for index, node in enumerate(body):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            following = body[index + 1] if index + 1 < len(body) else None
            if (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                return True
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if above.startswith("#"):
                return True
    return False


def _public_names() -> list[tuple[str, str]]:
    return [(module_name, name) for module_name, module in _public_modules().items()
            for name in getattr(module, "__all__", [])]


@pytest.mark.parametrize("module_name, name", _public_names(), ids=[f"{m}.{n}" for m, n in _public_names()])
def test_every_public_name_is_documented(module_name, name):
    module = _public_modules()[module_name]
    value = getattr(module, name)
    if isinstance(value, types.ModuleType | type) or callable(value):
        assert inspect.getdoc(value), f"{module_name}.{name} has no docstring"
        assert isinstance(value, types.ModuleType) or value.__doc__ is not None, (
            f"{module_name}.{name} only inherits its docstring")
    else:
        assert _attribute_documented(module, name), (
            f"{module_name}.{name} is a value with no docstring (a string after it) or comment above it")


def test_every_public_module_declares_all():
    missing = [name for name, module in _public_modules().items() if not hasattr(module, "__all__")]
    assert not missing, f"public modules without __all__: {missing}"


def test_lab_methods_are_documented():
    from labkit.lab.lab import Lab

    undocumented = [name for name, member in inspect.getmembers(Lab)
                    if not name.startswith("_") and not (inspect.getdoc(member) or "").strip()]
    assert not undocumented, f"Lab members without a docstring: {undocumented}"


def test_importing_flowlogs_loads_neither_the_aws_sdk_nor_matplotlib():
    code = ("import sys, labkit.flowlogs; "
            "print(sorted(m for m in ('boto3', 'botocore', 'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'steps'"):
        labkit.__getattr__("steps")


def test_lazy_names_are_the_real_objects():
    assert labkit.open_lab is importlib.import_module("labkit.lab.lab").open_lab
    assert labkit.charts is importlib.import_module("labkit.analysis.charts")
