"""What every ensure_* step shares: find by tag or create, say one line, check."""

from __future__ import annotations

from collections.abc import Callable

from labkit.errors import LabError


def find_or_create(lab, what: str, find: Callable[[], list], create: Callable[[], dict]):
    """Return (resource, created). Finds by the lab's tags first, so re-running never duplicates."""
    found = find()
    if len(found) > 1:
        ids = ", ".join(str(_id_of(r)) for r in found)
        raise LabError(f"{what}: found {len(found)} tagged copies ({ids}); run teardown first")
    if found:
        return found[0], False
    lab.require_write(f"creating {what}")
    return create(), True


def say(quiet: bool, label: str, resource_id: str, detail: str, created: bool | None) -> None:
    if quiet:
        return
    verb = "" if created is None else ("created" if created else "exists")
    print(f"{label:<22} {resource_id:<24} {detail:<34} {verb}".rstrip())


def check(condition: bool, message: str) -> None:
    """The check that ends each step: a broken step fails loudly, naming the resource."""
    if not condition:
        raise LabError(f"check failed: {message}")


def _id_of(resource: dict) -> str:
    for key, value in resource.items():
        if key.endswith("Id") and isinstance(value, str):
            return value
    return "?"
