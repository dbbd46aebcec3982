"""The delivery role's documents, checked by a real IAM policy linter (parliament) and by shape."""

from __future__ import annotations

import json

from parliament import analyze_policy_string

from labkit.lab.steps.flow_log_role import permissions_policy, trust_policy

ACCOUNT, REGION, GROUP = "123456789012", "us-east-1", "/flowlogs-lab/vpc-flow-logs"


def _findings(document: dict) -> list[tuple[str, object]]:
    policy = analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [(f.issue, f.detail) for f in policy.findings]


def test_permissions_policy_has_no_linter_findings():
    assert _findings(permissions_policy(ACCOUNT, REGION, GROUP)) == []


def test_trust_policy_has_no_linter_findings_beyond_its_nature():
    # parliament reads every document as an identity policy, which must name a Resource;
    # a trust policy never does (its resource is the role itself). Nothing else may be found.
    findings = _findings(trust_policy(ACCOUNT, REGION))
    assert findings == [("MALFORMED", "Statement contains neither Resource nor NotResource")]


def test_trust_policy_names_the_service_and_guards_the_confused_deputy():
    statement = trust_policy(ACCOUNT, REGION)["Statement"][0]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert statement["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"}


def test_write_permissions_are_scoped_to_the_lab_log_group():
    write = permissions_policy(ACCOUNT, REGION, GROUP)["Statement"][0]
    assert "logs:PutLogEvents" in write["Action"]
    assert all(GROUP in arn for arn in write["Resource"])
