"""Systems Manager's managed nodes: the lab's instances as ``DescribeInstanceInformation`` lists them.

Offline, every instance is a managed node once it runs (the emulator's shell is Amazon Linux 2023's,
with SSM Agent and the permissions it needs): ``PingStatus`` is ``Online`` while it runs and
``ConnectionLost`` when stopped; pending and terminated instances are not listed. On AWS a node also
needs the agent to reach Systems Manager with an instance profile that allows it. Run Command targets
(``SendCommand`` with ``Targets``) resolve against the same nodes.

Filters, from the ``InstanceInformation`` and ``InstanceInformationStringFilter`` data types of the
Systems Manager API reference: ``InstanceIds``, ``AgentVersion``, ``PingStatus``, ``PlatformTypes``,
``ResourceType``, ``SourceIds``, ``SourceTypes``, ``ActivationIds``, ``IamRole``, ``AssociationStatus``,
``tag-key`` and ``tag:<key>``; any other key is ``InvalidFilterKey``. An instance id that names no
instance is ``InvalidInstanceId``, as the reference says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labkit.emulator import ec2_topology, paging
from labkit.emulator.awsproto import AwsError, Call, json_body
from labkit.emulator.hooks import before

AGENT_VERSION = "3.3.1142.0"  # a released SSM Agent version (the offline nodes run no agent)
PLATFORM = {"PlatformType": "Linux", "PlatformName": "Amazon Linux", "PlatformVersion": "2023"}
RESOURCE_TYPE = "EC2Instance"
SOURCE_TYPE = "AWS::EC2::Instance"
_PING = {"running": "Online", "stopping": "ConnectionLost", "stopped": "ConnectionLost"}


@dataclass(frozen=True)
class Node:
    """One instance as Systems Manager sees it."""

    instance_id: str
    state: str
    private_ip: str
    dns_name: str
    launch_time: float
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def ping_status(self) -> str:
        return _PING[self.state]


def all_instances(region: str) -> list[Node]:
    """Every instance of the region, whatever its state, in DescribeInstances' order."""
    answer = ec2_topology.describe(region, "DescribeInstances")
    return [
        Node(i["InstanceId"], i["State"]["Name"], i.get("PrivateIpAddress", ""), i.get("PrivateDnsName", ""),
             i["LaunchTime"].timestamp(), {t["Key"]: t["Value"] for t in i.get("Tags", [])})
        for reservation in answer.get("Reservations", []) for i in reservation["Instances"]
    ]  # fmt: skip


def managed_nodes(region: str) -> list[Node]:
    """The instances that are managed nodes (see the module docstring)."""
    return [n for n in all_instances(region) if n.state in _PING]


def information(node: Node) -> dict:
    """The node's ``InstanceInformation`` (Systems Manager API reference, data type InstanceInformation)."""
    online = node.ping_status == "Online"
    return {
        "InstanceId": node.instance_id,
        "PingStatus": node.ping_status,
        "LastPingDateTime": time.time() if online else node.launch_time,
        "AgentVersion": AGENT_VERSION,
        "IsLatestVersion": True,
        **PLATFORM,
        "ResourceType": RESOURCE_TYPE,
        "IPAddress": node.private_ip,
        "ComputerName": node.dns_name,
        "SourceId": node.instance_id,
        "SourceType": SOURCE_TYPE,
    }


# What each filter key reads from a node: the set of its values for that key.
_KEYS: dict[str, Callable[[Node], set[str]]] = {
    "InstanceIds": lambda n: {n.instance_id},
    "SourceIds": lambda n: {n.instance_id},
    "AgentVersion": lambda n: {AGENT_VERSION},
    "PingStatus": lambda n: {n.ping_status},
    "PlatformTypes": lambda n: {PLATFORM["PlatformType"]},
    "ResourceType": lambda n: {RESOURCE_TYPE},
    "SourceTypes": lambda n: {SOURCE_TYPE},
    "ActivationIds": lambda n: set(),  # only hybrid nodes have one
    "IamRole": lambda n: set(),  # "This call does not return the IAM role for EC2 instances"
    "AssociationStatus": lambda n: set(),  # the lab makes no State Manager associations
    "tag-key": lambda n: set(n.tags),
}


def values_of(node: Node, key: str) -> set[str]:
    """The node's values for a filter or target key (``InstanceIds``, ``tag:<key>``, ``tag-key``, ...)."""
    if key.startswith("tag:"):
        tag = key[4:]
        return {node.tags[tag]} if tag in node.tags else set()
    return _KEYS[key](node)


def _filters(params: dict) -> list[tuple[str, set[str]]]:
    found = [(f.get("key", ""), set(f.get("valueSet") or []))
             for f in params.get("InstanceInformationFilterList") or []]
    found += [(f.get("Key", ""), set(f.get("Values") or [])) for f in params.get("Filters") or []]
    for key, _ in found:
        if key not in _KEYS and not (key.startswith("tag:") and len(key) > 4):
            raise AwsError("InvalidFilterKey", f"The specified filter key is not valid: {key}")
    return found


@before("ssm", "DescribeInstanceInformation")
def describe_instance_information(call: Call):
    filters = _filters(call.params)
    instances = all_instances(call.region)
    known = {n.instance_id for n in instances}
    asked = set().union(*(values for key, values in filters if key == "InstanceIds"))
    if asked - known:
        raise AwsError("InvalidInstanceId", f"Instance ids {sorted(asked - known)} are not valid.")
    nodes = [n for n in instances if n.state in _PING
             and all(values_of(n, key) & values for key, values in filters)]
    shown, token = paging.page([information(n) for n in nodes], call.params.get("NextToken"),
                               int(call.params.get("MaxResults") or 50))
    return json_body({"InstanceInformationList": shown, **({"NextToken": token} if token else {})})
