"""What Run Command remembers: ``ListCommands``, ``ListCommandInvocations``, ``GetCommandInvocation``.

Answered from the commands :mod:`ssm_commands` ran, in the shapes of the Systems Manager API
reference (data types ``Command``, ``CommandInvocation``, ``CommandPlugin``). Offline a command has
finished when SendCommand returns, so every read shows its final status: Success when the script
exits 0, Failed otherwise (``ResponseCode`` = exit code); boto3's ``command_executed`` waiter sleeps
5 s after an InProgress, so no InProgress is ever shown. The three reads always agree: one command,
one invocation per instance it ran on, one ``aws:runShellScript`` plugin per invocation.

Filters (``CommandFilter``): ``InvokedAfter``, ``InvokedBefore``, ``Status``, ``DocumentName``, and
``ExecutionStage`` for ListCommands only; another key is ``InvalidFilterKey``. An unknown command id
is ``InvalidCommandId``; pages follow ``MaxResults``/``NextToken``; the newest command comes first.
"""

from __future__ import annotations

import datetime as dt

from labkit.emulator import paging
from labkit.emulator.awsproto import AwsError, Call, json_body
from labkit.emulator.hooks import before
from labkit.emulator.ssm_commands import (
    EMPTY_CLOUDWATCH_OUTPUT,
    EMPTY_NOTIFICATION,
    RUN_SHELL_SCRIPT,
    STATE,
    Command,
    Invocation,
    command_dict,
)

PLUGIN = "aws:runShellScript"
OUTPUT_LIMIT = 24000  # GetCommandInvocation's StandardOutputContent / StandardErrorContent
PLUGIN_OUTPUT_LIMIT = 2500  # CommandPlugin's Output
_COMMAND_KEYS = {"InvokedAfter", "InvokedBefore", "Status", "DocumentName", "ExecutionStage"}
_INVOCATION_KEYS = _COMMAND_KEYS - {"ExecutionStage"}


def _iso(t: float) -> str:
    stamp = dt.datetime.fromtimestamp(t, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _command(command_id: str | None) -> Command | None:
    if command_id is None:
        return None
    found = STATE.commands.get(command_id)
    if found is None:
        raise AwsError("InvalidCommandId", "")
    return found


def _time(value: str) -> float:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise AwsError("ValidationException",
                       f"{value!r} is not a timestamp like 2024-07-07T00:00:00Z.") from None


def _keep(filters: list[dict], allowed: set[str], requested: float, document: str, status: str,
          details: str) -> bool:
    """Whether a command or invocation passes every filter (CommandFilter, API reference)."""
    for f in filters:
        key, value = f.get("key", ""), f.get("value", "")
        if key not in allowed:
            raise AwsError("InvalidFilterKey", f"The filter key {key} is not valid here.")
        if key == "InvokedAfter" and requested < _time(value):
            return False
        if key == "InvokedBefore" and requested > _time(value):
            return False
        if key == "DocumentName" and document != value:
            return False
        if key == "Status" and value not in (status, details):
            return False
        if key == "ExecutionStage" and value != "Complete":  # offline, every command has completed
            return False
    return True


def _limit(call: Call) -> int:
    return int(call.params.get("MaxResults") or 50)


@before("ssm", "ListCommands")
def list_commands(call: Call):
    only = _command(call.params.get("CommandId"))
    instance_id = call.params.get("InstanceId")
    filters = call.params.get("Filters") or []
    found = [
        command_dict(c) for c in reversed(STATE.commands.values())
        if (only is None or c is only) and (instance_id is None or instance_id in c.ran_on)
        and _keep(filters, _COMMAND_KEYS, c.requested, c.request["DocumentName"], c.status, c.status_details)
    ]  # fmt: skip
    shown, token = paging.page(found, call.params.get("NextToken"), _limit(call))
    return json_body({"Commands": shown, **({"NextToken": token} if token else {})})


def _plugin(inv: Invocation, region: str, command: Command) -> dict:
    p = command.request
    return {
        "Name": PLUGIN, "Status": inv.status, "StatusDetails": inv.status, "ResponseCode": inv.exit_code,
        "ResponseStartDateTime": inv.requested, "ResponseFinishDateTime": inv.requested + inv.duration_s,
        "Output": (inv.stdout + inv.stderr)[:PLUGIN_OUTPUT_LIMIT],
        "StandardOutputUrl": "", "StandardErrorUrl": "",
        "OutputS3Region": p.get("OutputS3Region") or region,
        "OutputS3BucketName": p.get("OutputS3BucketName", ""),
        "OutputS3KeyPrefix": p.get("OutputS3KeyPrefix", ""),
    }  # fmt: skip


def _invocation(inv: Invocation, command: Command, region: str, *, details: bool) -> dict:
    p = command.request
    return {
        "CommandId": inv.command_id, "InstanceId": inv.instance_id, "InstanceName": "",
        "Comment": inv.comment, "DocumentName": RUN_SHELL_SCRIPT, "DocumentVersion": inv.document_version,
        "RequestedDateTime": inv.requested, "Status": inv.status, "StatusDetails": inv.status,
        "TraceOutput": "", "StandardOutputUrl": "", "StandardErrorUrl": "",
        # "CommandPlugins": one per plugin when Details is true, else none (ListCommandInvocations).
        "CommandPlugins": [_plugin(inv, region, command)] if details else [],
        "ServiceRole": p.get("ServiceRoleArn", ""),
        "NotificationConfig": p.get("NotificationConfig") or EMPTY_NOTIFICATION,
        "CloudWatchOutputConfig": p.get("CloudWatchOutputConfig") or EMPTY_CLOUDWATCH_OUTPUT,
    }  # fmt: skip


@before("ssm", "ListCommandInvocations")
def list_command_invocations(call: Call):
    only = _command(call.params.get("CommandId"))
    instance_id = call.params.get("InstanceId")
    filters = call.params.get("Filters") or []
    rows = []
    for command in reversed(STATE.commands.values()):
        if only is not None and command is not only:
            continue
        for target in command.ran_on:
            inv = STATE.invocations[(command.command_id, target)]
            if (instance_id is None or target == instance_id) and _keep(
                    filters, _INVOCATION_KEYS, inv.requested, RUN_SHELL_SCRIPT, inv.status, inv.status):
                rows.append(_invocation(inv, command, call.region, details=bool(call.params.get("Details"))))
    shown, token = paging.page(rows, call.params.get("NextToken"), _limit(call))
    return json_body({"CommandInvocations": shown, **({"NextToken": token} if token else {})})


@before("ssm", "GetCommandInvocation")
def get_command_invocation(call: Call):
    inv = STATE.invocations.get((call.params.get("CommandId", ""), call.params.get("InstanceId", "")))
    if inv is None:
        raise AwsError("InvocationDoesNotExist", "")
    plugin = call.params.get("PluginName")
    if plugin and plugin.lower() != PLUGIN.lower():
        raise AwsError("InvalidPluginName", "")
    command = STATE.commands[inv.command_id]
    return json_body({
        "CommandId": inv.command_id, "InstanceId": inv.instance_id, "Comment": inv.comment,
        "DocumentName": RUN_SHELL_SCRIPT, "DocumentVersion": inv.document_version,
        "PluginName": PLUGIN, "ResponseCode": inv.exit_code,
        "ExecutionStartDateTime": _iso(inv.requested),
        "ExecutionElapsedTime": f"PT{inv.duration_s:.3f}S",
        "ExecutionEndDateTime": _iso(inv.requested + inv.duration_s),
        "Status": inv.status, "StatusDetails": inv.status,
        "StandardOutputContent": inv.stdout[:OUTPUT_LIMIT], "StandardOutputUrl": "",
        "StandardErrorContent": inv.stderr[:OUTPUT_LIMIT], "StandardErrorUrl": "",
        "CloudWatchOutputConfig": command.request.get("CloudWatchOutputConfig") or EMPTY_CLOUDWATCH_OUTPUT,
    })  # fmt: skip
