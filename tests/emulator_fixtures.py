"""The lab built with plain boto3, shared by the emulator tests and the delivery benchmark.

A plain module (no pytest): ``benchmarks/bench_delivery.py`` imports it too.
"""

from __future__ import annotations

import json

import boto3

from labkit.flowlogs import LAB_FORMAT, parse_format

FIELDS = parse_format(LAB_FORMAT)
GROUP = "/lab/vpc-flow-logs"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"},
                      "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"}},
    }],
}  # fmt: skip
PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                   "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
        "Resource": "*",
    }],
}  # fmt: skip


def clients(endpoint: str | None = None) -> dict:
    """boto3 clients for the lab's services, on ``endpoint`` (None: boto3's own, e.g. under moto)."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name="us-east-1")
    return {s: session.client(s, endpoint_url=endpoint) for s in ("ec2", "ssm", "logs", "iam", "s3")}


def build_lab(c: dict, *, flow_log_format: str = LAB_FORMAT, role_trust: dict = TRUST,
              flow_logs: bool = True) -> dict:
    """Steps 1-7 of the lab with plain boto3: two peered VPCs, an instance each, flow logs."""
    ec2 = c["ec2"]
    ami = c["ssm"].get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    lab: dict = {}
    for side, cidr, subnet_cidr, peer, ip in (
        ("a", "10.0.0.0/16", "10.0.1.0/24", "192.168.0.0/16", "10.0.1.10"),
        ("b", "192.168.0.0/16", "192.168.1.0/24", "10.0.0.0/16", "192.168.1.10"),
    ):
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
        sg = ec2.create_security_group(GroupName=f"lab-{side}", Description="lab", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": peer}]}])
        instance = ec2.run_instances(
            ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet,
            PrivateIpAddress=ip, SecurityGroupIds=[sg])["Instances"][0]
        lab[side] = {"vpc": vpc, "subnet": subnet, "rtb": rtb, "sg": sg, "ip": ip,
                     "instance": instance["InstanceId"],
                     "eni": instance["NetworkInterfaces"][0]["NetworkInterfaceId"]}
    pcx = ec2.create_vpc_peering_connection(VpcId=lab["a"]["vpc"], PeerVpcId=lab["b"]["vpc"])
    pcx_id = pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    ec2.create_route(RouteTableId=lab["a"]["rtb"], DestinationCidrBlock="192.168.0.0/16",
                     VpcPeeringConnectionId=pcx_id)
    ec2.create_route(RouteTableId=lab["b"]["rtb"], DestinationCidrBlock="10.0.0.0/16",
                     VpcPeeringConnectionId=pcx_id)
    role = c["iam"].create_role(RoleName="lab-flow-logs", AssumeRolePolicyDocument=json.dumps(role_trust))
    c["iam"].put_role_policy(RoleName="lab-flow-logs", PolicyName="deliver",
                             PolicyDocument=json.dumps(PERMISSIONS))
    lab["role_arn"] = role["Role"]["Arn"]
    c["logs"].create_log_group(logGroupName=GROUP)
    if flow_logs:
        answer = ec2.create_flow_logs(
            ResourceIds=[lab["a"]["vpc"], lab["b"]["vpc"]], ResourceType="VPC", TrafficType="ALL",
            LogDestinationType="cloud-watch-logs", LogGroupName=GROUP,
            DeliverLogsPermissionArn=lab["role_arn"], LogFormat=flow_log_format, MaxAggregationInterval=60)
        assert not answer["Unsuccessful"], answer
        lab["flow_logs"] = answer["FlowLogIds"]
    return lab


def run(c: dict, instance_id: str, *commands: str) -> dict:
    """SendCommand (AWS-RunShellScript) and the invocation's result."""
    sent = c["ssm"].send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                                 Parameters={"commands": list(commands)})
    assert sent["Command"]["Status"] in ("Pending", "InProgress")
    return c["ssm"].get_command_invocation(CommandId=sent["Command"]["CommandId"], InstanceId=instance_id)


def records(c: dict, group: str = GROUP, **kw) -> list[dict]:
    """Every FilterLogEvents event of a group (the lab's), split into the lab format's fields."""
    events, token = [], None
    while True:
        more = {"nextToken": token} if token else {}
        page = c["logs"].filter_log_events(logGroupName=group, **kw, **more)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    out = []
    for e in events:
        rec = dict(zip(FIELDS, e["message"].split(" "), strict=True))
        rec["@stream"], rec["@timestamp"] = e["logStreamName"], e["timestamp"]
        out.append(rec)
    return out
