"""``lab.explain`` on the healthy lab: the deciding rules of accepted traffic, a refused probe, a record.

AWS's pages these follow:
- "Flow log record examples" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html):
  a record says ACCEPT or REJECT on one interface and names no rule.
- "Control traffic to your AWS resources using security groups": security groups are stateful (the
  reply to allowed traffic is allowed whatever the outbound rules say); rules only allow.
- "Control subnet traffic with network ACLs": network ACLs are stateless, rules are evaluated lowest
  number first, and the reply of a TCP connection goes to an ephemeral port (1024-65535).
- "What flow logs never record" (VPC user guide, "Flow log limitations"): traffic to the instance
  metadata service and to the Amazon DNS server.
"""

from __future__ import annotations

import pytest

from labkit import open_lab
from labkit.errors import LabError


@pytest.fixture
def lab(fresh_emulator):
    return open_lab(step=7, quiet=True)


def test_a_healthy_ping_is_accepted_both_ways_with_the_deciding_rules(lab):
    r = lab.resources()
    explanation = lab.explain(src=r.ip1, dst=r.ip2, protocol="icmp")
    assert explanation.outcome == "ACCEPT" and explanation.fix is None
    assert explanation.decided_by_id == r.sg2  # the inbound rule that let the request in
    kinds = [(h.leg, h.kind) for h in explanation.hops]
    assert ("request", "route table") in kinds and ("request", "peering") in kinds
    assert ("reply", "security group") in kinds  # stateful: the reply is allowed by the same group
    assert any(h.resource_id == r.rtb1 and "pcx-" in h.detail for h in explanation.hops)
    assert explanation.records == [
        ("request", r.eni1, "egress", "ACCEPT"), ("request", r.eni2, "ingress", "ACCEPT"),
        ("reply", r.eni2, "egress", "ACCEPT"), ("reply", r.eni1, "ingress", "ACCEPT")]


def test_the_refused_probe_is_rejected_by_the_receivers_group_with_the_rule_to_add(lab):
    r = lab.resources()
    explanation = lab.explain(src=r.instance1, dst=r.ip2, port=56121)
    assert explanation.outcome == "REJECT" and explanation.failed_leg == "request"
    assert explanation.decided_by_id == r.sg2
    assert explanation.fix == (
        f'ec2.authorize_security_group_ingress(GroupId="{r.sg2}", IpPermissions=[{{"IpProtocol": "tcp", '
        f'"FromPort": 56121, "ToPort": 56121, "IpRanges": [{{"CidrIp": "{r.ip1}/32"}}]}}])')


def test_a_record_from_the_lab_is_explained_as_its_flow(lab):
    records = lab.flow_logs(progress=False)
    probe = records[(records["dstport"] == 56121) & (records["action"] == "REJECT")].iloc[0]
    explanation = lab.explain(probe)
    assert explanation.outcome == "REJECT" and explanation.decided_by_id == lab.resources().sg2
    assert any("names no rule" in note for note in explanation.notes)


def test_the_suggested_fix_works_when_applied(lab):
    r = lab.resources()
    explanation = lab.explain(src=r.ip1, dst=r.ip2, port=56121)
    ec2 = lab.client("ec2")
    exec(explanation.fix, {"ec2": ec2})  # the call exactly as printed
    assert lab.explain(src=r.ip1, dst=r.ip2, port=56121).outcome == "ACCEPT"


def test_traffic_flow_logs_never_record_is_named(lab):
    r = lab.resources()
    for address in ("169.254.169.254", "10.0.0.2"):
        explanation = lab.explain(src=r.ip1, dst=address)
        assert explanation.outcome == "ACCEPT" and explanation.records == []
        assert any("not recorded by flow logs" in note for note in explanation.notes)


def test_it_renders_as_text_html_and_a_diagram(lab):
    r = lab.resources()
    explanation = lab.explain(src=r.ip1, dst=r.ip2, port=56121)
    text = repr(explanation)
    assert text.splitlines()[0] == f"tcp/56121 {r.ip1} -> {r.ip2}: REJECT (the request), decided by {r.sg2}"
    assert "<table>" in explanation._repr_html_() and r.sg2 in explanation._repr_html_()
    diagram = explanation.diagram()
    assert diagram.mermaid.startswith("flowchart LR") and "fill:#f8d7da" in diagram.mermaid


def test_it_says_what_it_needs(lab):
    with pytest.raises(LabError, match="needs a destination port"):
        lab.explain(src="10.0.1.10", dst="192.168.1.10", protocol="tcp")
    with pytest.raises(LabError, match="neither an IPv4 address"):
        lab.explain(src="instance-one", dst="192.168.1.10")
