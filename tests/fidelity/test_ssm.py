"""Run Command and managed nodes in the emulator, point by point against the Systems Manager docs.

Pages (AWS Systems Manager API Reference, https://docs.aws.amazon.com/systems-manager/latest/APIReference/):
"SendCommand" (API_SendCommand.html), "Command" (API_Command.html), "Target" (API_Target.html),
"ListCommands" (API_ListCommands.html), "ListCommandInvocations" (API_ListCommandInvocations.html),
"GetCommandInvocation" (API_GetCommandInvocation.html), "DescribeInstanceInformation"
(API_DescribeInstanceInformation.html), "InstanceInformation" (API_InstanceInformation.html); and the
CLI example "Use SendCommand with an AWS SDK or CLI"
(https://docs.aws.amazon.com/code-library/latest/ug/ssm_example_ssm_SendCommand_section.html).
"""

from __future__ import annotations

import re
import time

import pytest
from botocore.exceptions import ClientError

from tests.emulator_fixtures import build_lab, clients

SHELL = "AWS-RunShellScript"
PING_B = "ping -c 1 192.168.1.10"


@pytest.fixture(scope="module")
def lab(emulator):
    """Two instances, a tagged "web" (side a) and an untagged one (side b); no flow logs needed."""
    emulator.reset()
    c = clients(emulator.endpoint)
    built = build_lab(c, flow_logs=False)
    c["ec2"].create_tags(Resources=[built["a"]["instance"]], Tags=[{"Key": "Role", "Value": "web"}])
    return c["ssm"], c["ec2"], built


def _send(ssm, **kw) -> dict:
    return ssm.send_command(DocumentName=SHELL, Parameters={"commands": [PING_B]}, **kw)["Command"]


def _code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_send_command_echoes_the_request_as_pending(lab):
    """SendCommand answers "the request as it was received": the InstanceIds given (once each, never
    another instance), Targets [], Status and StatusDetails Pending, TargetCount 1, nothing completed,
    and ExpiresAfter two hours after RequestedDateTime (the CLI example: 1550181014.717 - 1550173814.717,
    the 3600 s delivery timeout plus the document's 3600 s executionTimeout)."""
    ssm, _, built = lab
    given = [built["a"]["instance"]]
    sent = _send(ssm, InstanceIds=given, Comment="fidelity")
    assert given == [built["a"]["instance"]]  # the caller's list is left alone
    assert sent["InstanceIds"] == given and sent["Targets"] == []
    assert (sent["Status"], sent["StatusDetails"]) == ("Pending", "Pending")
    counts = ("TargetCount", "CompletedCount", "ErrorCount", "DeliveryTimedOutCount")
    assert [sent[k] for k in counts] == [1, 0, 0, 0]
    assert (sent["DocumentName"], sent["Comment"], sent["Parameters"]) == (SHELL, "fidelity",
                                                                          {"commands": [PING_B]})
    assert (sent["MaxConcurrency"], sent["MaxErrors"], sent["ServiceRole"]) == ("50", "0", "")
    assert sent["NotificationConfig"] == {"NotificationArn": "", "NotificationEvents": [],
                                          "NotificationType": ""}
    assert sent["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}
    assert (sent["ExpiresAfter"] - sent["RequestedDateTime"]).total_seconds() == 7200
    assert len(sent["CommandId"]) == 36  # Command: "Length Constraints: Fixed length of 36"


def test_an_instance_ids_target_is_echoed_as_instance_ids(lab):
    """The CLI example sends --targets Key=instanceids,Values=i-... and gets the id back in InstanceIds,
    with Targets [] and TargetCount 1."""
    ssm, _, built = lab
    sent = _send(ssm, Targets=[{"Key": "instanceids", "Values": [built["b"]["instance"]]}])
    assert (sent["InstanceIds"], sent["Targets"], sent["TargetCount"]) == ([built["b"]["instance"]], [], 1)


def test_tag_targets_run_on_the_matching_instances(lab):
    """Target: "tag:<tag-key>" selects the managed nodes carrying that tag with one of the values,
    "tag-key" those carrying the key; the echo keeps Targets as given."""
    ssm, _, built = lab
    by_tag = _send(ssm, Targets=[{"Key": "tag:Role", "Values": ["web", "db"]}])
    assert (by_tag["Targets"], by_tag["InstanceIds"], by_tag["TargetCount"]) == (
        [{"Key": "tag:Role", "Values": ["web", "db"]}], [], 1)
    ran = ssm.list_command_invocations(CommandId=by_tag["CommandId"])["CommandInvocations"]
    assert [i["InstanceId"] for i in ran] == [built["a"]["instance"]]
    by_key = _send(ssm, Targets=[{"Key": "tag-key", "Values": ["Role"]}])
    assert by_key["TargetCount"] == 1
    nobody = _send(ssm, Targets=[{"Key": "tag:Role", "Values": ["db"]}])
    assert nobody["TargetCount"] == 0


def test_list_commands_shows_the_final_status_and_counts(lab):
    """ListCommands: the command with its final Status, CompletedCount and ErrorCount ("the number of
    targets for which the status is Failed"), filtered by CommandId, InstanceId or a Status filter."""
    ssm, _, built = lab
    ok = _send(ssm, InstanceIds=[built["a"]["instance"]])
    both = [built["a"]["instance"], built["b"]["instance"]]
    failed = ssm.send_command(DocumentName=SHELL, InstanceIds=both,
                              Parameters={"commands": ["false"]})["Command"]
    (listed,) = ssm.list_commands(CommandId=ok["CommandId"])["Commands"]
    assert (listed["Status"], listed["CompletedCount"], listed["ErrorCount"], listed["TargetCount"]) == (
        "Success", 1, 0, 1)
    assert listed["InstanceIds"] == [built["a"]["instance"]]
    (bad,) = ssm.list_commands(CommandId=failed["CommandId"])["Commands"]
    assert (bad["Status"], bad["StatusDetails"], bad["CompletedCount"], bad["ErrorCount"]) == (
        "Failed", "Failed", 2, 2)
    on_b = {c["CommandId"] for c in ssm.list_commands(InstanceId=built["b"]["instance"])["Commands"]}
    assert failed["CommandId"] in on_b and ok["CommandId"] not in on_b
    failures = {c["CommandId"] for c in ssm.list_commands(Filters=[{"key": "Status", "value": "Failed"}])[
        "Commands"]}
    assert failed["CommandId"] in failures and ok["CommandId"] not in failures


def test_list_commands_time_filters_and_pages(lab):
    """CommandFilter InvokedAfter/InvokedBefore take a timestamp like 2024-07-07T00:00:00Z; MaxResults
    and NextToken page through the list."""
    ssm, _, built = lab
    sent = _send(ssm, InstanceIds=[built["a"]["instance"]])
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    after = ssm.list_commands(Filters=[{"key": "InvokedAfter", "value": later}])["Commands"]
    before = ssm.list_commands(Filters=[{"key": "InvokedBefore", "value": later}])["Commands"]
    assert after == [] and sent["CommandId"] in {c["CommandId"] for c in before}
    every = [c["CommandId"] for c in ssm.list_commands()["Commands"]]
    paged = [c["CommandId"] for page in ssm.get_paginator("list_commands").paginate(
        PaginationConfig={"PageSize": 2}) for c in page["Commands"]]
    assert paged == every and len(every) > 2


def test_unknown_command_id_and_filter_key_are_refused(lab):
    """ListCommands and ListCommandInvocations list InvalidCommandId and InvalidFilterKey among their
    errors; ExecutionStage is a filter for ListCommands only."""
    ssm, _, _ = lab
    unknown = "00000000-0000-0000-0000-000000000000"
    assert _code(lambda: ssm.list_commands(CommandId=unknown)) == "InvalidCommandId"
    assert _code(lambda: ssm.list_command_invocations(CommandId=unknown)) == "InvalidCommandId"
    assert _code(lambda: ssm.list_command_invocations(
        Filters=[{"key": "ExecutionStage", "value": "Complete"}])) == "InvalidFilterKey"


def test_list_command_invocations_details_give_the_plugin_output(lab):
    """ListCommandInvocations: one invocation per instance; with Details=True each has its
    CommandPlugins (aws:runShellScript, ResponseCode, Output), without Details none. GetCommandInvocation
    tells the same story for the same invocation."""
    ssm, _, built = lab
    sent = _send(ssm, InstanceIds=[built["a"]["instance"]])
    (plain,) = ssm.list_command_invocations(CommandId=sent["CommandId"])["CommandInvocations"]
    assert plain["CommandPlugins"] == []
    (detailed,) = ssm.list_command_invocations(CommandId=sent["CommandId"], Details=True)[
        "CommandInvocations"]
    (plugin,) = detailed["CommandPlugins"]
    got = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=built["a"]["instance"])
    assert (plugin["Name"], plugin["Status"], plugin["ResponseCode"]) == ("aws:runShellScript", "Success", 0)
    assert "1 packets transmitted, 1 received" in plugin["Output"]
    assert plugin["Output"].startswith(got["StandardOutputContent"][:200])
    assert (detailed["Status"], got["Status"], got["ResponseCode"]) == ("Success", "Success", 0)
    assert (detailed["DocumentName"], got["DocumentName"], got["PluginName"]) == (
        SHELL, SHELL, "aws:runShellScript")
    assert detailed["RequestedDateTime"] == sent["RequestedDateTime"]


def test_describe_instance_information_lists_the_running_instances_online(lab):
    """DescribeInstanceInformation: each managed node with PingStatus Online, PlatformType Linux,
    ResourceType EC2Instance, its private IPAddress and an AgentVersion of AWS's pattern (the CLI
    example in the reference shows the same fields)."""
    ssm, _, built = lab
    nodes = {n["InstanceId"]: n for n in ssm.describe_instance_information()["InstanceInformationList"]}
    assert set(nodes) == {built["a"]["instance"], built["b"]["instance"]}
    a = nodes[built["a"]["instance"]]
    assert (a["PingStatus"], a["PlatformType"], a["ResourceType"], a["IPAddress"]) == (
        "Online", "Linux", "EC2Instance", built["a"]["ip"])
    assert (a["SourceId"], a["SourceType"]) == (built["a"]["instance"], "AWS::EC2::Instance")
    assert re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6}){2,3}", a["AgentVersion"])


def test_describe_instance_information_filters(lab):
    """Filters (tag:<key>, tag-key, PingStatus, InstanceIds) and the deprecated
    InstanceInformationFilterList narrow the list; an unknown key is InvalidFilterKey and an instance id
    that names no instance is InvalidInstanceId ("If you specify an instance ID that is not valid ...
    you receive an error")."""
    ssm, _, built = lab

    def ids(**kw):
        return [n["InstanceId"] for n in ssm.describe_instance_information(**kw)["InstanceInformationList"]]

    a = built["a"]["instance"]
    assert ids(Filters=[{"Key": "tag:Role", "Values": ["web"]}]) == [a]
    assert ids(Filters=[{"Key": "tag-key", "Values": ["Role"]}]) == [a]
    assert ids(Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}]) == []
    assert ids(InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [a]}]) == [a]
    assert _code(lambda: ids(Filters=[{"Key": "Colour", "Values": ["x"]}])) == "InvalidFilterKey"
    assert _code(lambda: ids(Filters=[{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}])) == (
        "InvalidInstanceId")


def test_a_stopped_instance_loses_its_connection_and_takes_no_commands(fresh_emulator):
    """A stopped node shows PingStatus ConnectionLost; SendCommand to it is InvalidInstanceId ("not in
    a valid state")."""
    c = clients(fresh_emulator.endpoint)
    built = build_lab(c, flow_logs=False)
    c["ec2"].stop_instances(InstanceIds=[built["b"]["instance"]])
    nodes = {n["InstanceId"]: n["PingStatus"]
             for n in c["ssm"].describe_instance_information()["InstanceInformationList"]}
    assert nodes == {built["a"]["instance"]: "Online", built["b"]["instance"]: "ConnectionLost"}
    assert _code(lambda: _send(c["ssm"], InstanceIds=[built["b"]["instance"]])) == "InvalidInstanceId"


def test_documents_other_than_run_shell_script_fail_loudly(lab):
    """Offline the emulator runs only AWS-RunShellScript (README, "Where offline differs from AWS"):
    another document is refused with a message that names it, never a silent fake Success."""
    ssm, _, built = lab
    with pytest.raises(ClientError) as caught:
        ssm.send_command(DocumentName="AWS-UpdateSSMAgent", InstanceIds=[built["a"]["instance"]])
    assert "AWS-UpdateSSMAgent" in caught.value.response["Error"]["Message"]
