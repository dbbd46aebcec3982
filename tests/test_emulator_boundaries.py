"""The emulator at its edges: a local service only, and AWS's answers to bad input.

Error codes and shapes follow AWS's documentation:
- "Common Errors" (errors common to all AWS services: InvalidAction, MissingAction,
  MissingParameter, ValidationError, InternalFailure is HTTP 500),
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html
- "Error codes for the Amazon EC2 API" (MissingParameter, InvalidParameterValue,
  UnsupportedOperation), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
- the JSON protocol's SerializationException (a body that does not parse) and
  UnknownOperationException (an X-Amz-Target naming no operation).
- "PutLogEvents - Amazon CloudWatch Logs" and "RejectedLogEventsInfo" (API Reference),
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
"""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit.emulator import logs_limits
from labkit.emulator.awsproto import AwsError

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
# The shape of a SigV4 Authorization header: the emulator reads the service and region from its scope.
AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/{service}/aws4_request, "
                 "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def send(endpoint: str, service: str, body: bytes, target: str | None = None, method: str = "POST",
         headers: dict | None = None, path: str = "/") -> tuple[int, dict, bytes]:
    """One raw request (as a hand-made client or a hostile page would send it): status, headers, body."""
    sent = {"Authorization": AUTHORIZATION.format(service=service), "X-Amz-Date": "20260101T000000Z",
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if target:
        sent.update({"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    sent.update(headers or {})
    request = urllib.request.Request(endpoint + path, data=body if method != "GET" else None,
                                     headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _client(endpoint: str, service: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=NO_RETRIES,
                        aws_access_key_id="x", aws_secret_access_key="x")


def _error(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


# ---- a local service only -------------------------------------------------------------------


def test_foreign_host_header_is_refused(fresh_emulator):
    # DNS rebinding: a page on evil.example resolved to 127.0.0.1 still says Host: evil.example.
    status, _, body = send(fresh_emulator.endpoint, "ec2", b"Action=DescribeVpcs&Version=2016-11-15",
                           headers={"Host": "evil.example:80"})
    assert status == 403
    assert b"not this emulator" in body


def test_loopback_host_names_are_accepted(fresh_emulator):
    port = fresh_emulator.endpoint.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        status, _, _ = send(fresh_emulator.endpoint, "ec2", b"Action=DescribeVpcs&Version=2016-11-15",
                            headers={"Host": host})
        assert status == 200, host
    status, _, _ = send(fresh_emulator.endpoint, "ec2", b"Action=DescribeVpcs&Version=2016-11-15",
                        headers={"Host": "localhost:1"})
    assert status == 403


def test_other_origins_get_no_cors_and_are_refused(fresh_emulator):
    preflight = send(fresh_emulator.endpoint, "ec2", b"", method="OPTIONS",
                     headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    posted = send(fresh_emulator.endpoint, "ec2", b"Action=DescribeVpcs&Version=2016-11-15",
                  headers={"Origin": "http://evil.example"})
    cross_site = send(fresh_emulator.endpoint, "ec2", b"Action=DescribeVpcs&Version=2016-11-15",
                      headers={"Sec-Fetch-Site": "cross-site"})
    for status, headers, _ in (preflight, posted, cross_site):
        assert status == 403
        assert not [k for k in headers if k.lower().startswith("access-control-")]


def test_answers_carry_no_cors_headers(fresh_emulator):
    # moto adds Access-Control-Allow-Origin: * to every answer; the guard strips it.
    status, headers, _ = send(fresh_emulator.endpoint, "s3", b"", method="GET")
    assert status == 200
    assert not [k for k in headers if k.lower().startswith("access-control-")]


@pytest.mark.parametrize("path", ["/moto-api/", "/moto-api/reset", "/moto-api/data.json",
                                  "/moto-api/recorder/start-recording"])
def test_moto_api_is_unreachable(fresh_emulator, path):
    request = urllib.request.Request(fresh_emulator.endpoint + path, method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 404


def test_reset_needs_the_state_file_token(fresh_emulator):
    ec2 = _client(fresh_emulator.endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    for token in ("", "not-the-token"):
        request = urllib.request.Request(f"{fresh_emulator.endpoint}/labkit/reset", method="POST", data=b"",
                                         headers={"X-Labkit-Token": token})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 403
    assert vpc in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    fresh_emulator.reset()
    assert vpc not in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]


def test_health_reveals_no_secret(fresh_emulator):
    with urllib.request.urlopen(f"{fresh_emulator.endpoint}/labkit/health", timeout=5) as response:
        answer = json.load(response)
    assert set(answer) == {"emulator", "version"}
    assert fresh_emulator.token and fresh_emulator.token not in json.dumps(answer)


def test_state_file_is_private(tmp_path):
    from labkit.emulator.process import read_state, write_state

    path = tmp_path / "emulator.json"
    write_state(path, "http://127.0.0.1:1", 1, "secret")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_state(path).token == "secret"


# ---- AWS-shaped errors, never a 500 -----------------------------------------------------------


def test_malformed_json_is_a_serialization_exception(fresh_emulator):
    # moto answered 200 with every log group to this body.
    status, _, body = send(fresh_emulator.endpoint, "logs", b'{"logGroupNamePrefix": ',
                           target="Logs_20140328.DescribeLogGroups")
    assert status == 400
    assert json.loads(body)["__type"] == "SerializationException"


def test_wrong_type_is_a_serialization_exception(fresh_emulator):
    status, _, body = send(fresh_emulator.endpoint, "logs", b'{"logGroupName": 7}',
                           target="Logs_20140328.CreateLogGroup")
    assert (status, json.loads(body)["__type"]) == (400, "SerializationException")


def test_missing_required_member_is_a_validation_exception(fresh_emulator):
    status, _, body = send(fresh_emulator.endpoint, "ssm", b"{}", target="AmazonSSM.GetParameter")
    answer = json.loads(body)
    assert (status, answer["__type"]) == (400, "ValidationException")
    assert answer["message"] == ("1 validation error detected: Value null at 'Name' failed to satisfy "
                                 "constraint: Member must not be null")


def test_unknown_json_operation(fresh_emulator):
    status, _, body = send(fresh_emulator.endpoint, "logs", b"{}", target="Logs_20140328.MakeCoffee")
    assert (status, json.loads(body)["__type"]) == (400, "UnknownOperationException")


def test_unknown_query_action(fresh_emulator):
    status, _, body = send(fresh_emulator.endpoint, "ec2", b"Action=MakeCoffee&Version=2016-11-15")
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body


DETECTOR = "arn:aws:logs:us-east-1:123456789012:anomaly-detector:x"


@pytest.mark.parametrize(("service", "call", "operation"), [
    ("ssm", lambda c: c.get_connection_status(Target="i-0123456789abcdef0"), "GetConnectionStatus"),
    ("logs", lambda c: c.get_log_anomaly_detector(anomalyDetectorArn=DETECTOR), "GetLogAnomalyDetector"),
])
def test_unimplemented_operation_is_named_in_a_400(fresh_emulator, service, call, operation):
    status, code, message = _error(lambda: call(_client(fresh_emulator.endpoint, service)))
    assert (status, code) == (400, "UnsupportedOperation")
    assert message.startswith(f"{operation} is not implemented by the lab's offline emulator")


def test_ec2_missing_parameter(fresh_emulator):
    status, _, body = send(fresh_emulator.endpoint, "ec2", b"Action=DeleteVpc&Version=2016-11-15")
    assert status == 400
    assert b"<Code>MissingParameter</Code>" in body
    assert b"The request must contain the parameter VpcId" in body


def test_iam_missing_and_empty_parameters(fresh_emulator):
    status, _, body = send(fresh_emulator.endpoint, "iam", b"Action=GetRole&Version=2010-05-08")
    assert status == 400
    assert b"<Code>ValidationError</Code>" in body
    assert b"Value null at 'roleName' failed to satisfy constraint: Member must not be null" in body
    status, _, body = send(fresh_emulator.endpoint, "iam", b"Action=GetRole&Version=2010-05-08&RoleName=")
    assert status == 400
    assert b"Member must have length greater than or equal to 1" in body


# ---- PutLogEvents limits --------------------------------------------------------------------


@pytest.fixture
def logs(fresh_emulator):
    client = _client(fresh_emulator.endpoint, "logs")
    client.create_log_group(logGroupName="/limits")
    client.create_log_stream(logGroupName="/limits", logStreamName="s")
    return client


def _now_ms() -> int:
    return int(time.time() * 1000)


def _put(logs, events):
    return logs.put_log_events(logGroupName="/limits", logStreamName="s", logEvents=events)


def _stored(logs) -> list[str]:
    events = logs.get_log_events(logGroupName="/limits", logStreamName="s", startFromHead=True)["events"]
    return [e["message"] for e in events]


def test_put_log_events_accepts_10000_refuses_10001(logs):
    now = _now_ms()
    _put(logs, [{"timestamp": now, "message": "x"}] * 10_000)
    status, code, _ = _error(lambda: _put(logs, [{"timestamp": now, "message": "x"}] * 10_001))
    assert status == 400
    assert code in ("ValidationException", "InvalidParameterException")


def test_put_log_events_counts_26_bytes_per_event(logs):
    now = _now_ms()
    # 4 events of 262,118 bytes: 4 * (262,118 + 26) = 1,048,576, exactly the limit.
    _put(logs, [{"timestamp": now, "message": "a" * 262_118}] * 4)
    status, code, message = _error(lambda: _put(logs, [{"timestamp": now, "message": "a" * 262_119}] * 4))
    assert (status, code) == (400, "InvalidParameterException")
    assert message == "Upload too large: 1048580 bytes exceeds limit of 1048576"


def test_put_log_events_counts_utf8_bytes():
    assert logs_limits.batch_bytes([{"message": "é"}]) == 2 + 26


def test_put_log_events_refuses_a_batch_spanning_more_than_24_hours(logs):
    now = _now_ms()
    day = 24 * 3600 * 1000
    _put(logs, [{"timestamp": now - day, "message": "a"}, {"timestamp": now, "message": "b"}])
    status, code, message = _error(lambda: _put(logs, [{"timestamp": now - day - 3_600_000, "message": "a"},
                                                       {"timestamp": now, "message": "b"}]))
    assert (status, code) == (400, "InvalidParameterException")
    assert "cannot span more than 24 hours" in message


def test_too_old_and_too_new_are_reported_not_refused(logs):
    now = _now_ms()
    old = now - 15 * 24 * 3600 * 1000
    new = now + 3 * 3600 * 1000
    answer = _put(logs, [{"timestamp": old, "message": "old1"}, {"timestamp": old + 1, "message": "old2"},
                         {"timestamp": now, "message": "kept"},
                         {"timestamp": new, "message": "new1"}, {"timestamp": new + 1, "message": "new2"}])
    # tooOldLogEventEndIndex is exclusive, tooNewLogEventStartIndex inclusive (RejectedLogEventsInfo).
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 3}
    assert _stored(logs) == ["kept"]


def test_events_older_than_the_retention_are_expired(logs):
    logs.put_retention_policy(logGroupName="/limits", retentionInDays=1)
    now = _now_ms()
    answer = _put(logs, [{"timestamp": now - 2 * 24 * 3600 * 1000, "message": "expired"},
                         {"timestamp": now, "message": "kept"}])
    assert answer["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    assert _stored(logs) == ["kept"]


def test_judge_spans_only_the_valid_events():
    now = 10 * 24 * 3600 * 1000 * 3
    events = [{"timestamp": now - 20 * 24 * 3600 * 1000, "message": "old"},
              {"timestamp": now, "message": "ok"}]
    verdict = logs_limits.judge(events, now)
    assert (verdict.keep, verdict.rejected) == (slice(1, 2), {"tooOldLogEventEndIndex": 1})
    with pytest.raises(AwsError):
        logs_limits.judge([{"timestamp": now - 25 * 3600 * 1000, "message": "a"},
                           {"timestamp": now, "message": "b"}], now)
