"""Every flow-log field, named once: versions 2 to 10 of the VPC table, and Transit Gateway's.

One row per field: the AWS name used in ``${...}`` formats and S3 header lines, the
snake_case column name (also the Parquet column name AWS uses), the camelCase name Logs
Insights gives it, the version that introduced it, the kind of value, the Parquet type
AWS writes it with, and what it means. Everything else in ``labkit.flowlogs`` (parser,
formats, writer, sample data) and the rest of labkit read this table.

Kinds:

* ``int32`` / ``int64``: nullable integers (AWS Parquet types INT_32 / INT_64).
* ``time``: Unix seconds, turned into a tz-aware UTC timestamp (Parquet INT_64).
* ``category``: a small documented set of values (action, log-status, type,
  flow-direction): a pandas categorical whose categories start with ``CATEGORIES``.
* ``string``: text, ids (account ids keep their leading zeros), addresses.

Version 6 fields belong to Transit Gateway flow logs; they are listed so that such
records parse with the right types. Sources: the Amazon VPC User Guide pages
"Flow log records" (Available fields), "Flow log record examples" and "VPC encryption
controls" (``encryption-status``), the Transit Gateway Flow Logs guide, and the CloudWatch
Logs User Guide page "Supported logs and discovered fields" (the Insights names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One flow-log field.

    ``aws_name`` is the name in ``${...}`` formats and S3 header lines, ``column`` the
    snake_case DataFrame (and Parquet) column, ``insights`` the camelCase name Logs
    Insights gives it, ``version`` the flow-log version that introduced it, ``kind`` how
    its values are typed, ``parquet`` the type AWS writes it with in Parquet objects.
    """

    aws_name: str
    column: str
    insights: str
    version: int
    kind: str
    parquet: str
    meaning: str


_ROWS: list[tuple[str, int, str, str]] = [
    # --- version 2: the default format, in this order ---------------------------------
    ("version", 2, "int32", "Flow-log version: the highest version among the chosen fields"),
    ("account-id", 2, "string", "AWS account that owns the network interface (12 digits)"),
    ("interface-id", 2, "string", "Network interface (ENI) the traffic is recorded for"),
    ("srcaddr", 2, "string", "Source address (the ENI's own address for outgoing traffic)"),
    ("dstaddr", 2, "string", "Destination address (the ENI's own address for incoming)"),
    ("srcport", 2, "int32", "Source port (0 for ICMP)"),
    ("dstport", 2, "int32", "Destination port (0 for ICMP)"),
    ("protocol", 2, "int32", "IANA protocol number: 1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6"),
    ("packets", 2, "int64", "Packets transferred in the aggregation window"),
    ("bytes", 2, "int64", "Bytes transferred in the aggregation window"),
    ("start", 2, "time", "First packet of the flow in the window (Unix seconds)"),
    ("end", 2, "time", "Last packet of the flow in the window (Unix seconds)"),
    ("action", 2, "category", "ACCEPT or REJECT (by security group or network ACL)"),
    ("log-status", 2, "category", "OK, NODATA (no traffic) or SKIPDATA (records skipped)"),
    # --- version 3 --------------------------------------------------------------------
    ("vpc-id", 3, "string", "VPC of the network interface"),
    ("subnet-id", 3, "string", "Subnet of the network interface"),
    ("instance-id", 3, "string", "Instance using the ENI; '-' for requester-managed ENIs"),
    ("tcp-flags", 3, "int32", "OR of FIN=1, SYN=2, RST=4, SYN-ACK=18 seen in the window"),
    ("type", 3, "category", "IPv4, IPv6 or EFA"),
    ("pkt-srcaddr", 3, "string", "Packet-level (original) source address"),
    ("pkt-dstaddr", 3, "string", "Packet-level (original) destination address"),
    # --- version 4 --------------------------------------------------------------------
    ("region", 4, "string", "Region of the network interface"),
    ("az-id", 4, "string", "Availability Zone id of the network interface"),
    ("sublocation-type", 4, "string", "wavelength, outpost or localzone; '-' otherwise"),
    ("sublocation-id", 4, "string", "Id of the sublocation; '-' otherwise"),
    # --- version 5 --------------------------------------------------------------------
    ("pkt-src-aws-service", 5, "string", "AWS service of pkt-srcaddr (S3, EC2, ...)"),
    ("pkt-dst-aws-service", 5, "string", "AWS service of pkt-dstaddr"),
    ("flow-direction", 5, "category", "ingress or egress, relative to the interface"),
    ("traffic-path", 5, "int32", "Egress path: 1 same VPC ... 8 internet gateway (Nitro)"),
    # --- version 6: Transit Gateway flow logs -----------------------------------------
    ("resource-type", 6, "string", "Transit gateway resource type (TransitGateway, ...)"),
    ("tgw-id", 6, "string", "Transit gateway id"),
    ("tgw-attachment-id", 6, "string", "Transit gateway attachment id"),
    ("tgw-src-vpc-account-id", 6, "string", "Account of the source VPC"),
    ("tgw-dst-vpc-account-id", 6, "string", "Account of the destination VPC"),
    ("tgw-src-vpc-id", 6, "string", "Source VPC id"),
    ("tgw-dst-vpc-id", 6, "string", "Destination VPC id"),
    ("tgw-src-subnet-id", 6, "string", "Source subnet id"),
    ("tgw-dst-subnet-id", 6, "string", "Destination subnet id"),
    ("tgw-src-eni", 6, "string", "Source ENI of the attachment"),
    ("tgw-dst-eni", 6, "string", "Destination ENI of the attachment"),
    ("tgw-src-az-id", 6, "string", "Source Availability Zone id"),
    ("tgw-dst-az-id", 6, "string", "Destination Availability Zone id"),
    ("tgw-pair-attachment-id", 6, "string", "Attachment on the other side of the flow"),
    ("packets-lost-no-route", 6, "int64", "Packets lost: no route"),
    ("packets-lost-blackhole", 6, "int64", "Packets lost: blackhole route"),
    ("packets-lost-mtu-exceeded", 6, "int64", "Packets lost: MTU exceeded"),
    ("packets-lost-ttl-expired", 6, "int64", "Packets lost: TTL expired"),
    # --- version 7: Amazon ECS --------------------------------------------------------
    ("ecs-cluster-arn", 7, "string", "ARN of the ECS cluster of the task"),
    ("ecs-cluster-name", 7, "string", "Name of the ECS cluster"),
    ("ecs-container-instance-arn", 7, "string", "ARN of the ECS container instance"),
    ("ecs-container-instance-id", 7, "string", "Id of the ECS container instance"),
    ("ecs-container-id", 7, "string", "Docker id of the (first) container of the task"),
    ("ecs-second-container-id", 7, "string", "Docker id of a second container"),
    ("ecs-service-name", 7, "string", "ECS service of the task"),
    ("ecs-task-definition-arn", 7, "string", "ARN of the task definition"),
    ("ecs-task-arn", 7, "string", "ARN of the ECS task"),
    ("ecs-task-id", 7, "string", "Id of the ECS task"),
    # --- version 8 --------------------------------------------------------------------
    ("reject-reason", 8, "string", "Why traffic was rejected: BPA (VPC Block Public Access)"),
    # --- versions 9 and 10 ------------------------------------------------------------
    ("resource-id", 9, "string", "Resource the traffic belongs to (a regional NAT gateway's id)"),
    ("encryption-status", 10, "int32",
     "VPC encryption controls: 0 clear text, 1 Nitro-encrypted, 2 TLS (port 443), 3 both"),
]


def _snake(aws_name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", aws_name.strip()).strip("_").lower()


# Logs Insights' discovered names for the default format ("Supported logs and discovered
# fields"): camelCase, with the address/port words split and start/end -> startTime/endTime.
_INSIGHTS_WORDS = {"srcaddr": "SrcAddr", "dstaddr": "DstAddr", "srcport": "SrcPort", "dstport": "DstPort"}
_INSIGHTS_SPECIAL = {"start": "startTime", "end": "endTime"}


def _insights(aws_name: str) -> str:
    if aws_name in _INSIGHTS_SPECIAL:
        return _INSIGHTS_SPECIAL[aws_name]
    words = [_INSIGHTS_WORDS.get(w, w.capitalize()) for w in aws_name.split("-")]
    return words[0][0].lower() + words[0][1:] + "".join(words[1:])


_PARQUET_TYPES = {"int32": "INT_32", "int64": "INT_64", "time": "INT_64"}

FIELDS: dict[str, Field] = {
    name: Field(name, _snake(name), _insights(name), version, kind, _PARQUET_TYPES.get(kind, "STRING"),
                meaning)
    for name, version, kind, meaning in _ROWS
}
"""AWS name -> Field, in the order of the AWS table."""

BY_COLUMN: dict[str, Field] = {f.column: f for f in FIELDS.values()}
"""snake_case column (Parquet name) -> Field."""

DEFAULT_FIELDS: list[str] = [f.aws_name for f in FIELDS.values() if f.version == 2]
"""The 14 version-2 fields of the default format, in order (AWS names)."""

DEFAULT_INSIGHTS_FIELDS: list[str] = [FIELDS[name].insights for name in DEFAULT_FIELDS]
"""What Logs Insights discovers in a default-format record, in record order."""

BY_INSIGHTS: dict[str, Field] = {f.insights: f for f in FIELDS.values()}
"""Logs Insights camelCase name -> Field."""

LAB_FIELDS: list[str] = DEFAULT_FIELDS + [
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "flow-direction",
    "traffic-path",
]
"""The lab's custom format: the default fields, then the v3-v5 fields that explain a record."""

CATEGORIES: dict[str, list[str]] = {
    "action": ["ACCEPT", "REJECT"],
    "log-status": ["OK", "NODATA", "SKIPDATA"],
    "type": ["IPv4", "IPv6", "EFA"],
    "flow-direction": ["ingress", "egress"],
}
"""The documented values of each ``category`` field: always categories of its column,
whatever the input, so that frames read separately concatenate without losing the type.
A value AWS does not document is kept as an extra category (categories are sorted)."""

PROTOCOL_NAMES: dict[int, str] = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
"""IANA protocol numbers the lab names (the one copy: charts, widgets and Insights use it)."""

TRAFFIC_PATH_NAMES: dict[int, str] = {
    1: "same VPC",
    2: "internet gateway or gateway endpoint",
    3: "virtual private gateway",
    4: "intra-region VPC peering",
    5: "inter-region VPC peering",
    6: "local gateway",
    7: "gateway VPC endpoint (Nitro)",
    8: "internet gateway (Nitro)",
}

# Name order in tcp_flags_names: SYN-ACK first (it contains the SYN bit), then the rest.
TCP_FLAG_BITS: list[tuple[int, str]] = [(18, "SYN-ACK"), (2, "SYN"), (4, "RST"), (1, "FIN")]


def column_name(aws_name: str) -> str:
    """The DataFrame column for a field: ``"log-status"`` -> ``"log_status"``.

    Accepts ``${log-status}``, the hyphenated AWS name or an already snake_case name;
    unknown names get the same treatment (hyphens and other separators -> ``_``).
    """
    name = aws_name.strip()
    if name.startswith("${") and name.endswith("}"):
        name = name[2:-1]
    field = FIELDS.get(name) or BY_COLUMN.get(name)
    return field.column if field else _snake(name)


def format_version(fields: Iterable[str]) -> int | None:
    """The ``version`` AWS writes in records of these fields: the highest version among them
    (2 for the default format; Amazon VPC User Guide, "Flow log records"); None when no field is known."""
    versions = [FIELDS[name].version for name in fields if name in FIELDS]
    return max(versions) if versions else None


def lookup(name: str) -> Field | None:
    """The Field for an AWS name or a snake_case column name, else None."""
    return FIELDS.get(name) or BY_COLUMN.get(name) or BY_COLUMN.get(_snake(name))


def protocol_name(number: int) -> str:
    """``6`` -> ``"TCP"``; numbers without a common name stay numbers (``"47"``)."""
    return PROTOCOL_NAMES.get(int(number), str(int(number)))


def tcp_flags_name(value: int) -> str:
    """``2`` -> ``"SYN"``, ``19`` -> ``"SYN-ACK|FIN"``, ``0`` -> ``"none"``.

    Bits other than the four AWS reports are kept as a number so that no two values
    share a name.
    """
    rest = int(value)
    names = []
    for bits, name in TCP_FLAG_BITS:
        if rest & bits == bits:
            names.append(name)
            rest &= ~bits
    if rest:
        names.append(str(rest))
    return "|".join(names) if names else "none"


def traffic_path_name(value: int) -> str:
    """``4`` -> ``"intra-region VPC peering"``; unknown paths stay numbers."""
    return TRAFFIC_PATH_NAMES.get(int(value), str(int(value)))
