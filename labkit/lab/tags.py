"""How the lab marks what it owns: every resource carries these tags, and teardown finds them.

Ownership needs BOTH tags: ``Project=<lab>`` alone is something a user may well
put on their own resources, so it never makes a resource the lab's.
"""

from __future__ import annotations

MANAGED_BY = "labkit"
PROJECT_KEY = "Project"
MANAGED_BY_KEY = "ManagedBy"
ROLE_KEY = "labkit:role"


def lab_tags(lab_name: str, role: str | None = None) -> list[dict]:
    tags = [{"Key": PROJECT_KEY, "Value": lab_name}, {"Key": MANAGED_BY_KEY, "Value": MANAGED_BY}]
    if role:
        tags += [{"Key": ROLE_KEY, "Value": role}, {"Key": "Name", "Value": f"{lab_name}-{role}"}]
    return tags


def tag_spec(resource_type: str, lab_name: str, role: str | None = None) -> list[dict]:
    """TagSpecifications for an EC2 create call: tagged atomically, never left untagged."""
    return [{"ResourceType": resource_type, "Tags": lab_tags(lab_name, role)}]


def lab_filter(lab_name: str, role: str | None = None) -> list[dict]:
    """EC2 describe filters for what the lab owns: both ownership tags (and its role, if given)."""
    filters = [*project_filter(lab_name), {"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY]}]
    if role:
        filters.append({"Name": f"tag:{ROLE_KEY}", "Values": [role]})
    return filters


def project_filter(lab_name: str) -> list[dict]:
    """Everything that carries the lab's Project tag, the lab's own and a user's look-alikes."""
    return [{"Name": f"tag:{PROJECT_KEY}", "Values": [lab_name]}]


def tag_dict(tags: list[dict] | dict | None) -> dict[str, str]:
    """Tags as a plain dict, from EC2/IAM/S3's [{"Key", "Value"}] lists or a Logs tag map."""
    if isinstance(tags, dict):
        return dict(tags)
    return {t.get("Key"): t.get("Value") for t in tags or ()}


def is_managed(tags: list[dict] | dict | None, lab_name: str) -> bool:
    """Whether a resource is this lab's: it carries both Project=<lab> and ManagedBy=labkit."""
    found = tag_dict(tags)
    return found.get(PROJECT_KEY) == lab_name and found.get(MANAGED_BY_KEY) == MANAGED_BY


def tag_value(tags: list[dict] | None, key: str) -> str | None:
    return tag_dict(tags).get(key)
