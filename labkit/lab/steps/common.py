"""What every ensure_* step shares: find by tag or create, say one line, check."""

from __future__ import annotations

from collections.abc import Callable

from labkit.errors import LabError
from labkit.lab.locking import lab_lock


def find_or_create(lab, what: str, find: Callable[[], list], create: Callable[[], dict]):
    """Return (resource, created). Finds by the lab's tags first, so re-running never duplicates.

    The lab's lock is held from the find to the create, so another process opening the same
    lab at once waits and then finds this one's resource instead of making a second.
    """
    with lab_lock(lab.name):
        found = find()
        if len(found) > 1:
            ids = ", ".join(_id_of(r) for r in found)
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


# Keys such as OwnerId also end in "Id", and a subnet names its VPC too: the resource's own id is
# the first of these it carries (the most specific kind first).
_OWN_ID_KEYS = ("FlowLogId", "InstanceId", "NetworkInterfaceId", "VpcPeeringConnectionId", "RouteTableId",
                "GroupId", "InternetGatewayId", "SubnetId", "VpcId")


def _id_of(resource: dict) -> str:
    return next((str(resource[k]) for k in _OWN_ID_KEYS if k in resource), "?")
