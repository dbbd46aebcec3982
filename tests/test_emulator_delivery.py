"""SSM commands, flow-log delivery, the role check and S3 objects, through real HTTP."""

from __future__ import annotations

import gzip
import io
import json
import re
import time

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from tests.emulator_fixtures import FIELDS, GROUP, LAB_FORMAT, TRUST, build_lab, clients, records, run


@pytest.fixture(scope="module")
def shared(emulator):
    """One lab for the tests that only add to it (an emulator reset costs about a second)."""
    emulator.reset()
    c = clients(emulator.endpoint)
    return c, build_lab(c)


def test_ping_across_the_peering_leaves_four_records(shared):
    c, lab = shared
    answer = run(c, lab["a"]["instance"], "ping -c 3 192.168.1.10")
    assert answer["Status"] == "Success" and answer["ResponseCode"] == 0
    assert "64 bytes from 192.168.1.10" in answer["StandardOutputContent"]
    assert "3 packets transmitted, 3 received" in answer["StandardOutputContent"]
    icmp = [r for r in records(c) if r["protocol"] == "1"]
    a, b = lab["a"]["eni"], lab["b"]["eni"]
    by: dict = {}
    for r in icmp:
        by.setdefault((r["interface-id"], r["flow-direction"], r["srcaddr"]), []).append(r)
    out = by[(a, "egress", "10.0.1.10")]
    assert {r["action"] for r in out} == {"ACCEPT"} and {r["traffic-path"] for r in out} == {"4"}
    assert [int(r["packets"]) for r in out] == [3]  # one flow, one capture window: one record
    first = out[0]
    assert first["version"] == "5" and first["account-id"] == "123456789012" and first["log-status"] == "OK"
    assert first["vpc-id"] == lab["a"]["vpc"] and first["instance-id"] == lab["a"]["instance"]
    assert first["subnet-id"] == lab["a"]["subnet"] and first["type"] == "IPv4"
    assert first["pkt-srcaddr"] == "10.0.1.10" and first["pkt-dstaddr"] == "192.168.1.10"
    assert first["@stream"] == f"{a}-all"
    assert int(first["end"]) - int(first["start"]) == 2  # first and last echo request, 1 s apart
    assert first["@timestamp"] == int(first["start"]) * 1000
    inbound = by[(b, "ingress", "10.0.1.10")]
    assert {r["action"] for r in inbound} == {"ACCEPT"} and {r["traffic-path"] for r in inbound} == {"-"}
    assert {r["action"] for r in by[(b, "egress", "192.168.1.10")]} == {"ACCEPT"}  # the replies
    assert {r["action"] for r in by[(a, "ingress", "192.168.1.10")]} == {"ACCEPT"}
    streams = c["logs"].describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert {f"{a}-all", f"{b}-all"} <= {s["logStreamName"] for s in streams}
    assert all(s["storedBytes"] > 0 and "lastEventTimestamp" in s for s in streams)


def test_two_pings_a_second_apart_are_one_record_per_interface_and_direction(shared):
    """AWS, "Flow log records" (VPC User Guide): a record captures one flow (5-tuple) on one
    interface within a capture window of up to the maximum aggregation interval; ``start`` and
    ``end`` are the first and last packet of the flow within the window.
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html"""
    c, lab = shared
    group = "/lab/two-pings"
    c["ec2"].create_flow_logs(
        ResourceIds=[lab["a"]["subnet"], lab["b"]["subnet"]], ResourceType="Subnet", TrafficType="ALL",
        LogGroupName=group, DeliverLogsPermissionArn=lab["role_arn"], LogFormat=LAB_FORMAT,
        MaxAggregationInterval=60)
    run(c, lab["a"]["instance"], "ping -c 3 192.168.1.10")
    time.sleep(1)
    run(c, lab["a"]["instance"], "ping -c 3 192.168.1.10")
    new = [r for r in records(c, group) if r["protocol"] == "1"]
    a, b = lab["a"]["eni"], lab["b"]["eni"]
    got = sorted((r["interface-id"], r["flow-direction"], int(r["packets"])) for r in new)
    assert got == sorted([(a, "egress", 6), (b, "ingress", 6), (b, "egress", 6), (a, "ingress", 6)])
    for r in new:
        assert 3 <= int(r["end"]) - int(r["start"]) <= 4  # 0-2 s, then 1 s later (+ the calls) 0-2 s again


def test_probe_to_a_closed_port_times_out_and_is_rejected(shared):
    c, lab = shared
    answer = run(c, lab["a"]["instance"], "nc -z -w 2 192.168.1.10 56121")
    assert answer["Status"] == "Failed" and answer["ResponseCode"] == 1
    assert "TIMEOUT" in answer["StandardErrorContent"]
    rejected = [r for r in records(c) if r["dstport"] == "56121" and r["flow-direction"] == "ingress"]
    assert rejected and all(r["action"] == "REJECT" for r in rejected)
    assert {r["interface-id"] for r in rejected} == {lab["b"]["eni"]}
    assert rejected[0]["tcp-flags"] == "2"
    sent = [r for r in records(c) if r["dstport"] == "56121" and r["flow-direction"] == "egress"]
    assert {(r["interface-id"], r["action"]) for r in sent} == {(lab["a"]["eni"], "ACCEPT")}
    # the space-delimited pattern returns the probe only
    pattern = '[version, account, eni, source, destination, srcport, destport="56121", ...]'
    only = records(c, filterPattern=pattern)
    assert only and all(r["dstport"] == "56121" for r in only)
    assert len(only) == len(rejected) + len(sent)


def test_background_scans_are_rejected_on_public_enis(shared):
    c, lab = shared

    def scans():
        mine = {lab["a"]["eni"], lab["b"]["eni"]}
        return [r for r in records(c) if r["flow-direction"] == "ingress" and r["protocol"] == "6"
                and r["interface-id"] in mine and not r["srcaddr"].startswith(("10.", "192.168."))]

    before = scans()
    run(c, lab["a"]["instance"], "true")
    new = [r for r in scans() if r not in before]
    assert len(new) == 12  # 6 per public ENI per SendCommand
    assert {r["interface-id"] for r in new} == {lab["a"]["eni"], lab["b"]["eni"]}
    assert all(r["action"] == "REJECT" and r["tcp-flags"] == "2" for r in new)
    assert {r["dstaddr"] for r in new} == {lab["a"]["ip"], lab["b"]["ip"]}


def test_unsupported_command_fails_with_the_supported_list(shared):
    c, lab = shared
    answer = run(c, lab["a"]["instance"], "traceroute 192.168.1.10")
    assert answer["Status"] == "Failed" and answer["ResponseCode"] == 127
    assert "Supported here" in answer["StandardErrorContent"] and "ping" in answer["StandardErrorContent"]
    listed = c["ssm"].list_command_invocations(InstanceId=lab["a"]["instance"])["CommandInvocations"]
    assert "Failed" in {i["Status"] for i in listed}


def test_send_command_to_unknown_or_terminated_instance(shared):
    c, lab = shared
    with pytest.raises(ClientError) as err:
        c["ssm"].send_command(InstanceIds=["i-0123456789abcdef0"], DocumentName="AWS-RunShellScript",
                              Parameters={"commands": ["true"]})
    assert err.value.response["Error"]["Code"] == "InvalidInstanceId"
    spare = c["ec2"].run_instances(ImageId=c["ec2"].describe_instances(InstanceIds=[lab["a"]["instance"]])[
        "Reservations"][0]["Instances"][0]["ImageId"], MinCount=1, MaxCount=1, InstanceType="t3.micro",
        SubnetId=lab["a"]["subnet"])["Instances"][0]["InstanceId"]  # fmt: skip
    c["ec2"].terminate_instances(InstanceIds=[spare])
    with pytest.raises(ClientError) as err:
        c["ssm"].send_command(InstanceIds=[spare], DocumentName="AWS-RunShellScript",
                              Parameters={"commands": ["true"]})
    assert err.value.response["Error"]["Code"] == "InvalidInstanceId"
    with pytest.raises(ClientError) as err:
        c["ssm"].get_command_invocation(CommandId="00000000-0000-0000-0000-000000000000",
                                        InstanceId=lab["a"]["instance"])
    assert err.value.response["Error"]["Code"] == "InvocationDoesNotExist"


def test_delivery_creates_the_log_group_when_the_role_may(shared):
    c, lab = shared
    c["ec2"].create_flow_logs(
        ResourceIds=[lab["b"]["eni"]], ResourceType="NetworkInterface", TrafficType="REJECT",
        LogGroupName="/lab/new-group", DeliverLogsPermissionArn=lab["role_arn"], MaxAggregationInterval=60)
    run(c, lab["a"]["instance"], "nc -z -w 1 192.168.1.10 3389")
    events = c["logs"].filter_log_events(logGroupName="/lab/new-group")["events"]
    assert events and all(e["message"].split()[12] == "REJECT" for e in events)
    assert all(len(e["message"].split()) == 14 for e in events)  # the default format
    assert {e["logStreamName"] for e in events} == {f"{lab['b']['eni']}-all"}


@pytest.mark.parametrize("kwargs, code", [
    ({"LogFormat": "${version} ${srcaddr} ${no-such-field}"}, "InvalidParameter"),
    ({"LogFormat": "version srcaddr"}, "InvalidParameter"),
    ({"TrafficType": "SOME"}, "InvalidParameterValue"),
    ({"MaxAggregationInterval": 30}, None),
    ({"DeliverLogsPermissionArn": None}, None),
])  # fmt: skip
def test_create_flow_logs_refusals(shared, kwargs, code):
    c, lab = shared
    args = {"ResourceIds": [lab["a"]["subnet"]], "ResourceType": "Subnet", "TrafficType": "ALL",
            "LogGroupName": "/lab/refused", "DeliverLogsPermissionArn": lab["role_arn"], **kwargs}
    args = {k: v for k, v in args.items() if v is not None}
    with pytest.raises(ClientError) as err:
        c["ec2"].create_flow_logs(**args)
    if code:
        assert err.value.response["Error"]["Code"] == code
    if "no-such-field" in kwargs.get("LogFormat", ""):
        assert "${no-such-field}" in err.value.response["Error"]["Message"]


def test_s3_delivery_key_layout_and_content(shared):
    c, lab = shared
    c["s3"].create_bucket(Bucket="lab-flow-logs")
    ids = {}
    for file_format in ("plain-text", "parquet"):
        answer = c["ec2"].create_flow_logs(
            ResourceIds=[lab["a"]["vpc"], lab["b"]["vpc"]], ResourceType="VPC", TrafficType="ALL",
            LogDestinationType="s3", LogDestination=f"arn:aws:s3:::lab-flow-logs/{file_format}",
            LogFormat=LAB_FORMAT, MaxAggregationInterval=60, DestinationOptions={"FileFormat": file_format})
        assert not answer["Unsuccessful"]
        ids[file_format] = answer["FlowLogIds"]
        described = c["ec2"].describe_flow_logs(FlowLogIds=answer["FlowLogIds"])["FlowLogs"]
        assert described[0]["DestinationOptions"]["FileFormat"] == file_format
        assert described[0]["LogDestination"] == f"arn:aws:s3:::lab-flow-logs/{file_format}"
    run(c, lab["a"]["instance"], "nc -z -w 1 192.168.1.10 2222")
    for file_format, flow_log_ids in ids.items():
        listed = c["s3"].list_objects_v2(Bucket="lab-flow-logs", Prefix=f"{file_format}/")["Contents"]
        keys = [o["Key"] for o in listed]
        suffix = r"\.log\.parquet" if file_format == "parquet" else r"\.log\.gz"
        pattern = (rf"^{file_format}/AWSLogs/123456789012/vpcflowlogs/us-east-1/\d{{4}}/\d{{2}}/\d{{2}}/"
                   rf"123456789012_vpcflowlogs_us-east-1_(fl-[0-9a-f]+)_\d{{8}}T\d{{4}}Z_[0-9a-f]{{8}}{suffix}$")
        assert all(re.match(pattern, k) for k in keys), keys
        assert {re.match(pattern, k).group(1) for k in keys} == set(flow_log_ids)
        rows = []
        for key in keys:
            body = c["s3"].get_object(Bucket="lab-flow-logs", Key=key)["Body"].read()
            if file_format == "parquet":
                table = pq.read_table(io.BytesIO(body))
                assert table.column_names == [f.replace("-", "_") for f in FIELDS]
                assert table.schema.field("packets").type == "int64"
                rows += [{k.replace("_", "-"): str(v) if v is not None else "-" for k, v in row.items()}
                         for row in table.to_pylist()]
            else:
                lines = gzip.decompress(body).decode().splitlines()
                assert lines[0] == " ".join(FIELDS)  # the header line first
                rows += [dict(zip(FIELDS, line.split(), strict=True)) for line in lines[1:]]
        probe = [r for r in rows if r["dstport"] == "2222"]
        assert {(r["interface-id"], r["flow-direction"], r["action"], r["traffic-path"]) for r in probe} == {
            (lab["a"]["eni"], "egress", "ACCEPT", "4"), (lab["b"]["eni"], "ingress", "REJECT", "-")}


def test_place_fields_and_version_of_a_v4_format(shared):
    """AWS, "Flow log records" (VPC User Guide, Available fields): ``version`` is the highest
    version among the format's fields; ``region`` and ``az-id`` (v4) name the interface's place;
    ``sublocation-id`` is ``-`` outside Wavelength, Outposts and Local Zones.
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html"""
    c, lab = shared
    group = "/lab/place"
    c["logs"].create_log_group(logGroupName=group)
    c["ec2"].create_flow_logs(
        ResourceIds=[lab["a"]["subnet"]], ResourceType="Subnet", TrafficType="ALL", LogGroupName=group,
        DeliverLogsPermissionArn=lab["role_arn"], MaxAggregationInterval=60,
        LogFormat="${version} ${interface-id} ${region} ${az-id} ${sublocation-id} ${action}")
    run(c, lab["a"]["instance"], "ping -c 1 192.168.1.10")
    zone = c["ec2"].describe_subnets(SubnetIds=[lab["a"]["subnet"]])["Subnets"][0]["AvailabilityZoneId"]
    lines = {e["message"] for e in c["logs"].filter_log_events(logGroupName=group)["events"]}
    assert lines and {line.split()[0] for line in lines} == {"4"}
    assert {tuple(line.split()[1:5]) for line in lines} == {(lab["a"]["eni"], "us-east-1", zone, "-")}


def test_same_commands_same_output_and_records_after_reset(emulator):
    def once():
        emulator.reset()
        c = clients(emulator.endpoint)
        lab = build_lab(c)
        out = run(c, lab["a"]["instance"], "ping -c 2 192.168.1.10")["StandardOutputContent"]
        rows = sorted({(r["srcaddr"], r["dstport"], r["action"]) for r in records(c)})  # windows may split
        return out.split("time=")[1:], rows

    assert once() == once()


def test_role_without_trust_or_missing_role_delivers_nothing(emulator):
    emulator.reset()
    c = clients(emulator.endpoint)
    untrusting = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    lab = build_lab(c, role_trust=untrusting)
    missing = c["ec2"].create_flow_logs(
        ResourceIds=[lab["a"]["subnet"]], ResourceType="Subnet", TrafficType="ALL", LogGroupName=GROUP,
        DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/no-such-role", MaxAggregationInterval=60)
    assert missing["FlowLogIds"] and not missing["Unsuccessful"]  # accepted, as on AWS
    run(c, lab["a"]["instance"], "ping -c 2 192.168.1.10")
    assert c["logs"].filter_log_events(logGroupName=GROUP)["events"] == []
    assert c["logs"].describe_log_streams(logGroupName=GROUP)["logStreams"] == []
    described = c["ec2"].describe_flow_logs(FlowLogIds=lab["flow_logs"] + missing["FlowLogIds"])["FlowLogs"]
    assert len(described) == 3
    assert {(f["DeliverLogsStatus"], f.get("DeliverLogsErrorMessage")) for f in described} == {
        ("FAILED", "Access error")}
    # fixing the trust brings delivery back
    c["iam"].update_assume_role_policy(RoleName="lab-flow-logs", PolicyDocument=json.dumps(TRUST))
    run(c, lab["a"]["instance"], "ping -c 1 192.168.1.10")
    assert c["logs"].filter_log_events(logGroupName=GROUP)["events"]
    fixed = c["ec2"].describe_flow_logs(FlowLogIds=lab["flow_logs"])["FlowLogs"]
    assert {f["DeliverLogsStatus"] for f in fixed} == {"SUCCESS"}

