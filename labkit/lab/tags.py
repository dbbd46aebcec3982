"""How the lab marks what it owns: every resource carries these tags, and teardown finds them."""

from __future__ import annotations

MANAGED_BY = "labkit"
ROLE_KEY = "labkit:role"


def lab_tags(lab_name: str, role: str | None = None) -> list[dict]:
    tags = [{"Key": "Project", "Value": lab_name}, {"Key": "ManagedBy", "Value": MANAGED_BY}]
    if role:
        tags += [{"Key": ROLE_KEY, "Value": role}, {"Key": "Name", "Value": f"{lab_name}-{role}"}]
    return tags


def tag_spec(resource_type: str, lab_name: str, role: str | None = None) -> list[dict]:
    """TagSpecifications for an EC2 create call: tagged atomically, never left untagged."""
    return [{"ResourceType": resource_type, "Tags": lab_tags(lab_name, role)}]


def lab_filter(lab_name: str, role: str | None = None) -> list[dict]:
    filters = [{"Name": "tag:Project", "Values": [lab_name]}]
    if role:
        filters.append({"Name": f"tag:{ROLE_KEY}", "Values": [role]})
    return filters


def tag_value(tags: list[dict] | None, key: str) -> str | None:
    for tag in tags or ():
        if tag.get("Key") == key:
            return tag.get("Value")
    return None
