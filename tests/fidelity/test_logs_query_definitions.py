"""Saved Logs Insights queries in the emulator, as the CloudWatch Logs API Reference defines them.

Pages: "PutQueryDefinition", "DescribeQueryDefinitions" and "DeleteQueryDefinition - Amazon
CloudWatch Logs" (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/
API_PutQueryDefinition.html, API_DescribeQueryDefinitions.html, API_DeleteQueryDefinition.html).
"""

from __future__ import annotations

import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator_fixtures import clients

TOP_TALKERS = "stats sum(bytes) as total by srcAddr, dstAddr | sort total desc | limit 10"


@pytest.fixture
def logs(fresh_emulator):
    return clients(fresh_emulator.endpoint)["logs"]


def _error(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_put_creates_a_definition_that_describe_lists(logs):
    """PutQueryDefinition without an id creates one and answers its id; DescribeQueryDefinitions lists it."""
    before = int(time.time() * 1000)
    definition_id = logs.put_query_definition(name="flow/top-talkers", queryString=TOP_TALKERS,
                                              logGroupNames=["/lab/vpc-flow-logs"])["queryDefinitionId"]
    uuid.UUID(definition_id)
    listed = logs.describe_query_definitions()["queryDefinitions"]
    assert len(listed) == 1
    saved = listed[0]
    assert before <= saved.pop("lastModified") <= int(time.time() * 1000)
    assert saved == {"queryLanguage": "CWLI", "queryDefinitionId": definition_id, "name": "flow/top-talkers",
                     "queryString": TOP_TALKERS, "logGroupNames": ["/lab/vpc-flow-logs"]}


def test_update_replaces_every_value_and_keeps_none(logs):
    """"No current values are retained": an update without logGroupNames leaves no log groups."""
    definition_id = logs.put_query_definition(name="rejects", queryString="filter action='REJECT'",
                                              logGroupNames=["/a", "/b"])["queryDefinitionId"]
    again = logs.put_query_definition(queryDefinitionId=definition_id, name="rejects by port",
                                      queryString="filter action='REJECT' | stats count(*) by dstPort")
    assert again["queryDefinitionId"] == definition_id
    (saved,) = logs.describe_query_definitions()["queryDefinitions"]
    assert (saved["name"], saved["queryString"], saved["logGroupNames"]) == (
        "rejects by port", "filter action='REJECT' | stats count(*) by dstPort", [])


def test_update_of_an_unknown_id_is_resource_not_found(logs):
    code, _ = _error(lambda: logs.put_query_definition(queryDefinitionId=str(uuid.uuid4()), name="x",
                                                       queryString="fields @message"))
    assert code == "ResourceNotFoundException"
    assert logs.describe_query_definitions()["queryDefinitions"] == []


def test_client_token_makes_put_idempotent(logs):
    """clientToken: "an idempotency token, to avoid returning an exception if the service receives the
    same request twice": the same token saves one definition."""
    token = str(uuid.uuid4())
    first = logs.put_query_definition(name="q", queryString="fields @message", clientToken=token)
    second = logs.put_query_definition(name="q", queryString="fields @message", clientToken=token)
    assert first["queryDefinitionId"] == second["queryDefinitionId"]
    assert len(logs.describe_query_definitions()["queryDefinitions"]) == 1


def test_describe_filters_by_name_prefix_and_pages(logs):
    """queryDefinitionNamePrefix keeps names that start with it; maxResults and nextToken page."""
    names = [f"flow/{i:02d}" for i in range(5)] + ["other"]
    ids = {logs.put_query_definition(name=n, queryString="fields @message")["queryDefinitionId"]: n
           for n in names}
    assert len(ids) == 6
    first = logs.describe_query_definitions(queryDefinitionNamePrefix="flow/", maxResults=2)
    assert len(first["queryDefinitions"]) == 2 and "nextToken" in first
    seen = [d["name"] for d in first["queryDefinitions"]]
    token = first["nextToken"]
    while token:
        page = logs.describe_query_definitions(queryDefinitionNamePrefix="flow/", maxResults=2,
                                               nextToken=token)
        seen += [d["name"] for d in page["queryDefinitions"]]
        token = page.get("nextToken")
    assert sorted(seen) == names[:5] and len(seen) == 5
    everything = logs.describe_query_definitions(maxResults=4)
    rest = logs.describe_query_definitions(maxResults=4, nextToken=everything["nextToken"])
    assert len(everything["queryDefinitions"]) == 4 and len(rest["queryDefinitions"]) == 2
    assert "nextToken" not in rest


def test_describe_max_results_outside_1_to_1000_is_invalid(logs):
    """maxResults: "Valid Range: Minimum value of 1. Maximum value of 1000.\""""
    code, message = _error(lambda: logs.describe_query_definitions(maxResults=1001))
    assert code == "InvalidParameterException"
    assert "Member must have value less than or equal to 1000" in message


def test_delete_answers_success_and_an_unknown_id_is_resource_not_found(logs):
    """DeleteQueryDefinition answers success; its errors include ResourceNotFoundException."""
    definition_id = logs.put_query_definition(name="q", queryString="fields @message")["queryDefinitionId"]
    assert logs.delete_query_definition(queryDefinitionId=definition_id)["success"] is True
    assert logs.describe_query_definitions()["queryDefinitions"] == []
    code, _ = _error(lambda: logs.delete_query_definition(queryDefinitionId=definition_id))
    assert code == "ResourceNotFoundException"


def test_put_without_a_query_string_is_invalid(fresh_emulator):
    """queryString is required: AWS's front door refuses the call, and nothing is saved."""
    unchecked = boto3.client("logs", endpoint_url=fresh_emulator.endpoint, region_name="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing",
                             config=Config(parameter_validation=False))
    code, message = _error(lambda: unchecked.put_query_definition(name="q"))
    assert code == "InvalidParameterException"
    assert message == ("1 validation error detected: Value null at 'queryString' failed to satisfy "
                       "constraint: Member must not be null")
    assert unchecked.describe_query_definitions()["queryDefinitions"] == []


def test_definitions_are_dropped_when_the_emulator_is_reset(logs, fresh_emulator):
    logs.put_query_definition(name="q", queryString="fields @message")
    fresh_emulator.reset()
    assert logs.describe_query_definitions()["queryDefinitions"] == []
