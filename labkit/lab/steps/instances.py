"""Step 3b: one small instance per public subnet, reachable through SSM only.

Amazon Linux 2023 resolved through AWS's public SSM parameter, IMDSv2 required,
and an instance profile for Systems Manager, so that no SSH key or port is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from labkit.errors import LabError
from labkit.lab.names import PRIVATE_IPS, iam_path, instance_role_name
from labkit.lab.retry import with_retries
from labkit.lab.steps.common import check, find_or_create, say
from labkit.lab.steps.once import once_per_build
from labkit.lab.steps.security_groups import SecurityGroup, ensure_security_group
from labkit.lab.steps.subnets import PublicSubnet, ensure_public_subnets
from labkit.lab.tags import lab_filter
from labkit.lab.wait import Pace, Pending, wait_until

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
INSTANCE_TYPE = "t3.micro"
SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
RUNNING_PACE = Pace(timeout_s=300, interval_s=0.1, live_interval_s=2)


@dataclass(frozen=True)
class Instance:
    """One lab instance: its addresses, network interface, subnet and security group."""

    role: str
    id: str
    private_ip: str
    public_ip: str | None
    eni_id: str
    subnet_id: str
    security_group_id: str


@dataclass(frozen=True)
class Instances:
    """The instance in VPC 1's subnet and the one in VPC 2's."""

    instance1: Instance
    instance2: Instance


def ensure_instance_profile(lab, quiet: bool = False) -> str:
    """An instance profile whose role lets Systems Manager run commands on the instance."""
    iam = lab.client("iam")
    name = instance_role_name(lab)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    try:
        iam.get_role(RoleName=name)
        created = False
    except iam.exceptions.NoSuchEntityException:
        lab.require_write("creating the instance role")
        iam.create_role(RoleName=name, Path=iam_path(lab), Tags=lab.tags("ssm-instance"),
                        AssumeRolePolicyDocument=json.dumps(trust),
                        Description="flowlogs lab: lets SSM run commands on the lab instances")
        created = True
    iam.attach_role_policy(RoleName=name, PolicyArn=SSM_POLICY_ARN)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except iam.exceptions.NoSuchEntityException:
        profile = iam.create_instance_profile(InstanceProfileName=name, Path=iam_path(lab),
                                              Tags=lab.tags("ssm-instance"))["InstanceProfile"]
    if not any(r["RoleName"] == name for r in profile.get("Roles", [])):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    say(quiet, "instance profile", name, "AmazonSSMManagedInstanceCore", created)
    return name


def latest_ami(lab) -> str:
    return lab.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]


def ensure_instance(lab, subnet: PublicSubnet, group: SecurityGroup, profile: str,
                    quiet: bool = False) -> Instance:
    ec2 = lab.client("ec2")
    n = subnet.vpc.role[-1]
    role = f"instance{n}"

    def find():
        filters = [*lab_filter(lab.name, role), {"Name": "instance-state-name", "Values": LIVE_STATES}]
        reservations = ec2.describe_instances(Filters=filters)["Reservations"]
        return [i for r in reservations for i in r["Instances"]]

    def create():
        tags = lab.tags(role)
        # Right after CreateInstanceProfile, EC2 may not see the profile yet (IAM is eventually
        # consistent): retry for a while instead of failing the step.
        return with_retries(lambda: ec2.run_instances(
            ImageId=latest_ami(lab), InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1,
            SubnetId=subnet.subnet_id, SecurityGroupIds=[group.id],
            PrivateIpAddress=PRIVATE_IPS[subnet.vpc.role],
            IamInstanceProfile={"Name": profile},
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            TagSpecifications=[{"ResourceType": kind, "Tags": tags}
                               for kind in ("instance", "volume", "network-interface")],
        )["Instances"][0], retry_on=_profile_not_ready, timeout_s=90)

    instance, created = find_or_create(lab, role, find, create)
    return _described(lab, instance["InstanceId"], role, created, quiet)


def _profile_not_ready(error: ClientError) -> bool:
    # AWS says "... parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name".
    message = error.response["Error"].get("Message", "").lower()
    return error.response["Error"]["Code"] == "InvalidParameterValue" and "profile" in message


def _described(lab, instance_id: str, role: str, created: bool, quiet: bool) -> Instance:
    ec2 = lab.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    check(instance["MetadataOptions"]["HttpTokens"] == "required",
          f"{instance_id} does not require IMDSv2")
    eni = instance["NetworkInterfaces"][0]
    result = Instance(role, instance_id, instance["PrivateIpAddress"],
                      instance.get("PublicIpAddress"), eni["NetworkInterfaceId"],
                      instance["SubnetId"], instance["SecurityGroups"][0]["GroupId"])
    detail = f"{result.private_ip} / public {result.public_ip or '-'}"
    say(quiet, f"instance {role[-1]}", instance_id, detail, created)
    return result


def wait_running(lab, instance_ids: list[str], timeout_s: float | None = None, quiet: bool = False):
    """Wait until every instance is running, with a progress bar."""
    ec2 = lab.client("ec2")

    def all_running():
        reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
        states = {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}
        bad = {i: s for i, s in states.items() if s not in ("pending", "running")}
        if bad:
            raise LabError(f"instances did not start: {bad}")
        running = sum(state == "running" for state in states.values())
        return True if running == len(instance_ids) else Pending(f"{running}/{len(instance_ids)}")

    wait_until(all_running, mode=lab.mode, pace=RUNNING_PACE, timeout_s=timeout_s, progress=not quiet,
               done=f"{len(instance_ids)}/{len(instance_ids)}", what="instances running",
               advice="look at the instances' state reason in the EC2 console (DescribeInstances)")


@once_per_build
def ensure_instances(lab, quiet: bool = False) -> Instances:
    """A security group, the SSM instance profile and a running instance in each public subnet."""
    subnets = ensure_public_subnets(lab, quiet=True)
    groups = [ensure_security_group(lab, s.vpc, quiet=quiet) for s in (subnets.subnet1, subnets.subnet2)]
    profile = ensure_instance_profile(lab, quiet=quiet)
    made = [ensure_instance(lab, s, g, profile, quiet=quiet)
            for s, g in zip((subnets.subnet1, subnets.subnet2), groups, strict=True)]
    wait_running(lab, [i.id for i in made], quiet=quiet)
    # Public addresses are assigned once running: describe again for the final record.
    final = [_described(lab, i.id, i.role, False, quiet=True) for i in made]
    for instance in final:
        check(instance.public_ip is not None, f"{instance.id} has no public IPv4 address")
    return Instances(*final)
