"""Reading and writing log events in the emulator, point by point against the CloudWatch Logs docs.

Pages: "FilterLogEvents", "FilteredLogEvent", "GetLogEvents" and "PutLogEvents - Amazon CloudWatch
Logs" (CloudWatch Logs API Reference), and "Validate the flow of log events" (CloudWatch Logs User
Guide, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/ValidateLogEventFlow.html).
"""

from __future__ import annotations

import re
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator_fixtures import clients

GROUP = "/fidelity/events"


@pytest.fixture
def logs(fresh_emulator):
    client = clients(fresh_emulator.endpoint)["logs"]
    client.create_log_group(logGroupName=GROUP)
    for stream in ("eni-a-all", "eni-b-all"):
        client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    return client


def _put(logs, stream: str, events: list[dict]) -> dict:
    return logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_event_ids_have_cloudwatchs_shape(logs):
    """An eventId is a 56-digit decimal whose top bits are the event's timestamp shifted by 144.

    The User Guide's decoded subscription record ("Validate the flow of log events") shows an event
    at 1432826855000 with id 3195310660696698337880902507980421114328961542429EXAMPLE (56 characters):
    1432826855000 << 144 = 31953106606966983377..., the same leading digits.
    """
    base = _now_ms() - 60_000
    _put(logs, "eni-a-all", [{"timestamp": base + i, "message": f"a{i}"} for i in range(3)])
    _put(logs, "eni-b-all", [{"timestamp": base + i, "message": f"b{i}"} for i in range(3)])
    events = logs.filter_log_events(logGroupName=GROUP)["events"]
    assert len(events) == 6
    ids = [e["eventId"] for e in events]
    assert all(re.fullmatch(r"\d{56}", i) for i in ids), ids
    assert len(set(ids)) == 6
    assert [int(i) >> 144 for i in ids] == [e["timestamp"] for e in events]
    assert ids == sorted(ids, key=int)  # the order FilterLogEvents returns them in


def test_searched_log_streams_is_an_empty_list(logs):
    """searchedLogStreams: "As of May 15, 2020, this parameter is no longer supported. This parameter
    returns an empty list." (FilterLogEvents, Response Elements)."""
    _put(logs, "eni-a-all", [{"timestamp": _now_ms(), "message": "x"}])
    answer = logs.filter_log_events(logGroupName=GROUP, logStreamNames=["eni-a-all"])
    assert answer["searchedLogStreams"] == [] and len(answer["events"]) == 1


def test_get_log_events_tokens_and_the_end_of_the_stream(logs):
    """GetLogEvents pages forward with nextForwardToken; "If you have reached the end of the stream,
    it returns the same token you passed in.\""""
    base = _now_ms() - 60_000
    _put(logs, "eni-a-all", [{"timestamp": base + i, "message": f"m{i}"} for i in range(5)])
    page = logs.get_log_events(logGroupName=GROUP, logStreamName="eni-a-all", startFromHead=True, limit=3)
    assert [e["message"] for e in page["events"]] == ["m0", "m1", "m2"]
    assert set(page["events"][0]) == {"timestamp", "message", "ingestionTime"}  # OutputLogEvent
    assert re.fullmatch(r"f/\d{56}", page["nextForwardToken"])
    assert re.fullmatch(r"b/\d{56}", page["nextBackwardToken"])
    page = logs.get_log_events(logGroupName=GROUP, logStreamName="eni-a-all",
                               nextToken=page["nextForwardToken"], limit=3)
    assert [e["message"] for e in page["events"]] == ["m3", "m4"]
    end = page["nextForwardToken"]
    page = logs.get_log_events(logGroupName=GROUP, logStreamName="eni-a-all", nextToken=end)
    assert page["events"] == [] and page["nextForwardToken"] == end


def test_put_log_events_10001_events_is_an_invalid_parameter(logs):
    """"The maximum number of log events in a batch is 10,000" (PutLogEvents); AWS refuses more at its
    front door with InvalidParameterException ("A parameter is specified incorrectly", the error the
    page lists), and stores none of the batch."""
    now = _now_ms()
    accepted = _put(logs, "eni-a-all", [{"timestamp": now, "message": "x"}] * 10_000)
    assert "rejectedLogEventsInfo" not in accepted
    with pytest.raises(ClientError) as caught:
        _put(logs, "eni-b-all", [{"timestamp": now, "message": "y"}] * 10_001)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"].startswith("1 validation error detected:")
    assert error["Message"].endswith("at 'logEvents' failed to satisfy constraint: "
                                     "Member must have length less than or equal to 10000")
    assert logs.get_log_events(logGroupName=GROUP, logStreamName="eni-b-all")["events"] == []


def test_put_log_events_null_timestamp_names_the_member(logs):
    """A missing timestamp is refused naming the member as AWS does: 'logEvents.1.member.timestamp'."""
    unchecked = boto3.client("logs", endpoint_url=logs.meta.endpoint_url, region_name="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing",
                             config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as caught:
        unchecked.put_log_events(logGroupName=GROUP, logStreamName="eni-a-all", logEvents=[{"message": "x"}])
    assert caught.value.response["Error"] == {
        "Code": "InvalidParameterException",
        "Message": "1 validation error detected: Value null at 'logEvents.1.member.timestamp' failed to "
                   "satisfy constraint: Member must not be null"}
