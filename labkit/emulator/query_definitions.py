"""Saved Logs Insights queries: PutQueryDefinition, DescribeQueryDefinitions, DeleteQueryDefinition.

moto 5.2 has none of the three. They follow the CloudWatch Logs API Reference pages
"PutQueryDefinition", "DescribeQueryDefinitions" and "DeleteQueryDefinition":

- PutQueryDefinition without ``queryDefinitionId`` creates a definition and answers its new id;
  with one it replaces ``name``, ``queryString`` and ``logGroupNames`` (an omitted
  ``logGroupNames`` leaves the definition with no log groups: nothing is kept). An id that does
  not exist is a ResourceNotFoundException. ``clientToken`` is an idempotency token: the same
  token again answers the same id without saving a second definition.
- DescribeQueryDefinitions filters by ``queryDefinitionNamePrefix`` (and ``queryLanguage``),
  pages with ``maxResults`` (1-1000) and ``nextToken``.
- DeleteQueryDefinition answers ``{"success": true}``; an unknown id is a ResourceNotFoundException.

Neither the query string nor the log groups are checked when a definition is saved: the pages
list no MalformedQueryException for these operations. The pages name no number of saved queries,
so the emulator sets none (AWS answers LimitExceededException past its quota). The pages leave the
order of DescribeQueryDefinitions unspecified; here it is by name, then id, so pages are stable.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from labkit.emulator import paging
from labkit.emulator.awsproto import AwsError, Call, json_body
from labkit.emulator.hooks import before

DEFAULT_LANGUAGE = "CWLI"
MAX_RESULTS = 1000


@dataclass
class QueryDefinition:
    """One saved query, as DescribeQueryDefinitions lists it."""

    query_definition_id: str
    name: str
    query_string: str
    log_group_names: list[str]
    language: str
    last_modified_ms: int
    parameters: list = field(default_factory=list)

    def to_aws(self) -> dict:
        answer = {"queryLanguage": self.language, "queryDefinitionId": self.query_definition_id,
                  "name": self.name, "queryString": self.query_string,
                  "lastModified": self.last_modified_ms, "logGroupNames": list(self.log_group_names)}
        if self.parameters:
            answer["parameters"] = self.parameters
        return answer


# region -> id -> definition; region -> clientToken -> id
DEFINITIONS: dict[str, dict[str, QueryDefinition]] = {}
CLIENT_TOKENS: dict[str, dict[str, str]] = {}


def reset() -> None:
    DEFINITIONS.clear()
    CLIENT_TOKENS.clear()


def _not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified query definition does not exist.")


@before("logs", "PutQueryDefinition")
def put_query_definition(call: Call):
    p = call.params
    saved = DEFINITIONS.setdefault(call.region, {})
    tokens = CLIENT_TOKENS.setdefault(call.region, {})
    token = p.get("clientToken")
    if token and token in tokens and tokens[token] in saved:
        return json_body({"queryDefinitionId": tokens[token]})
    definition_id = p.get("queryDefinitionId")
    if definition_id is not None and definition_id not in saved:
        raise _not_found()
    definition_id = definition_id or str(uuid.uuid4())
    saved[definition_id] = QueryDefinition(
        definition_id, p["name"], p["queryString"], list(p.get("logGroupNames") or []),
        p.get("queryLanguage") or DEFAULT_LANGUAGE, int(time.time() * 1000), list(p.get("parameters") or []))
    if token:
        tokens[token] = definition_id
    return json_body({"queryDefinitionId": definition_id})


@before("logs", "DescribeQueryDefinitions")
def describe_query_definitions(call: Call):
    p = call.params
    prefix = p.get("queryDefinitionNamePrefix") or ""
    language = p.get("queryLanguage")
    listed = sorted((d for d in DEFINITIONS.get(call.region, {}).values()
                     if d.name.startswith(prefix) and (language is None or d.language == language)),
                    key=_order)
    shown, token = paging.page(listed, p.get("nextToken"), int(p.get("maxResults") or MAX_RESULTS),
                               code="InvalidParameterException",
                               message="The specified nextToken is invalid.")
    more = {"nextToken": token} if token else {}
    return json_body({"queryDefinitions": [d.to_aws() for d in shown], **more})


@before("logs", "DeleteQueryDefinition")
def delete_query_definition(call: Call):
    saved = DEFINITIONS.get(call.region, {})
    if saved.pop(call.params["queryDefinitionId"], None) is None:
        raise _not_found()
    return json_body({"success": True})


def _order(definition: QueryDefinition) -> tuple[str, str]:
    return definition.name, definition.query_definition_id


def _register_reset() -> None:
    from labkit.emulator import layer

    if reset not in layer.RESET_CALLBACKS:
        layer.RESET_CALLBACKS.append(reset)


_register_reset()
