"""Teardown touches only its own, and one lab is built once even by two processes at once.

The rule: a resource is the lab's only when it carries BOTH ``Project=<lab>`` and
``ManagedBy=labkit``. EC2 describes filter by tag (EC2 API reference, "DescribeVpcs": the
``tag:<key>`` filter); IAM's ListRoles returns no tags, so each role's come from ListRoleTags
(IAM API reference, "ListRoleTags"); log groups' from ListTagsForResource (CloudWatch Logs API
reference); buckets' from GetBucketTagging, whose answer for a bucket without tags is the error
``NoSuchTagSet`` (S3 API reference, "GetBucketTagging").
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import boto3
import pytest

from labkit import LabError, open_lab
from labkit.lab.lab import OFFLINE_CREDENTIALS

LAB = "web"
USERS = [{"Key": "Project", "Value": LAB}, {"Key": "Owner", "Value": "a-user"}]


def _client(emulator, service: str):
    """A plain boto3 client, as a user's own script would make, on the same emulator."""
    return boto3.Session(region_name="us-east-1", **OFFLINE_CREDENTIALS).client(
        service, endpoint_url=emulator.endpoint)


def _users_look_alikes(emulator) -> dict[str, str]:
    """A user's resources tagged Project=web (no ManagedBy), and ones named like the lab's."""
    ec2, iam, logs, s3 = (_client(emulator, s) for s in ("ec2", "iam", "logs", "s3"))

    def spec(kind):
        return [{"ResourceType": kind, "Tags": USERS}]

    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16", TagSpecifications=spec("vpc"))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24",
                               TagSpecifications=spec("subnet"))["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web-app", Description="a user's", VpcId=vpc,
                                      TagSpecifications=spec("security-group"))["GroupId"]
    image = _client(emulator, "ssm").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    instance = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 SubnetId=subnet, SecurityGroupIds=[group],
                                 TagSpecifications=spec("instance"))["Instances"][0]["InstanceId"]
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",' \
            '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    # Under the lab's own IAM path, and named like the lab's roles: only the tags tell them apart.
    iam.create_role(RoleName="web-flow-logs-delivery-old", Path=f"/{LAB}/", Tags=USERS,
                    AssumeRolePolicyDocument=trust)
    iam.create_role(RoleName="web-app", Path="/", Tags=USERS, AssumeRolePolicyDocument=trust)
    iam.create_instance_profile(InstanceProfileName="web-app-profile", Path=f"/{LAB}/")
    logs.create_log_group(logGroupName=f"/{LAB}/app", tags={"Project": LAB})
    logs.create_log_group(logGroupName=f"/{LAB}-old/vpc-flow-logs")
    s3.create_bucket(Bucket=f"{LAB}-flowlogs-archive")
    s3.put_bucket_tagging(Bucket=f"{LAB}-flowlogs-archive", Tagging={"TagSet": USERS})
    s3.create_bucket(Bucket=f"{LAB}-flowlogs-untagged")
    return {"vpc": vpc, "subnet": subnet, "security-group": group, "instance": instance,
            "iam-role": "web-flow-logs-delivery-old", "role-outside-path": "web-app",
            "instance-profile": "web-app-profile", "log-group": f"/{LAB}/app",
            "log-group-similar": f"/{LAB}-old/vpc-flow-logs", "s3-bucket": f"{LAB}-flowlogs-archive",
            "s3-bucket-untagged": f"{LAB}-flowlogs-untagged"}


def _still_there(emulator, made: dict[str, str]) -> dict[str, bool]:
    ec2, iam, logs, s3 = (_client(emulator, s) for s in ("ec2", "iam", "logs", "s3"))
    instance = ec2.describe_instances(InstanceIds=[made["instance"]])["Reservations"][0]["Instances"][0]
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    return {
        "vpc": bool(ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [made["vpc"]]}])["Vpcs"]),
        "subnet": bool(ec2.describe_subnets(
            Filters=[{"Name": "subnet-id", "Values": [made["subnet"]]}])["Subnets"]),
        "security-group": bool(ec2.describe_security_groups(
            Filters=[{"Name": "group-id", "Values": [made["security-group"]]}])["SecurityGroups"]),
        "instance": instance["State"]["Name"] == "running",
        "iam-role": made["iam-role"] in roles,
        "role-outside-path": made["role-outside-path"] in roles,
        "instance-profile": any(p["InstanceProfileName"] == made["instance-profile"]
                                for p in iam.list_instance_profiles()["InstanceProfiles"]),
        "log-group": made["log-group"] in groups,
        "log-group-similar": made["log-group-similar"] in groups,
        "s3-bucket": made["s3-bucket"] in buckets,
        "s3-bucket-untagged": made["s3-bucket-untagged"] in buckets,
    }


def test_a_users_look_alikes_survive_teardown_and_are_reported(fresh_emulator):
    made = _users_look_alikes(fresh_emulator)
    lab = open_lab(step=6, lab=LAB, quiet=True)
    owned = lab.inventory()
    assert set(made.values()).isdisjoint(owned.id), "a user's resource was taken for the lab's"

    report = lab.teardown(progress=False)

    assert report.left == []
    assert lab.inventory().empty
    assert all(_still_there(fresh_emulator, made).values()), _still_there(fresh_emulator, made)
    alone = {f.item.id: f.why for f in report.left_alone}
    # Everything that carries Project=web, or sits under the lab's IAM path, log-group or bucket
    # prefix, is named in the report; the role outside the path and the similar prefix are not
    # candidates at all.
    for key in ("vpc", "subnet", "security-group", "instance", "iam-role", "instance-profile",
                "log-group", "s3-bucket", "s3-bucket-untagged"):
        assert "not created by labkit" in alone[made[key]], (key, alone)
    assert made["role-outside-path"] not in alone and made["log-group-similar"] not in alone
    assert f"left alone: vpc {made['vpc']}" in repr(report)


def test_dry_run_lists_what_would_go_and_deletes_nothing(fresh_emulator):
    made = _users_look_alikes(fresh_emulator)
    lab = open_lab(step=2, lab=LAB, quiet=True)
    before = lab.inventory()

    report = lab.teardown(dry_run=True)

    assert lab.inventory().equals(before)
    assert report.deleted == [] and report.passes == 0
    assert {(o.kind, o.id) for o in report.planned} == set(zip(before.kind, before.id, strict=True))
    assert made["vpc"] in {f.item.id for f in report.left_alone}
    text = repr(report)
    assert text.startswith(f"dry run: would delete {len(before)} resources; nothing was deleted")
    assert all(f"would delete: {kind} {rid}" in text for kind, rid in zip(before.kind, before.id,
                                                                           strict=True))


def test_cli_teardown_dry_run_deletes_nothing(fresh_emulator):
    lab = open_lab(step=1, lab=LAB, quiet=True)
    before = lab.inventory()
    env = {**os.environ, "LABKIT_LAB": LAB}
    result = subprocess.run([sys.executable, "-m", "labkit", "teardown", "--dry-run"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dry run: would delete 2 resources; nothing was deleted")
    assert lab.inventory().equals(before)


@pytest.mark.parametrize("name", ["aws", "amazon", "aws-lab", "amazonlab", "amzn-lab", "sthree-lab",
                                  "xn--lab", "service-role"])
def test_reserved_lab_names_are_refused_before_any_call(name, monkeypatch):
    # Nothing answers here: refusing must come before any AWS call.
    monkeypatch.setenv("LABKIT_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(LabError, match=rf"lab name '{name}' collides with names AWS reserves"):
        open_lab(lab=name)


def test_two_copies_found_are_named_by_their_ids(fresh_emulator):
    ec2 = _client(fresh_emulator, "ec2")
    tags = [{"ResourceType": "vpc", "Tags": [
        {"Key": "Project", "Value": LAB}, {"Key": "ManagedBy", "Value": "labkit"},
        {"Key": "labkit:role", "Value": "vpc1"}]}]
    ids = [ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tags)["Vpc"]["VpcId"] for _ in range(2)]
    with pytest.raises(LabError, match=rf"found 2 tagged copies \(({ids[0]}|{ids[1]}), "
                                       rf"({ids[0]}|{ids[1]})\); run teardown first"):
        open_lab(step=1, lab=LAB, quiet=True)


CHILD = textwrap.dedent("""
    import os, sys, time
    from labkit import open_lab
    go = sys.argv[1]
    while not os.path.exists(go):  # both start building at the same moment
        time.sleep(0.005)
    open_lab(step=2, lab="web", quiet=True)
""")


def test_two_processes_opening_one_lab_at_once_make_one_copy(fresh_emulator, tmp_path):
    go = tmp_path / "go"
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(go)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(3)  # both have imported labkit and are waiting at the line
    go.touch()
    outcomes = [child.communicate(timeout=120) for child in children]
    for child, (_, err) in zip(children, outcomes, strict=True):
        assert child.returncode == 0, err
    counts = open_lab(lab=LAB, quiet=True).inventory().groupby("kind").size().to_dict()
    assert counts == {"vpc": 2, "subnet": 2, "internet-gateway": 2, "route-table": 2}


def test_a_users_rule_naming_the_labs_group_is_never_revoked(fresh_emulator):
    """AWS refuses to delete a security group that another group's rule references
    (EC2 API reference, "DeleteSecurityGroup": DependencyViolation); teardown revokes such rules
    only in the lab's own groups, and reports the refusal instead of editing a user's group."""
    lab = open_lab(step=3, lab=LAB, quiet=True)
    lab_group = lab.inventory().query("name == 'web-sg1'").id.iloc[0]
    ec2 = _client(fresh_emulator, "ec2")
    vpc = ec2.describe_security_groups(GroupIds=[lab_group])["SecurityGroups"][0]["VpcId"]
    users = ec2.create_security_group(GroupName="users-app", Description="a user's", VpcId=vpc,
                                      TagSpecifications=[{"ResourceType": "security-group", "Tags": USERS}])
    rule = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": lab_group}]}
    ec2.authorize_security_group_ingress(GroupId=users["GroupId"], IpPermissions=[rule])

    report = lab.teardown(progress=False)

    after = ec2.describe_security_groups(GroupIds=[users["GroupId"]])["SecurityGroups"][0]
    assert [p["UserIdGroupPairs"][0]["GroupId"] for p in after["IpPermissions"]] == [lab_group]
    assert lab_group in {item.id for item, _ in report.left}
    assert users["GroupId"] in {f.item.id for f in report.left_alone}
