"""DescribeVpcPeeringConnections filters, and EC2's answer to a filter name it does not know.

Pages: "DescribeVpcPeeringConnections - Amazon Elastic Compute Cloud" (EC2 API Reference,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcPeeringConnections.html), whose
Filters list is the table below; "VpcPeeringConnection" (API_VpcPeeringConnection.html: expirationTime
is "the time that an unaccepted VPC peering connection will expire"); and for an unknown filter name,
EC2's InvalidParameterValue "The filter '<name>' is invalid" ("Error codes for the Amazon EC2 API",
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html, and the answer quoted in
https://github.com/boto/boto3/issues/1299).
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator_fixtures import clients

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def peerings(emulator):
    """An active peering 10.0/16 -> 192.168/16 tagged Role=lab, and a pending one 172.16/16 -> 10.1/16
    tagged Owner=someone-else."""
    emulator.reset()
    ec2 = clients(emulator.endpoint)["ec2"]
    vpcs = {cidr: ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            for cidr in ("10.0.0.0/16", "192.168.0.0/16", "172.16.0.0/16", "10.1.0.0/16")}

    def peer(requester, accepter, tag):
        pcx = ec2.create_vpc_peering_connection(VpcId=vpcs[requester], PeerVpcId=vpcs[accepter],
                                                TagSpecifications=[{"ResourceType": "vpc-peering-connection",
                                                                    "Tags": [tag]}])
        return pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"]

    active = peer("10.0.0.0/16", "192.168.0.0/16", {"Key": "Role", "Value": "lab"})
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=active)
    pending = peer("172.16.0.0/16", "10.1.0.0/16", {"Key": "Owner", "Value": "someone-else"})
    return ec2, vpcs, active, pending


def _found(ec2, name: str, *values: str) -> set[str]:
    answer = ec2.describe_vpc_peering_connections(Filters=[{"Name": name, "Values": list(values)}])
    return {p["VpcPeeringConnectionId"] for p in answer["VpcPeeringConnections"]}


@pytest.mark.parametrize(("name", "values", "finds"), [
    ("requester-vpc-info.cidr-block", ["10.0.0.0/16"], "active"),
    ("requester-vpc-info.cidr-block", ["172.16.0.0/16"], "pending"),
    ("accepter-vpc-info.cidr-block", ["192.168.0.0/16"], "active"),
    ("accepter-vpc-info.cidr-block", ["10.1.0.0/16", "192.168.0.0/16"], "both"),
    ("requester-vpc-info.vpc-id", ["vpc:10.0.0.0/16"], "active"),
    ("accepter-vpc-info.vpc-id", ["vpc:10.1.0.0/16"], "pending"),
    ("requester-vpc-info.owner-id", [ACCOUNT], "both"),
    ("accepter-vpc-info.owner-id", ["210987654321"], "none"),
    ("status-code", ["active"], "active"),
    ("status-code", ["pending-acceptance"], "pending"),
    ("tag:Role", ["lab"], "active"),
    ("tag:Role", ["someone-else"], "none"),
    ("tag-key", ["Owner"], "pending"),
    ("vpc-peering-connection-id", ["pcx:pending"], "pending"),
])
def test_each_documented_filter_selects_its_connections(peerings, name, values, finds):
    """Each filter of the reference's list keeps the connections whose field has one of the values."""
    ec2, vpcs, active, pending = peerings
    ids = {"active": {active}, "pending": {pending}, "both": {active, pending}, "none": set()}
    values = [vpcs[v[4:]] if v.startswith("vpc:") else pending if v == "pcx:pending" else v for v in values]
    assert _found(ec2, name, *values) == ids[finds]


def test_status_message_filter(peerings):
    """status-message: "a message that provides more information about the status"."""
    ec2, _, active, pending = peerings
    message = {p["VpcPeeringConnectionId"]: p["Status"]["Message"]
               for p in ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]}
    assert message[active] != message[pending]
    assert _found(ec2, "status-message", message[active]) == {active}


def test_expiration_time_filter_finds_no_accepted_connection(peerings):
    """expiration-time is a documented filter; an accepted connection has no expiration time."""
    ec2, _, active, _ = peerings
    assert active not in _found(ec2, "expiration-time", "2030-01-01T00:00:00.000Z")


def test_filters_combine_with_and_and_values_with_or(peerings):
    """"If you specify multiple filters, the filters are joined with an AND"; "If you specify multiple
    values for a filter, the values are joined with an OR" ("Filter - Amazon Elastic Compute Cloud",
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Filter.html)."""
    ec2, _, active, _ = peerings
    answer = ec2.describe_vpc_peering_connections(Filters=[
        {"Name": "status-code", "Values": ["active", "pending-acceptance"]},
        {"Name": "tag:Role", "Values": ["lab"]},
    ])
    assert [p["VpcPeeringConnectionId"] for p in answer["VpcPeeringConnections"]] == [active]


@pytest.mark.parametrize(("describe", "name"), [
    ("describe_vpc_peering_connections", "requester-cidr"),
    ("describe_vpcs", "public-ip"),
    ("describe_instances", "tag"),
    ("describe_flow_logs", "vpc-id"),
])
def test_an_unknown_filter_name_is_invalid_parameter_value(peerings, describe, name):
    """A name the reference does not list for the call: InvalidParameterValue, "The filter '<name>' is
    invalid" (a bare "tag" is not a filter: "tag:<key>" is)."""
    ec2 = peerings[0]
    argument = "Filter" if describe == "describe_flow_logs" else "Filters"
    with pytest.raises(ClientError) as caught:
        getattr(ec2, describe)(**{argument: [{"Name": name, "Values": ["x"]}]})
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidParameterValue", f"The filter '{name}' is invalid")
