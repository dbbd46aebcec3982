"""The field table, formats and helpers of labkit.flowlogs."""

import pandas as pd
import pytest

from labkit import flowlogs as fl
from labkit.flowlogs.fields import FIELDS

V3 = ["vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr"]
V4 = ["region", "az-id", "sublocation-type", "sublocation-id"]
V5 = ["pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path"]
V7 = [
    "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn",
    "ecs-container-instance-id", "ecs-container-id", "ecs-second-container-id",
    "ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id",
]


def test_versions_of_the_fields():
    assert len(fl.DEFAULT_FIELDS) == 14
    assert [n for n, f in FIELDS.items() if f.version == 3] == V3
    assert [n for n, f in FIELDS.items() if f.version == 4] == V4
    assert [n for n, f in FIELDS.items() if f.version == 5] == V5
    assert [n for n, f in FIELDS.items() if f.version == 7] == V7
    assert [n for n, f in FIELDS.items() if f.version == 8] == ["reject-reason"]
    assert sum(f.version == 6 for f in FIELDS.values()) == 18
    assert len({f.column for f in FIELDS.values()}) == len(FIELDS)  # each field once


def test_formats():
    assert fl.DEFAULT_FORMAT.startswith("${version} ${account-id} ${interface-id}")
    assert fl.parse_format(fl.DEFAULT_FORMAT) == fl.DEFAULT_FIELDS
    assert fl.parse_format(fl.LAB_FORMAT)[14:] == V3 + ["flow-direction", "traffic-path"]
    assert fl.parse_format("version log_status") == ["version", "log-status"]
    assert fl.parse_format(["srcaddr", "x-new"]) == ["srcaddr", "x-new"]
    with pytest.raises(ValueError, match=r"\$\{x-new\}"):
        fl.parse_format("${srcaddr} ${x-new}", strict=True)
    with pytest.raises(ValueError):
        fl.parse_format("")
    with pytest.raises(ValueError):
        fl.parse_format("${srcaddr},${dstaddr}")


def test_format_record_and_column_name():
    line = fl.format_record("${version} ${srcaddr} ${log-status}", {"version": 2, "log_status": "OK"})
    assert line == "2 - OK"
    assert fl.column_name("log-status") == "log_status"
    assert fl.column_name("${pkt-srcaddr}") == "pkt_srcaddr"
    assert fl.column_name("brand-new-field") == "brand_new_field"
    ts = pd.Timestamp("2014-12-14 04:06:50", tz="UTC")
    assert fl.format_record(["start"], {"start": ts}) == "1418530010"


def test_names():
    assert fl.tcp_flags_name(2) == "SYN"
    assert fl.tcp_flags_name(18) == "SYN-ACK"
    assert fl.tcp_flags_name(19) == "SYN-ACK|FIN"
    assert fl.tcp_flags_name(3) == "SYN|FIN"
    assert fl.tcp_flags_name(0) == "none"
    assert fl.protocol_name(58) == "ICMPv6"
    assert fl.protocol_name(47) == "47"
    assert fl.traffic_path_name(4) == "intra-region VPC peering"


def test_every_field_of_versions_2_to_8_parses_with_its_type():
    names = list(FIELDS)
    values = {}
    for n in names:
        kind = FIELDS[n].kind
        values[n] = {"int32": 7, "int64": 123456789012, "time": 1418530010}.get(kind, f"v-{n}")
    values["protocol"] = 6
    values["account-id"] = "012345678901"
    values["version"] = max(f.version for f in FIELDS.values())  # AWS: the highest among the fields
    line = fl.format_record(names, values)
    df = fl.read([line], format=names)
    assert len(df) == 1 and df.attrs["bad_lines"] == []
    row = df.iloc[0]
    for n in names:
        col = fl.column_name(n)
        kind = FIELDS[n].kind
        if kind == "time":
            assert row[col] == pd.Timestamp(1418530010, unit="s", tz="UTC")
        elif kind in ("int32", "int64"):
            assert str(df[col].dtype) == f"{kind}[pyarrow]", n
            assert row[col] == values[n]
        elif kind == "category":
            assert isinstance(df[col].dtype, pd.CategoricalDtype), n
        else:
            assert row[col] == values[n], n
    assert row["account_id"] == "012345678901"
    assert row["protocol_name"] == "TCP"


def test_insights_names_are_aws_discovered_fields():
    """Logs Insights' discovered fields for default-format flow logs.

    AWS: CloudWatch Logs User Guide, "Supported logs and discovered fields"
    (startTime/endTime, not start/end); other fields are the camelCase of the AWS name.
    """
    assert fl.DEFAULT_INSIGHTS_FIELDS == [
        "version", "accountId", "interfaceId", "srcAddr", "dstAddr", "srcPort", "dstPort",
        "protocol", "packets", "bytes", "startTime", "endTime", "action", "logStatus",
    ]
    assert FIELDS["pkt-srcaddr"].insights == "pktSrcAddr"
    assert FIELDS["tcp-flags"].insights == "tcpFlags"
    assert FIELDS["flow-direction"].insights == "flowDirection"
    assert FIELDS["traffic-path"].insights == "trafficPath"
    assert fl.BY_INSIGHTS["vpcId"].aws_name == "vpc-id"
    assert len(fl.BY_INSIGHTS) == len(FIELDS)
    assert fl.PROTOCOL_NAMES[17] == "UDP"


def test_strict_format_accepts_every_field_of_the_current_table():
    """Amazon VPC User Guide, "Flow log records", Available fields (versions 2-10), plus the
    Transit Gateway fields; ``${encryption-status}`` ("VPC encryption controls") included."""
    every = " ".join(f"${{{name}}}" for name in FIELDS)
    assert fl.parse_format(every, strict=True) == list(FIELDS)
    assert FIELDS["encryption-status"].version == 10 and FIELDS["encryption-status"].parquet == "INT_32"
    assert FIELDS["resource-id"].version == 9
    assert {f.parquet for f in FIELDS.values()} == {"INT_32", "INT_64", "STRING"}
    assert FIELDS["start"].parquet == "INT_64" and FIELDS["protocol"].parquet == "INT_32"
