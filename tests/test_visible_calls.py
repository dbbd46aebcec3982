"""The build notebooks' own boto3 calls (``lab.create_once``): made once, adopted, with labkit's values.

Notebooks 01-07 show the calls that create what they teach (the AWS call and its parameters, as in
the EC2, IAM, CloudWatch Logs, S3 and SSM API references), each wrapped in ``lab.create_once`` so
that running a notebook again creates nothing new. The steps (``ensure_*``, what ``open_lab(step=N)``
runs) must then find those resources by tag instead of making a second copy, and the notebooks'
literal values (CIDRs, addresses, the format, the policies) must be labkit's own.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from botocore.exceptions import ClientError

from labkit import open_lab
from labkit.errors import LabError
from labkit.flowlogs import LAB_FORMAT
from labkit.lab import visible
from labkit.lab.names import PRIVATE_IPS, PROBE_PORT, SUBNET_CIDRS, VPC_CIDRS, bucket_name
from labkit.lab.steps.flow_log_role import permissions_policy, trust_policy
from labkit.lab.steps.flow_logs import AGGREGATION_S, RETENTION_DAYS
from labkit.lab.steps.s3_flow_logs import DESTINATION_OPTIONS
from labkit.lab.steps.traffic import probe_command
from labkit.lab.tags import lab_filter
from labkit.lab.wait import Pace

BUILD_NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("0[1-7]_*.ipynb"))


def _vpc_maker(ec2, lab, calls: list):
    def make():
        calls.append(1)
        return ec2.create_vpc(CidrBlock="10.0.0.0/16",
                              TagSpecifications=[{"ResourceType": "vpc", "Tags": lab.tags("vpc1")}])
    return make


def test_create_once_makes_the_call_once_and_the_step_adopts_it(fresh_emulator, capsys):
    lab = open_lab(quiet=True)
    ec2, calls = lab.client("ec2"), []
    first = lab.create_once("vpc1", _vpc_maker(ec2, lab, calls))
    again = lab.create_once("vpc1", _vpc_maker(ec2, lab, calls))
    assert first == again and calls == [1]
    printed = capsys.readouterr().out
    assert f"created {first}" in printed and f"found   {first}" in printed
    assert lab.ensure_vpcs(quiet=True).vpc1.id == first
    assert len(ec2.describe_vpcs(Filters=lab_filter(lab.name, "vpc1"))["Vpcs"]) == 1


def test_a_call_that_does_not_tag_what_it_makes_is_refused(fresh_emulator, monkeypatch):
    monkeypatch.setattr(visible, "VISIBLE_PACE", Pace(timeout_s=0.3, interval_s=0.05))
    lab = open_lab(quiet=True)
    ec2 = lab.client("ec2")
    with pytest.raises(LabError, match=r"lab\.tags\('vpc1'\)"):
        lab.create_once("vpc1", lambda: ec2.create_vpc(CidrBlock="10.0.0.0/16"))


def test_two_kinds_sharing_a_role_need_kind(fresh_emulator):
    lab = open_lab(quiet=True)
    iam = lab.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    made = lab.create_once("ssm-instance", lambda: iam.create_role(
        RoleName="r", Path=f"/{lab.name}/", AssumeRolePolicyDocument=trust, Tags=lab.tags("ssm-instance")),
        kind="iam-role")
    lab.create_once("ssm-instance", lambda: iam.create_instance_profile(
        InstanceProfileName="p", Path=f"/{lab.name}/", Tags=lab.tags("ssm-instance")),
        kind="instance-profile")
    assert made == "r"
    with pytest.raises(LabError, match="pass kind"):
        lab.create_once("ssm-instance", lambda: {})


def test_an_unsuccessful_create_flow_logs_is_an_error():
    # CreateFlowLogs answers 200 and lists what failed in Unsuccessful (EC2 API Reference, CreateFlowLogs).
    answer = {"FlowLogIds": [], "Unsuccessful": [
        {"ResourceId": "vpc-1", "Error": {"Code": "400", "Message": "Unable to assume given IAM role"}}]}
    with pytest.raises(ClientError, match="flowlog1: Unable to assume"):
        visible._refuse_unsuccessful("flowlog1", answer)
    visible._refuse_unsuccessful("flowlog1", {"FlowLogIds": ["fl-1"], "Unsuccessful": []})


def _run_notebook(path: Path) -> dict:
    """Run a notebook's code cells in this process, as a fresh kernel would (one namespace)."""
    namespace: dict = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "raises-exception" not in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"{path.name}", "exec"), namespace)  # noqa: S102 - our own notebooks
    return namespace


def _counts(lab) -> dict:
    return lab.inventory().groupby("kind").size().to_dict()


@pytest.mark.slow
def test_the_build_notebooks_calls_are_labkits_made_once_and_adopted(fresh_emulator):
    assert [p.name[:2] for p in BUILD_NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]
    spaces = {path.name[:2]: _run_notebook(path) for path in BUILD_NOTEBOOKS}
    lab = open_lab(quiet=True)
    built = _counts(lab)
    assert built.get("vpc") == 2 and built.get("flow-log") == 4, built

    for path in BUILD_NOTEBOOKS:  # again: every create_once finds, nothing new
        _run_notebook(path)
    assert _counts(lab) == built
    lab.bring_to(7)  # what open_lab(step=7) runs: each ensure_* adopts the notebooks' resources
    assert _counts(lab) == built

    ec2 = lab.client("ec2")
    for role in ("vpc1", "vpc2"):
        vpc = ec2.describe_vpcs(Filters=lab_filter(lab.name, role))["Vpcs"][0]
        assert vpc["CidrBlock"] == VPC_CIDRS[role]
        dns = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
        assert dns["EnableDnsHostnames"]["Value"] is True
        n = role[-1]
        subnet = ec2.describe_subnets(Filters=lab_filter(lab.name, f"subnet{n}"))["Subnets"][0]
        assert subnet["CidrBlock"] == SUBNET_CIDRS[role] and subnet["MapPublicIpOnLaunch"]
        instance = ec2.describe_instances(Filters=lab_filter(lab.name, f"instance{n}"))
        assert instance["Reservations"][0]["Instances"][0]["PrivateIpAddress"] == PRIVATE_IPS[role]

    for flow_log in ec2.describe_flow_logs(Filter=lab_filter(lab.name))["FlowLogs"]:
        assert flow_log["LogFormat"] == LAB_FORMAT
        assert flow_log["MaxAggregationInterval"] == AGGREGATION_S
        if flow_log["LogDestinationType"] == "s3":
            assert flow_log["LogDestination"] == f"arn:aws:s3:::{bucket_name(lab)}"
            assert flow_log["DestinationOptions"] == DESTINATION_OPTIONS
    group = lab.client("logs").describe_log_groups(logGroupNamePrefix=lab.log_group_name)["logGroups"][0]
    assert group["retentionInDays"] == RETENTION_DAYS

    role_space = spaces["05"]
    assert role_space["trust"] == trust_policy(lab.account_id, lab.region)
    # The traffic every later notebook reads: the commands of lab.send_standard_traffic().
    commands = [command for _, command in spaces["07"]["commands"].values()]
    assert commands == [f"ping -c 4 {PRIVATE_IPS['vpc2']}", f"ping -c 4 {PRIVATE_IPS['vpc1']}",
                        probe_command(PRIVATE_IPS["vpc2"], PROBE_PORT)]


@pytest.mark.slow
def test_notebook_05s_permissions_are_labkits(fresh_emulator):
    space = _run_notebook(BUILD_NOTEBOOKS[4])
    lab = space["lab"]
    assert space["permissions"] == permissions_policy(lab.account_id, lab.region, lab.log_group_name)
