"""The offline emulator: a real HTTP endpoint, AWS-shaped errors, and AWS's refusals that moto lacks."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from labkit.emulator import process
from labkit.lab.steps.instances import AMI_PARAMETER


@pytest.fixture
def ec2(fresh_emulator):
    return boto3.client("ec2", endpoint_url=fresh_emulator.endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def _code(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def _vpc(ec2, cidr="10.0.0.0/16"):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def test_health_answers_as_labkit(fresh_emulator):
    assert process.health(fresh_emulator.endpoint)["emulator"] == "labkit"


def test_delete_vpc_with_subnet_is_refused(ec2):
    vpc = _vpc(ec2)
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")
    code, message = _code(lambda: ec2.delete_vpc(VpcId=vpc))
    assert code == "DependencyViolation"
    assert message == f"The vpc '{vpc}' has dependencies and cannot be deleted."


def test_delete_vpc_with_attached_gateway_is_refused(ec2):
    vpc = _vpc(ec2)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    assert _code(lambda: ec2.delete_vpc(VpcId=vpc))[0] == "DependencyViolation"
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_vpc(VpcId=vpc)


def test_delete_vpc_with_custom_security_group_is_refused(ec2):
    vpc = _vpc(ec2)
    ec2.create_security_group(GroupName="x", Description="x", VpcId=vpc)
    assert _code(lambda: ec2.delete_vpc(VpcId=vpc))[0] == "DependencyViolation"


def test_delete_vpc_with_active_peering_is_refused(ec2):
    a, b = _vpc(ec2), _vpc(ec2, "192.168.0.0/16")
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    assert _code(lambda: ec2.delete_vpc(VpcId=a))[0] == "DependencyViolation"
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    ec2.delete_vpc(VpcId=a)


def test_delete_subnet_with_instance_is_refused(ec2):
    vpc = _vpc(ec2)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ssm = boto3.client("ssm", endpoint_url=ec2.meta.endpoint_url, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    ami = ssm.get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1,
                                 SubnetId=subnet)["Instances"][0]["InstanceId"]
    code, message = _code(lambda: ec2.delete_subnet(SubnetId=subnet))
    assert (code, message) == ("DependencyViolation",
                               f"The subnet '{subnet}' has dependencies and cannot be deleted.")
    ec2.terminate_instances(InstanceIds=[instance])
    ec2.delete_subnet(SubnetId=subnet)  # the instance's interface went with it, as on AWS


def test_delete_subnet_with_free_interface_is_refused(ec2):
    vpc = _vpc(ec2)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet)
    assert _code(lambda: ec2.delete_subnet(SubnetId=subnet))[0] == "DependencyViolation"


def test_delete_security_group_in_use_or_referenced_is_refused(ec2):
    vpc = _vpc(ec2)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    used = ec2.create_security_group(GroupName="used", Description="x", VpcId=vpc)["GroupId"]
    ec2.create_network_interface(SubnetId=subnet, Groups=[used])
    code, message = _code(lambda: ec2.delete_security_group(GroupId=used))
    assert (code, message) == ("DependencyViolation", f"resource {used} has a dependent object")

    target = ec2.create_security_group(GroupName="target", Description="x", VpcId=vpc)["GroupId"]
    other = ec2.create_security_group(GroupName="other", Description="x", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": target}]}])
    assert _code(lambda: ec2.delete_security_group(GroupId=target))[0] == "DependencyViolation"


def test_delete_attached_internet_gateway_is_refused(ec2):
    vpc = _vpc(ec2)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    code, message = _code(lambda: ec2.delete_internet_gateway(InternetGatewayId=igw))
    assert (code, message) == ("DependencyViolation",
                               f"The internetGateway '{igw}' has dependencies and cannot be deleted.")


def test_peering_between_overlapping_cidrs_fails_as_on_aws(ec2):
    a, b = _vpc(ec2), _vpc(ec2, "10.0.128.0/17")
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]
    pcx_id = pcx["VpcPeeringConnectionId"]
    found = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx_id])
    assert found["VpcPeeringConnections"][0]["Status"]["Code"] == "failed"
    code, _ = _code(lambda: ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id))
    assert code == "InvalidStateTransition"


def test_emulator_errors_are_aws_shaped_not_tracebacks(ec2):
    code, message = _code(lambda: ec2.delete_vpc(VpcId="vpc-0000000000000000f"))
    assert code == "InvalidVpcID.NotFound"
    assert "Traceback" not in message


def test_port_in_use_is_one_clear_line(fresh_emulator):
    port = fresh_emulator.endpoint.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "labkit.emulator", "--port", port],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"labkit emulator: port {port} on 127.0.0.1 is already in use: choose another with "
        "--port (or --port 0 for a free one)"]


def test_foreground_emulator_stops_cleanly_on_sigterm(tmp_path):
    state = tmp_path / "emulator.json"
    child = subprocess.Popen([sys.executable, "-m", "labkit.emulator", "--port", "0",
                              "--state-file", str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert "labkit emulator on http://127.0.0.1:" in child.stdout.readline()
        child.terminate()
        out, _ = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 0
    assert "stopped: SIGTERM" in out
    assert not state.exists()


def test_idle_emulator_stops_by_itself(tmp_path):
    result = subprocess.run([sys.executable, "-m", "labkit.emulator", "--port", "0",
                             "--idle-seconds", "0.5"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "stopped: idle for" in result.stdout


def test_shared_emulator_start_status_stop():
    first = process.start()
    again = process.start()
    assert again.endpoint == first.endpoint
    assert process.status().pid == first.pid
    assert process.stop() is True
    assert process.status() is None


def test_peering_filters_are_honoured(ec2):
    # moto 5.2.5 drops them; a lab finding its peering by tag must not see a stranger's.
    a, b, c = _vpc(ec2), _vpc(ec2, "192.168.0.0/16"), _vpc(ec2, "172.16.0.0/16")
    mine = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b, TagSpecifications=[
        {"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "Project", "Value": "mine"}]}])
    ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=c)
    mine_id = mine["VpcPeeringConnection"]["VpcPeeringConnectionId"]

    def ids(*filters):
        found = ec2.describe_vpc_peering_connections(Filters=list(filters))["VpcPeeringConnections"]
        return [p["VpcPeeringConnectionId"] for p in found]

    assert ids({"Name": "tag:Project", "Values": ["mine"]}) == [mine_id]
    assert ids({"Name": "accepter-vpc-info.vpc-id", "Values": [b]}) == [mine_id]
    assert ids({"Name": "tag:Project", "Values": ["mine"]},
               {"Name": "status-code", "Values": ["active"]}) == []
    assert len(ids()) == 2
