"""Live mode's logic, without an AWS account: real boto3 clients answered by botocore's Stubber.

A Stubber answers only the calls queued for it, in order, and raises on any other call, so a
test that queues no create call proves that nothing was created. Every test runs with the
machine's AWS configuration hidden (no profile, no credentials, no instance metadata).
"""

from __future__ import annotations

import functools
import os
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from labkit import LabError, open_lab
from labkit.lab import Lab, wait
from labkit.lab import retry as retry_module
from labkit.lab.cost import estimate
from labkit.lab.inventory import inventory_items
from labkit.lab.retry import with_retries
from labkit.lab.steps import (
    STEPS,
    ensure_flow_log_role,
    ensure_instances,
    ensure_peering,
    ensure_public_subnets,
    ensure_vpcs,
    instances,
    peering,
)
from labkit.lab.steps.instances import AMI_PARAMETER, ensure_instance, ensure_instance_profile
from labkit.lab.steps.security_groups import SecurityGroup
from labkit.lab.steps.subnets import PublicSubnet
from labkit.lab.steps.vpcs import Vpc, ensure_vpc
from labkit.lab.tags import lab_filter, project_filter, tag_dict, tag_spec

ACCOUNT = "210987654321"
OTHER_ACCOUNT = "111122223333"
REGION = "eu-west-1"
LAB = "flowlogs-lab"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch, tmp_path):
    """Hide the machine's AWS setup: tests see only what they build."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "empty-aws-file"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


SERVICES = ("sts", "ec2", "iam", "ssm", "logs", "s3", "glue")


@functools.cache
def _shared():
    """One real client per service, made once (loading the models is the slow part); each test
    puts a Stubber of its own on them."""
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                            region_name=REGION)
    return session, {service: session.client(service) for service in SERVICES}


def _session() -> boto3.Session:
    """A session of the test's own that reuses the loaded models."""
    shared, _ = _shared()
    core = botocore.session.get_session()
    core.register_component("data_loader", shared._session.get_component("data_loader"))
    core.set_credentials("AKIDEXAMPLE", "secret")
    return boto3.Session(botocore_session=core, region_name=REGION)


class Stubs:
    """Stubbed clients, one per service, handed out both by the session and by ``Lab.client``."""

    def __init__(self):
        self.session = _session()
        self.clients = _shared()[1]
        self.stubbers: dict[str, Stubber] = {}
        # open_lab asks the session it is given for its STS client.
        self.session.client = lambda service, **_: self.client(service)

    def __getitem__(self, service: str) -> Stubber:
        if service not in self.stubbers:
            self.stubbers[service] = Stubber(self.clients[service])
            self.stubbers[service].activate()
        return self.stubbers[service]

    def client(self, service: str):
        self[service]
        return self.clients[service]

    def identity(self) -> None:
        self["sts"].add_response("get_caller_identity", {
            "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/learner", "UserId": "AIDEXAMPLE"})

    def lab(self, confirmed: bool = True) -> Lab:
        return Lab(mode="live", name=LAB, region=REGION, session=self.session, account_id=ACCOUNT,
                   confirmed=confirmed)


@pytest.fixture
def stubs(monkeypatch):
    made = Stubs()
    monkeypatch.setattr(Lab, "client", lambda self, service: made.client(service))
    yield made
    for stubber in made.stubbers.values():
        stubber.deactivate()
    for stubber in made.stubbers.values():
        stubber.assert_no_pending_responses()


class FakeClock:
    """time.monotonic and time.sleep for code that waits: sleeping only moves the clock."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _client_error(code: str, message: str = "", operation: str = "DescribeVpcs") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# (a) unconfirmed: account, region and cost shown; nothing created


def test_unconfirmed_live_lab_shows_account_region_and_cost(stubs, capsys):
    stubs.identity()
    lab = open_lab(mode="live", session=stubs.session)
    out = capsys.readouterr().out
    assert f"account {ACCOUNT}, region {REGION}" in out
    assert "Estimated cost" in out
    assert f"confirm_account='{ACCOUNT}'" in out
    assert (lab.mode, lab.account_id, lab.region, lab.confirmed) == ("live", ACCOUNT, REGION, False)
    assert lab.endpoint_url is None


def _no_vpcs(stubs):
    stubs["ec2"].add_response("describe_vpcs", {"Vpcs": []}, {"Filters": lab_filter(LAB, "vpc1")})


def _no_instance_role(stubs):
    stubs["iam"].add_client_error("get_role", "NoSuchEntity", "role not found", 404,
                                  expected_params={"RoleName": f"{LAB}-ssm-instance"})


def _no_flow_log_role(stubs):
    stubs["iam"].add_client_error("get_role", "NoSuchEntity", "role not found", 404)


@pytest.mark.parametrize("queue, step", [
    (_no_vpcs, ensure_vpcs),  # steps 1-4 start by finding the VPCs
    (_no_vpcs, ensure_public_subnets),
    (_no_vpcs, ensure_instances),
    (_no_vpcs, ensure_peering),
    (_no_instance_role, ensure_instance_profile),
    (_no_flow_log_role, ensure_flow_log_role),
    (lambda stubs: _queue_survey(stubs), Lab.teardown),  # it shows what it would delete, then refuses
], ids=["vpcs", "subnets", "instances", "peering", "instance-profile", "flow-log-role", "teardown"])
def test_unconfirmed_live_lab_creates_nothing(stubs, queue, step):
    stubs.identity()
    lab = open_lab(mode="live", session=stubs.session, quiet=True)
    queue(stubs)
    # Any create call would hit the Stubber with nothing queued and fail with a StubAssertionError.
    with pytest.raises(LabError, match=rf"not confirmed.*confirm_account='{ACCOUNT}'.*"
                                       rf"LABKIT_CONFIRM_ACCOUNT={ACCOUNT}"):
        step(lab)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_unconfirmed_live_lab_refuses_every_step_before_any_call(stubs, step):
    stubs.identity()  # and nothing else: any other call would fail the Stubber
    with pytest.raises(LabError, match=rf"to step {step}.*LABKIT_CONFIRM_ACCOUNT={ACCOUNT}"):
        open_lab(step=step, mode="live", session=stubs.session, quiet=True)


def test_quiet_does_not_hide_the_account_of_an_unconfirmed_lab(stubs, capsys):
    stubs.identity()
    open_lab(mode="live", session=stubs.session, quiet=True)
    assert f"account {ACCOUNT}" in capsys.readouterr().out


# (b) confirmation


@pytest.mark.parametrize("argument, env, confirmed", [
    (ACCOUNT, None, True),
    (None, ACCOUNT, True),
    (OTHER_ACCOUNT, None, False),
    (None, OTHER_ACCOUNT, False),
    (OTHER_ACCOUNT, ACCOUNT, False),  # the argument wins: a wrong one is never overridden
    (None, None, False),
], ids=["argument", "env", "wrong-argument", "wrong-env", "wrong-argument-right-env", "neither"])
def test_confirmation_by_argument_or_environment(stubs, monkeypatch, capsys, argument, env, confirmed):
    if env:
        monkeypatch.setenv("LABKIT_CONFIRM_ACCOUNT", env)
    stubs.identity()
    lab = open_lab(mode="live", session=stubs.session, confirm_account=argument, quiet=True)
    assert lab.confirmed is confirmed
    out = capsys.readouterr().out
    if confirmed:
        assert out == "", "a confirmed quiet lab prints nothing"
    else:
        assert "Nothing will be created until you confirm this account" in out


def test_live_mode_from_the_environment(stubs, monkeypatch):
    monkeypatch.setenv("LABKIT_MODE", "live")
    monkeypatch.setenv("LABKIT_CONFIRM_ACCOUNT", ACCOUNT)
    stubs.identity()
    lab = open_lab(session=stubs.session, quiet=True)
    assert (lab.mode, lab.confirmed) == ("live", True)


def test_confirmed_live_lab_creates_tagged_resources(stubs):
    lab = stubs.lab(confirmed=True)
    ec2 = stubs["ec2"]
    ec2.add_response("describe_vpcs", {"Vpcs": []}, {"Filters": lab_filter(LAB, "vpc1")})
    vpc = {"VpcId": "vpc-0a1", "CidrBlock": "10.0.0.0/16", "State": "pending"}
    ec2.add_response("create_vpc", {"Vpc": vpc},
                     {"CidrBlock": "10.0.0.0/16", "TagSpecifications": tag_spec("vpc", LAB, "vpc1")})
    ec2.add_response("describe_vpcs", {"Vpcs": [{**vpc, "State": "available"}]}, {"VpcIds": ["vpc-0a1"]})
    ec2.add_response("describe_vpc_attribute", {"VpcId": "vpc-0a1", "EnableDnsHostnames": {"Value": False}},
                     {"VpcId": "vpc-0a1", "Attribute": "enableDnsHostnames"})
    ec2.add_response("modify_vpc_attribute", {},
                     {"VpcId": "vpc-0a1", "EnableDnsHostnames": {"Value": True}})
    assert ensure_vpc(lab, "vpc1", quiet=True) == Vpc("vpc1", "vpc-0a1", "10.0.0.0/16")


# (c) credentials and (d) region


def test_no_credentials_is_one_clear_error():
    expected = r"no AWS credentials found.*aws configure.*nothing was created"
    with pytest.raises(LabError, match=expected) as error:
        open_lab(mode="live", region=REGION)
    assert error.value.__suppress_context__, "one error, not botocore's chain"


def test_unknown_profile_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("LABKIT_PROFILE", "no-such-profile")
    with pytest.raises(LabError, match=r"cannot use AWS profile 'no-such-profile'"):
        open_lab(mode="live", region=REGION)


def test_rejected_credentials_are_one_clear_error(stubs):
    stubs["sts"].add_client_error("get_caller_identity", "InvalidClientTokenId",
                                  "The security token included in the request is invalid.", 403)
    with pytest.raises(LabError, match=r"did not accept your credentials.*InvalidClientTokenId"):
        open_lab(mode="live", session=stubs.session)


def test_unknown_region_is_refused_before_any_call(stubs):
    # No STS answer is queued: reaching AWS at all would fail the Stubber.
    with pytest.raises(LabError, match=r"unknown region 'mars-north-1'"):
        open_lab(mode="live", session=stubs.session, region="mars-north-1")


def test_no_region_at_all_is_one_clear_error():
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    assert session.region_name is None
    with pytest.raises(LabError, match=r"no region set.*LABKIT_REGION"):
        open_lab(mode="live", session=session)


# (e) with_retries


@pytest.fixture
def steady_jitter(monkeypatch):
    """Jitter fixed at its middle, so that each sleep equals the backoff delay."""
    monkeypatch.setattr(retry_module, "random", SimpleNamespace(random=lambda: 0.5))


@pytest.mark.parametrize("code", ["Throttling", "RequestLimitExceeded"])
def test_throttling_is_retried_with_backoff(stubs, steady_jitter, code):
    ec2 = stubs["ec2"]
    for _ in range(3):
        ec2.add_client_error("describe_vpcs", code, "Rate exceeded", 400)
    ec2.add_response("describe_vpcs", {"Vpcs": []})
    sleeps: list[float] = []
    client = stubs.client("ec2")
    assert with_retries(lambda: client.describe_vpcs(), sleep=sleeps.append) == {"Vpcs": []}
    assert sleeps == [0.5, 1.0, 2.0]


def test_other_errors_are_raised_at_once(stubs):
    stubs["ec2"].add_client_error("describe_vpcs", "UnauthorizedOperation", "not allowed", 403)
    sleeps: list[float] = []
    client = stubs.client("ec2")
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        with_retries(lambda: client.describe_vpcs(), retry_on={"InvalidParameterValue"},
                     sleep=sleeps.append)
    assert sleeps == []


def test_after_the_timeout_the_last_error_is_raised(monkeypatch, steady_jitter):
    clock = FakeClock()
    monkeypatch.setattr(retry_module, "time", clock)
    calls = []

    def always_throttled():
        calls.append(clock.now)
        raise _client_error("Throttling", f"attempt {len(calls)}")

    with pytest.raises(ClientError) as error:
        with_retries(always_throttled, timeout_s=5, sleep=clock.sleep)
    assert clock.sleeps == [0.5, 1.0, 2.0]  # the next delay (4 s) would pass the 5 s deadline
    assert error.value.response["Error"]["Message"] == f"attempt {len(calls)}" == "attempt 4"


# (f) IAM eventual consistency: the new instance profile is not visible to EC2 yet

PROFILE = f"{LAB}-ssm-instance"
NOT_YET = (f"Value ({PROFILE}) for parameter iamInstanceProfile.name is invalid. "
           "Invalid IAM Instance Profile name")


def _instance_fixture():
    vpc = Vpc("vpc1", "vpc-0a1", "10.0.0.0/16")
    subnet = PublicSubnet("subnet1", vpc, "subnet-0a1", "10.0.1.0/24", "eu-west-1a", "igw-0a1", "rtb-0a1")
    return subnet, SecurityGroup("sg1", "sg-0a1", "vpc-0a1", "192.168.0.0/16")


def _run_instances_params(subnet, group):
    tags = [{"Key": "Project", "Value": LAB}, {"Key": "ManagedBy", "Value": "labkit"},
            {"Key": "labkit:role", "Value": "instance1"}, {"Key": "Name", "Value": f"{LAB}-instance1"}]
    return {
        "ImageId": "ami-0abc", "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1,
        "SubnetId": subnet.subnet_id, "SecurityGroupIds": [group.id], "PrivateIpAddress": "10.0.1.10",
        "IamInstanceProfile": {"Name": PROFILE},
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "TagSpecifications": [{"ResourceType": kind, "Tags": tags}
                              for kind in ("instance", "volume", "network-interface")],
    }


def _queue_find_and_ami(stubs, attempts: int) -> None:
    filters = [*lab_filter(LAB, "instance1"),
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    stubs["ec2"].add_response("describe_instances", {"Reservations": []}, {"Filters": filters})
    for _ in range(attempts):
        stubs["ssm"].add_response("get_parameter",
                                  {"Parameter": {"Name": AMI_PARAMETER, "Value": "ami-0abc"}},
                                  {"Name": AMI_PARAMETER})


@pytest.fixture
def retry_sleeps(monkeypatch) -> list[float]:
    sleeps: list[float] = []
    monkeypatch.setattr(instances, "with_retries", functools.partial(with_retries, sleep=sleeps.append))
    return sleeps


def test_run_instances_waits_for_the_new_instance_profile(stubs, retry_sleeps):
    subnet, group = _instance_fixture()
    _queue_find_and_ami(stubs, attempts=2)
    ec2 = stubs["ec2"]
    params = _run_instances_params(subnet, group)
    ec2.add_client_error("run_instances", "InvalidParameterValue", NOT_YET, 400, expected_params=params)
    ec2.add_response("run_instances", {"Instances": [{"InstanceId": "i-0a1"}]}, params)
    ec2.add_response("describe_instances", {"Reservations": [{"Instances": [{
        "InstanceId": "i-0a1", "PrivateIpAddress": "10.0.1.10", "SubnetId": subnet.subnet_id,
        "MetadataOptions": {"HttpTokens": "required"}, "SecurityGroups": [{"GroupId": group.id}],
        "NetworkInterfaces": [{"NetworkInterfaceId": "eni-0a1"}]}]}]}, {"InstanceIds": ["i-0a1"]})
    made = ensure_instance(stubs.lab(), subnet, group, PROFILE, quiet=True)
    assert (made.id, made.eni_id, made.private_ip) == ("i-0a1", "eni-0a1", "10.0.1.10")
    assert len(retry_sleeps) == 1


def test_run_instances_other_invalid_parameters_fail_at_once(stubs, retry_sleeps):
    subnet, group = _instance_fixture()
    _queue_find_and_ami(stubs, attempts=1)
    stubs["ec2"].add_client_error("run_instances", "InvalidParameterValue",
                                  "Value (10.0.1.10) for parameter privateIpAddress is invalid.", 400)
    with pytest.raises(ClientError, match="privateIpAddress"):
        ensure_instance(stubs.lab(), subnet, group, PROFILE, quiet=True)
    assert retry_sleeps == []


# (g) pagination


EC2_KINDS = [("describe_flow_logs", "FlowLogs", "Filter"), ("describe_instances", "Reservations", "Filters"),
             ("describe_vpc_peering_connections", "VpcPeeringConnections", "Filters"),
             ("describe_network_interfaces", "NetworkInterfaces", "Filters"),
             ("describe_route_tables", "RouteTables", "Filters"),
             ("describe_network_acls", "NetworkAcls", "Filters"),
             ("describe_security_groups", "SecurityGroups", "Filters"),
             ("describe_subnets", "Subnets", "Filters"),
             ("describe_internet_gateways", "InternetGateways", "Filters"),
             ("describe_vpcs", "Vpcs", "Filters")]
PATH = f"/{LAB}/"
OURS = [{"Key": "Project", "Value": LAB}, {"Key": "ManagedBy", "Value": "labkit"}]
USERS = [{"Key": "Project", "Value": LAB}, {"Key": "Owner", "Value": "someone"}]


def _profile(name):
    return {"Path": PATH, "InstanceProfileName": name, "InstanceProfileId": "AIPAEXAMPLEPROFILE1",
            "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile{PATH}{name}", "CreateDate": WHEN, "Roles": []}


def _role(name):
    return {"Path": PATH, "RoleName": name, "RoleId": "AROAEXAMPLEROLEID1", "CreateDate": WHEN,
            "Arn": f"arn:aws:iam::{ACCOUNT}:role{PATH}{name}"}


def _log_group(name):
    return {"logGroupName": name, "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"}


def _queue_survey(stubs, ec2: dict | None = None, roles=(), groups=(), buckets=()) -> None:
    """Queue the answers of one inventory survey: EC2 by the Project tag, then IAM, Logs, S3,
    each followed by the tag lookups that decide ownership. ``roles``, ``groups``, ``buckets``:
    (name, tags) pairs."""
    ec2 = ec2 or {}
    for operation, key, filter_name in EC2_KINDS:
        stubs["ec2"].add_response(operation, {key: ec2.get(operation, [])},
                                  {filter_name: project_filter(LAB)})
    stubs["iam"].add_response("list_instance_profiles", {"InstanceProfiles": [], "IsTruncated": False},
                              {"PathPrefix": PATH})
    stubs["iam"].add_response("list_roles", {"Roles": [_role(n) for n, _ in roles], "IsTruncated": False},
                              {"PathPrefix": PATH})
    for name, tags in roles:
        stubs["iam"].add_response("list_role_tags", {"Tags": tags, "IsTruncated": False}, {"RoleName": name})
    stubs["logs"].add_response("describe_log_groups", {"logGroups": [_log_group(n) for n, _ in groups]},
                               {"logGroupNamePrefix": PATH})
    for name, tags in groups:
        stubs["logs"].add_response("list_tags_for_resource", {"tags": tags}, {
            "resourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"})
    stubs["glue"].add_client_error("get_database", "EntityNotFoundException", "no such database", 400,
                                   expected_params={"Name": LAB.replace("-", "_")})
    stubs["s3"].add_response("list_buckets", {"Buckets": [{"Name": n} for n, _ in buckets]}, {})
    for name, tags in buckets:
        if tags:
            stubs["s3"].add_response("get_bucket_tagging", {"TagSet": tags}, {"Bucket": name})
        else:
            stubs["s3"].add_client_error("get_bucket_tagging", "NoSuchTagSet", "no tags", 404,
                                         expected_params={"Bucket": name})


def test_inventory_follows_every_page(stubs):
    ec2, iam, logs = stubs["ec2"], stubs["iam"], stubs["logs"]
    for operation, key, filter_name in EC2_KINDS[:-1]:
        ec2.add_response(operation, {key: []}, {filter_name: project_filter(LAB)})
    ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-0a1", "CidrBlock": "10.0.0.0/16",
                                                 "Tags": OURS}]}, {"Filters": project_filter(LAB)})

    def profile_tags(name):
        iam.add_response("list_instance_profile_tags", {"Tags": OURS, "IsTruncated": False},
                         {"InstanceProfileName": name})

    iam.add_response("list_instance_profiles", {"InstanceProfiles": [_profile("p1")], "IsTruncated": True,
                                                "Marker": "m1"}, {"PathPrefix": PATH})
    profile_tags("p1")
    iam.add_response("list_instance_profiles", {"InstanceProfiles": [_profile("p2")], "IsTruncated": False},
                     {"PathPrefix": PATH, "Marker": "m1"})
    profile_tags("p2")
    iam.add_response("list_roles", {"Roles": [_role("r1"), _role("r2")], "IsTruncated": True, "Marker": "m2"},
                     {"PathPrefix": PATH})
    for name in ("r1", "r2"):
        iam.add_response("list_role_tags", {"Tags": OURS, "IsTruncated": False}, {"RoleName": name})
    iam.add_response("list_roles", {"Roles": [_role("r3")], "IsTruncated": False},
                     {"PathPrefix": PATH, "Marker": "m2"})
    iam.add_response("list_role_tags", {"Tags": OURS, "IsTruncated": False}, {"RoleName": "r3"})
    logs.add_response("describe_log_groups", {"logGroups": [_log_group(f"{PATH}a")], "nextToken": "t1"},
                      {"logGroupNamePrefix": PATH})
    logs.add_response("list_tags_for_resource", {"tags": tag_dict(OURS)},
                      {"resourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{PATH}a"})
    logs.add_response("describe_log_groups", {"logGroups": [_log_group(f"{PATH}b")]},
                      {"logGroupNamePrefix": PATH, "nextToken": "t1"})
    logs.add_response("list_tags_for_resource", {"tags": tag_dict(OURS)},
                      {"resourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{PATH}b"})
    stubs["glue"].add_client_error("get_database", "EntityNotFoundException", "no such database", 400,
                                   expected_params={"Name": LAB.replace("-", "_")})
    stubs["s3"].add_response("list_buckets", {"Buckets": [{"Name": f"{LAB}-flowlogs-0a1"},
                                                          {"Name": "someone-elses-bucket"}]}, {})
    stubs["s3"].add_response("get_bucket_tagging", {"TagSet": OURS}, {"Bucket": f"{LAB}-flowlogs-0a1"})

    found = {(o.kind, o.id) for o in inventory_items(stubs.lab())}
    assert found == {("vpc", "vpc-0a1"), ("instance-profile", "p1"), ("instance-profile", "p2"),
                     ("iam-role", "r1"), ("iam-role", "r2"), ("iam-role", "r3"), ("log-group", f"{PATH}a"),
                     ("log-group", f"{PATH}b"), ("s3-bucket", f"{LAB}-flowlogs-0a1")}


# (g2) ownership: only what carries both Project=<lab> and ManagedBy=labkit is the lab's


def _mixed_account(stubs) -> None:
    """The lab's VPC and role beside a user's look-alikes: same Project tag, path, prefixes."""
    _queue_survey(
        stubs,
        ec2={"describe_vpcs": [{"VpcId": "vpc-0a1", "CidrBlock": "10.0.0.0/16", "Tags": OURS},
                               {"VpcId": "vpc-user", "CidrBlock": "10.9.0.0/16", "Tags": USERS}]},
        roles=[(f"{LAB}-flow-logs-delivery", OURS), ("users-role", USERS)],
        groups=[(f"{PATH}users-app", tag_dict(USERS)),
                (f"{PATH}other-lab", {"Project": "other-lab", "ManagedBy": "labkit"}),
                (f"{PATH}no-project", {"ManagedBy": "labkit"})],
        buckets=[(f"{LAB}-flowlogs-users", [])])


def test_live_dry_run_lists_and_deletes_nothing(stubs):
    _mixed_account(stubs)  # and no delete call queued: any would fail the Stubber
    report = stubs.lab(confirmed=False).teardown(progress=False, dry_run=True)
    assert {(o.kind, o.id) for o in report.planned} == {("vpc", "vpc-0a1"),
                                                        ("iam-role", f"{LAB}-flow-logs-delivery")}
    assert report.deleted == []
    why = {f.item.id: f.why for f in report.left_alone}
    assert why == {
        "vpc-user": "not created by labkit: left alone (no ManagedBy=labkit tag)",
        "users-role": "not created by labkit: left alone (no ManagedBy=labkit tag)",
        f"{PATH}users-app": "not created by labkit: left alone (no ManagedBy=labkit tag)",
        f"{LAB}-flowlogs-users": "not created by labkit: left alone (no ManagedBy=labkit tag)",
        f"{PATH}other-lab": "tagged for another lab: left alone (Project=other-lab)",
        f"{PATH}no-project": f"not tagged for this lab: left alone (no Project={LAB} tag)",
    }
    assert repr(report).startswith("dry run: would delete 2 resources; nothing was deleted")


def test_live_teardown_shows_the_list_then_needs_the_confirmed_account(stubs, capsys):
    _mixed_account(stubs)
    with pytest.raises(LabError, match=rf"not confirmed.*\(teardown\).*LABKIT_CONFIRM_ACCOUNT={ACCOUNT}"):
        stubs.lab(confirmed=False).teardown(progress=False)
    out = capsys.readouterr().out
    assert f"account {ACCOUNT}, region {REGION} deletes 2 resources" in out
    assert "vpc vpc-0a1" in out and "left alone: vpc vpc-user" in out


def test_live_teardown_deletes_only_what_carries_both_tags(stubs, capsys):
    _mixed_account(stubs)
    role = f"{LAB}-flow-logs-delivery"
    iam = stubs["iam"]
    iam.add_response("list_attached_role_policies", {"AttachedPolicies": []}, {"RoleName": role})
    iam.add_response("list_role_policies", {"PolicyNames": []}, {"RoleName": role})
    iam.add_response("list_instance_profiles_for_role", {"InstanceProfiles": []}, {"RoleName": role})
    iam.add_response("delete_role", {}, {"RoleName": role})
    stubs["ec2"].add_response("delete_vpc", {}, {"VpcId": "vpc-0a1"})  # and never vpc-user
    report = stubs.lab(confirmed=True).teardown(progress=False)
    assert {o.id for o in report.deleted} == {"vpc-0a1", role}
    assert "left alone: vpc vpc-user" in repr(report)
    assert "Teardown of lab" in capsys.readouterr().out


def test_live_lab_keeps_the_learners_session_so_s3_clients_work():
    """boto3 registers its S3 class injection once per boto3.Session: wrapping the learner's
    botocore session in a second one made every S3 client fail ('Cannot inject class attribute
    "upload_file"'). The lab keeps the learner's session and pins the region per client."""
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                            region_name="us-west-2")
    sts = session.client("sts", region_name=REGION)
    make_client = session.client
    session.client = lambda service, **kw: sts if service == "sts" else make_client(service, **kw)
    with Stubber(sts) as stub:
        stub.add_response("get_caller_identity", {
            "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/learner", "UserId": "AIDEXAMPLE"})
        lab = open_lab(mode="live", session=session, region=REGION, confirm_account=ACCOUNT, quiet=True)
    assert lab.session is session
    s3 = lab.client("s3")
    assert hasattr(s3, "upload_file")
    assert s3.meta.region_name == lab.client("ec2").meta.region_name == REGION


# (h) peering: eventual consistency of the request and its acceptance

PCX = "pcx-0a1"


def _pcx_status(stubs, code: str, message: str = "") -> None:
    stubs["ec2"].add_response("describe_vpc_peering_connections", {"VpcPeeringConnections": [{
        "VpcPeeringConnectionId": PCX, "Status": {"Code": code, "Message": message}}]},
        {"VpcPeeringConnectionIds": [PCX]})


@pytest.fixture
def peering_clock(monkeypatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(wait, "time", clock)  # the one way the steps wait
    return clock


def test_peering_is_accepted_once_pending_and_waited_for(stubs, peering_clock):
    _pcx_status(stubs, "initiating-request")
    _pcx_status(stubs, "pending-acceptance")
    stubs["ec2"].add_response("accept_vpc_peering_connection",
                              {"VpcPeeringConnection": {"VpcPeeringConnectionId": PCX}},
                              {"VpcPeeringConnectionId": PCX})
    _pcx_status(stubs, "provisioning")
    _pcx_status(stubs, "active")
    assert peering.wait_for_peering(stubs.lab(), PCX, quiet=True) == "active"
    assert peering_clock.sleeps == [2, 2, 2]


def test_failed_peering_is_one_clear_error(stubs, peering_clock):
    _pcx_status(stubs, "failed", "Overlapping CIDRs")
    with pytest.raises(LabError, match=rf"peering {PCX} is failed: Overlapping CIDRs"):
        peering.wait_for_peering(stubs.lab(), PCX, quiet=True)


def test_peering_that_never_becomes_active_times_out(stubs, peering_clock):
    for _ in range(4):  # at 0, 2, 4 and 6 s
        _pcx_status(stubs, "initiating-request")
    with pytest.raises(LabError, match=rf"peering {PCX} still initiating-request after 5 s"):
        peering.wait_for_peering(stubs.lab(), PCX, timeout_s=5, quiet=True)


# (i) the cost estimate


def test_cost_estimate_is_a_positive_hourly_figure_shown_before_anything(stubs, capsys):
    stubs.identity()
    open_lab(mode="live", session=stubs.session, confirm_account=ACCOUNT)
    out = capsys.readouterr().out
    shown = re.search(r"about \$(\d+\.\d+) per hour", out)
    assert shown, out
    assert float(shown.group(1)) > 0
    assert float(shown.group(1)) == round(estimate().hourly_usd, 3)
    assert out.index("Estimated cost") < out.index(f"Lab '{LAB}': live")
