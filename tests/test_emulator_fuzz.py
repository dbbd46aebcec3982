"""Fuzzed requests to every operation the lab uses get a 4xx, never a 5xx (a 5xx boto3 retries).

The operations are collected from labkit's source (every boto3 client method it calls),
so a call added later is fuzzed too. Malformed bodies: truncated JSON, random bytes,
wrong types, missing required members, for the JSON services (CloudWatch Logs, SSM)
and the query services (EC2, IAM, STS); S3 (REST) gets random bodies on its paths.
Expected answers: "Common Errors",
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore import xform_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_emulator_boundaries import send

SERVICES = ("ec2", "iam", "logs", "ssm", "s3", "sts")
LABKIT = Path(__file__).resolve().parent.parent / "labkit"
# Few examples per operation (about 80 operations): the whole file stays under 30 s.
FUZZ = settings(max_examples=3, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def lab_operations() -> list[tuple[str, str]]:
    """(service, Operation) for every boto3 client method labkit calls (and paginator it asks for)."""
    session = botocore.session.get_session()
    by_method: dict[str, list[tuple[str, str]]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            by_method.setdefault(xform_name(operation), []).append((service, operation))
    found = set()
    for path in LABKIT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else None
            first = node.args[0] if node.args else None
            if name in ("get_paginator", "get_waiter") and isinstance(first, ast.Constant):
                name = first.value
            found.update(by_method.get(name, ()))
    return sorted(found)


OPERATIONS = lab_operations()
JSON_OPERATIONS = [op for op in OPERATIONS if op[0] in ("logs", "ssm")]
QUERY_OPERATIONS = [op for op in OPERATIONS if op[0] in ("ec2", "iam", "sts")]
TARGET_PREFIX = {"logs": "Logs_20140328", "ssm": "AmazonSSM"}
VERSION = {"ec2": "2016-11-15", "iam": "2010-05-08", "sts": "2011-06-15"}

scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
           | st.text(max_size=5))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def _member_names(service: str, operation: str) -> list[str]:
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    return list(shape.members) if shape else []


def test_the_lab_uses_operations_of_every_service():
    assert {service for service, _ in OPERATIONS} >= {"ec2", "iam", "logs", "ssm", "s3", "sts"}
    assert ("logs", "PutRetentionPolicy") in OPERATIONS and ("ec2", "CreateFlowLogs") in OPERATIONS


def _assert_4xx(answer, what):
    status, _, body = answer
    assert 400 <= status < 500, f"{what}: HTTP {status} {body[:300]!r}"


@pytest.mark.parametrize(("service", "operation"), JSON_OPERATIONS)
def test_json_operations_answer_malformed_bodies_with_4xx(emulator, service, operation):
    target = f"{TARGET_PREFIX[service]}.{operation}"
    members = _member_names(service, operation)

    @FUZZ
    @given(body=st.one_of(
        st.binary(max_size=60),
        st.builds(lambda v, cut: json.dumps(v).encode()[:cut], json_values, st.integers(0, 40)),
        st.builds(lambda picked, values: json.dumps(dict(zip(picked, values, strict=False))).encode(),
                  st.lists(st.sampled_from(members or ["x"]), max_size=4, unique=True),
                  st.lists(json_values, min_size=4, max_size=4)),
    ))
    def fuzz(body):
        answer = send(emulator.endpoint, service, body, target=target)
        if answer[0] == 200 and _is_json_object(body):
            return  # a body that happens to be a valid call
        _assert_4xx(answer, f"{operation} {body!r}")

    wrong_types = {name: [] if i % 2 else 12345 for i, name in enumerate(members)}
    for body in (b'{"a": ', b"\xff\xfe\x00", b"[]", b"{}", json.dumps(wrong_types).encode()):
        answer = send(emulator.endpoint, service, body, target=target)
        if body == b"{}" and answer[0] == 200:
            continue  # an operation without required members
        _assert_4xx(answer, f"{operation} {body!r}")
    fuzz()


def _is_json_object(body: bytes) -> bool:
    # An empty body stands for {} (no members), as the emulator reads it.
    try:
        return not body or isinstance(json.loads(body), dict)
    except ValueError:
        return False


@pytest.mark.parametrize(("service", "operation"), QUERY_OPERATIONS)
def test_query_operations_answer_malformed_bodies_with_4xx(emulator, service, operation):
    members = _member_names(service, operation)
    texts = st.text(max_size=12) | st.sampled_from(["-1", "999999999999", "true", "x", "", "1.5", "[]"])

    @FUZZ
    @given(
        params=st.dictionaries(st.sampled_from(members + [f"{m}.1" for m in members] + ["Bogus"]
                                               if members else ["Bogus"]), texts, max_size=4),
        tail=st.binary(max_size=20),
    )
    def fuzz(params, tail):
        body = urlencode({"Action": operation, "Version": VERSION[service], **params}).encode() + tail
        answer = send(emulator.endpoint, service, body)
        if answer[0] == 200:
            return
        _assert_4xx(answer, f"{operation} {body!r}")

    start = urlencode({"Action": operation, "Version": VERSION[service]})
    for body in (start.encode(), (start + "&" + "&".join(f"{m}=%ff%fe" for m in members)).encode(),
                 b"\xff\xfe\x00Action"):
        answer = send(emulator.endpoint, service, body)
        if answer[0] != 200:
            _assert_4xx(answer, f"{operation} {body!r}")
    fuzz()


@FUZZ
@given(body=st.binary(max_size=200), path=st.sampled_from(["/fuzz-bucket?tagging", "/fuzz-bucket?delete",
                                                            "/fuzz-bucket/key", "/fuzz-bucket"]),
       method=st.sampled_from(["PUT", "POST"]))
def test_s3_answers_random_bodies_with_4xx_or_success(emulator, body, path, method):
    status, _, answer = send(emulator.endpoint, "s3", body, path=path, method=method,
                             headers={"Content-Type": "application/xml"})
    assert status < 500, f"{method} {path} {body!r}: HTTP {status} {answer[:300]!r}"
