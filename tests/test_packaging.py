"""environment.yml (conda) and pyproject.toml (pip) must pin the same packages to the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(spec: str) -> str:
    return re.split(r"[\[=<>! ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def _pins_from_pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values()
                                       for s in extra]
    pins = {}
    for spec in specs:
        assert "==" in spec, f"pyproject.toml: {spec!r} is not pinned with =="
        pins[_name(spec)] = spec.split("==")[1].strip()
    return pins


def _pins_from_environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                pins[_name(spec)] = spec.split("==")[1].strip()
        elif "=" in dep and not dep.startswith("python="):
            name, version = dep.split("=", 1)
            pins[_name(name)] = version.strip()
    return pins


def test_environment_yml_matches_pyproject():
    assert _pins_from_environment() == _pins_from_pyproject()


def test_every_dependency_is_pinned_exactly():
    assert all(re.fullmatch(r"\d+(\.\d+)*", v) for v in _pins_from_pyproject().values())
