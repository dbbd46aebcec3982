"""CreateFlowLogs as AWS checks it, and the delivery role as AWS judges it.

- Refusals moto lets through: an unknown ``${field}`` in LogFormat, a token that
  is not ``${...}``, a TrafficType other than ACCEPT/REJECT/ALL. (moto itself
  refuses a missing DeliverLogsPermissionArn for CloudWatch Logs and a
  MaxAggregationInterval other than 60/600.)
- A role that does not exist, does not trust ``vpc-flow-logs.amazonaws.com``
  or may not write to the log group is accepted by CreateFlowLogs, as on AWS,
  but nothing is delivered and DescribeFlowLogs shows DeliverLogsStatus FAILED
  with DeliverLogsErrorMessage "Access error".
- DestinationOptions (S3 FileFormat, Hive prefixes, hourly partitions), which
  moto drops, are kept through the adapter so DescribeFlowLogs shows them and
  delivery honours them.
"""

from __future__ import annotations

import fnmatch
import json
import re
from urllib.parse import unquote

from labkit.emulator import moto_adapter
from labkit.emulator.awsproto import AwsError, Call
from labkit.emulator.hooks import after, before
from labkit.emulator.moto_adapter import FlowLogConfig
from labkit.flowlogs import FIELDS

ACCESS_ERROR = "Access error"
FLOW_LOGS_PRINCIPAL = "vpc-flow-logs.amazonaws.com"
TRAFFIC_TYPES = ("ACCEPT", "REJECT", "ALL")
_TOKEN = re.compile(r"^\$\{([^${}\s]+)\}$")


def check_log_format(fmt: str) -> list[str]:
    """The field names of a LogFormat, or AwsError as CreateFlowLogs refuses it."""
    tokens = fmt.split(" ")
    if not fmt.strip() or any(not _TOKEN.match(t) for t in tokens):
        raise AwsError(
            "InvalidParameter",
            f"1 validation error detected: Value '{fmt}' at 'logFormat' has an invalid format",
        )
    names = [_TOKEN.match(t).group(1) for t in tokens]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        listed = ", ".join(f"${{{n}}}" for n in unknown)
        raise AwsError("InvalidParameter", f"Unknown fields provided: {listed}")
    return names


@before("ec2", "CreateFlowLogs")
def refuse_bad_flow_log(call: Call):
    p = call.params
    traffic = p.get("TrafficType")
    resource_type = p.get("ResourceType", "")
    if traffic is None and not resource_type.startswith("TransitGateway"):
        raise AwsError("MissingParameter", "The request must contain the parameter TrafficType")
    if traffic is not None and traffic not in TRAFFIC_TYPES:
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({traffic}) for parameter TrafficType is invalid. "
            f"Valid values are: {', '.join(TRAFFIC_TYPES)}",
        )
    if p.get("LogFormat") is not None:
        check_log_format(p["LogFormat"])
    file_format = p.get("DestinationOptions.FileFormat")
    if file_format is not None and file_format not in ("plain-text", "parquet"):
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({file_format}) for parameter DestinationOptions.FileFormat is invalid. "
            "Valid values are: plain-text, parquet",
        )
    destination = p.get("LogDestination") or ""
    if p.get("LogDestinationType") == "s3" and "/" in destination.partition(":::")[2]:
        return _create_s3_flow_logs_with_prefix(call)
    return None


def _create_s3_flow_logs_with_prefix(call: Call):
    """moto looks for a bucket named "bucket/prefix": create against the bucket, keep the prefix."""
    import uuid

    p = call.params
    full = p["LogDestination"]
    interval = p.get("MaxAggregationInterval")
    tags = {}
    for key, value in p.items():
        m = re.fullmatch(r"TagSpecification\.(\d+)\.Tag\.(\d+)\.Key", key)
        if m:
            tags[value] = p.get(f"TagSpecification.{m.group(1)}.Tag.{m.group(2)}.Value", "")
    ids, errors = moto_adapter.create_s3_flow_logs(
        call.region, resource_type=p.get("ResourceType"),
        resource_ids=[v for k, v in sorted(p.items()) if k.startswith("ResourceId.")],
        traffic_type=p.get("TrafficType"), bucket_arn=full.split("/", 1)[0], log_format=p.get("LogFormat"),
        max_aggregation_interval=int(interval) if interval else None, tags=tags,
    )  # fmt: skip
    for flow_log_id in ids:
        moto_adapter.keep_destination(call.region, flow_log_id, log_destination=full)
    items = "".join(f"<item>{i}</item>" for i in ids)
    failed = "".join(
        f"<item><resourceId>{rid}</resourceId><error><code>{code}</code><message>{msg}</message></error></item>"
        for rid, code, msg in errors
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CreateFlowLogsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>{uuid.uuid4()}</requestId><flowLogIdSet>{items}</flowLogIdSet>"
        f"<unsuccessful>{failed}</unsuccessful></CreateFlowLogsResponse>"
    ).encode()
    keep_options_and_judge_role(call, body)
    headers = [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    return "200 OK", headers, body


@after("ec2", "CreateFlowLogs")
def keep_options_and_judge_role(call: Call, body: bytes):
    p = call.params
    options = None
    if p.get("LogDestinationType") == "s3":
        options = {
            "FileFormat": p.get("DestinationOptions.FileFormat", "plain-text"),
            "HiveCompatiblePartitions": _bool(p.get("DestinationOptions.HiveCompatiblePartitions")),
            "PerHourPartition": _bool(p.get("DestinationOptions.PerHourPartition")),
        }
    for flow_log_id in set(re.findall(rb"fl-[0-9a-f]+", body)):
        flow_log = moto_adapter.flow_log(call.region, flow_log_id.decode())
        if flow_log is None:
            continue
        if options is not None:
            moto_adapter.keep_destination(call.region, flow_log.id, destination_options=options)
        if flow_log.destination_type == "cloud-watch-logs":
            # moto fails a missing log group at once; AWS creates it at the first delivery
            # (if the role may): judge the role now, and again at every delivery.
            exists = moto_adapter.log_group_exists(call.region, flow_log.log_group_name)
            set_status(call.region, flow_log, role_may_deliver(flow_log, call.region, group_exists=exists))


def _bool(value) -> bool:
    return str(value).lower() == "true"


def set_status(region: str, flow_log: FlowLogConfig, ok: bool) -> None:
    """DeliverLogsStatus SUCCESS, or FAILED with AWS's "Access error"."""
    moto_adapter.set_delivery_status(region, flow_log.id, ok, None if ok else ACCESS_ERROR)


# ---- the delivery role ------------------------------------------------------------------


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _document(text) -> dict:
    if isinstance(text, dict):
        return text
    text = text or "{}"
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(unquote(text))


def _matches(pattern: str, value: str, *, case: bool = False) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def _conditions_hold(conditions: dict, context: dict[str, str]) -> bool:
    """The trust conditions that matter for flow logs; any other condition is taken as met."""
    for operator, pairs in (conditions or {}).items():
        op = operator.replace("ForAnyValue:", "").replace("ForAllValues:", "")
        for key, wanted in (pairs or {}).items():
            actual = context.get(key.lower())
            if actual is None:
                continue
            wanted = [str(w) for w in _as_list(wanted)]
            if op in ("StringEquals", "ArnEquals"):
                ok = actual in wanted
            elif op in ("StringLike", "ArnLike"):
                ok = any(_matches(w, actual, case=True) for w in wanted)
            elif op in ("StringNotEquals", "ArnNotEquals"):
                ok = actual not in wanted
            elif op in ("StringNotLike", "ArnNotLike"):
                ok = not any(_matches(w, actual, case=True) for w in wanted)
            else:
                ok = True
            if not ok:
                return False
    return True


def _decide(statements) -> bool:
    """IAM's rule over the statements that apply: an explicit Deny wins, else any Allow."""
    effects = {st.get("Effect") for st in statements}
    return "Deny" not in effects and "Allow" in effects


def _trust_applies(st: dict, context: dict[str, str]) -> bool:
    principal = st.get("Principal") or {}
    services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
    if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
        services = [FLOW_LOGS_PRINCIPAL]
    return (FLOW_LOGS_PRINCIPAL in services
            and any(_matches(a, "sts:AssumeRole") for a in _as_list(st.get("Action")))
            and _conditions_hold(st.get("Condition"), context))


def trusts_flow_logs(trust_policy, context: dict[str, str]) -> bool:
    statements = _as_list(_document(trust_policy).get("Statement"))
    return _decide(st for st in statements if _trust_applies(st, context))


def _statement_covers(st: dict, action: str, resource: str) -> bool:
    if "NotAction" in st:
        if any(_matches(a, action) for a in _as_list(st["NotAction"])):
            return False
    elif not any(_matches(a, action) for a in _as_list(st.get("Action"))):
        return False
    if "NotResource" in st:
        return not any(_matches(r, resource, case=True) for r in _as_list(st["NotResource"]))
    return any(_matches(r, resource, case=True) for r in _as_list(st.get("Resource")))


def policies_allow(documents: list, action: str, resources: list[str]) -> bool:
    statements = [st for doc in documents for st in _as_list(_document(doc).get("Statement"))]
    return _decide(st for st in statements
                   if any(_statement_covers(st, action, r) for r in resources))


def role_may_deliver(flow_log: FlowLogConfig, region: str, *, group_exists: bool,
                     stream: str = "eni-*") -> bool:
    """Whether AWS could deliver this flow log's records to CloudWatch Logs with its role."""
    role = moto_adapter.role_documents(flow_log.deliver_logs_permission_arn or "")
    if role is None:
        return False
    account = moto_adapter.ACCOUNT_ID
    context = {
        "aws:sourceaccount": account,
        "aws:sourcearn": f"arn:aws:ec2:{region}:{account}:vpc-flow-log/{flow_log.id}",
    }
    if not trusts_flow_logs(role.trust, context):
        return False
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:{flow_log.log_group_name}"
    stream_arn = f"{group_arn}:log-stream:{stream}"
    needed = [("logs:PutLogEvents", [stream_arn]), ("logs:CreateLogStream", [stream_arn, f"{group_arn}:*"])]
    if not group_exists:
        needed.append(("logs:CreateLogGroup", [group_arn, f"{group_arn}:*"]))
    return all(policies_allow(role.permissions, action, resources) for action, resources in needed)
