"""The five planted faults: each breaks the ping between the instances, leaves its own pattern of
records, is named by ``explain``, and is healed by its fix.

AWS's pages these follow:
- "Flow log record examples", section "Security group and network ACL rules"
  (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html): a security
  group that drops a ping leaves one REJECT; a network ACL that lets the request in but not the reply
  out leaves an ACCEPT for the request and a REJECT for the reply, on the receiver's interface.
- "Control subnet traffic with network ACLs": a custom network ACL denies everything until rules are
  added (its last rule, ``*``, denies).
- "Update your route tables for a VPC peering connection": a route to a peering that is not active
  is a blackhole.
- "IAM role for publishing flow logs to CloudWatch Logs": a role VPC Flow Logs cannot assume delivers
  nothing; DescribeFlowLogs shows DeliverLogsErrorMessage "Access error".
"""

from __future__ import annotations

import pytest

from labkit import open_lab
from labkit.lab.faults import FAULTS


@pytest.fixture
def lab(fresh_emulator):
    return open_lab(step=7, quiet=True)


def _pattern(records) -> list[tuple[str, str, str]]:
    """(which instance's interface, direction, action) of each record, for a readable comparison."""
    return sorted((row.instance_id, row.flow_direction, row.action) for row in records.itertuples())


def test_each_fault_leaves_its_pattern_is_diagnosed_and_fixed(lab):
    r = lab.resources()
    one, two = r.instance1, r.instance2
    expected = {
        "receiver-sg-without-icmp": [(one, "egress", "ACCEPT"), (two, "ingress", "REJECT")],
        "reply-blocked-by-nacl": [(one, "egress", "ACCEPT"), (two, "egress", "REJECT"),
                                  (two, "ingress", "ACCEPT")],
        "no-return-route": [(one, "egress", "ACCEPT"), (two, "egress", "ACCEPT"), (two, "ingress", "ACCEPT")],
        "peering-deleted": [(one, "egress", "ACCEPT")],
        "flow-log-role-trust": [],
    }
    for name, fault in FAULTS.items():
        assert not fault.is_present(lab), name
        fault.break_(lab)
        assert fault.is_present(lab), name
        trial = lab.ping()
        assert _pattern(trial.records()) == sorted(expected[name]), name
        explanation = lab.explain(src=r.ip1, dst=r.ip2)
        assert explanation.decided_by_id == fault.culprit(lab), (name, str(explanation))
        fault.fix(lab)
        assert not fault.is_present(lab), name
        assert lab.ping().answered, name


def test_the_return_route_fault_sends_the_reply_to_the_internet_gateway(lab):
    FAULTS["no-return-route"].break_(lab)
    records = lab.ping().records()
    reply = records[(records["flow_direction"] == "egress") & (records["srcaddr"] == lab.resources().ip2)]
    assert reply["traffic_path"].tolist() == [8]  # 8: through an internet gateway (Nitro)


def test_a_broken_trust_shows_access_error_in_describe_flow_logs(lab):
    FAULTS["flow-log-role-trust"].break_(lab)
    assert lab.ping().answered
    flow_logs = lab.client("ec2").describe_flow_logs()["FlowLogs"]
    # The role only serves the CloudWatch Logs flow logs; the S3 ones deliver under the bucket's policy.
    by_destination = {(f["LogDestinationType"], f["DeliverLogsStatus"], f.get("DeliverLogsErrorMessage"))
                      for f in flow_logs}
    assert by_destination == {("cloud-watch-logs", "FAILED", "Access error"), ("s3", "SUCCESS", None)}
    FAULTS["flow-log-role-trust"].fix(lab)
    trial = lab.ping()
    assert len(trial.records()) == 4  # request and reply, each on both interfaces


@pytest.mark.parametrize("name", list(FAULTS))
def test_the_answer_checks_refuse_answers_that_only_look_right(lab, name, capsys):
    fault = FAULTS[name]
    r = lab.resources()
    assert not lab.check_diagnosis(name, fault.culprit(lab)), "a healthy lab has nothing to diagnose"
    fault.break_(lab)
    culprit = fault.culprit(lab)
    wrong = [None, culprit.split("-")[0] + "-", r.sg1, r.rtb1 if culprit != r.rtb1 else r.rtb2,
             r.instance2, culprit + "0", culprit.upper()]
    for answer in wrong:
        assert not lab.check_diagnosis(name, answer), answer
    assert lab.check_diagnosis(name, f"  {culprit} ")
    assert "Correct" in capsys.readouterr().out


def test_a_planted_fault_hides_its_name_and_fix_fault_heals_the_lab(lab, capsys):
    mystery = lab.plant_fault(seed=3)
    assert not any(name in repr(mystery) for name in FAULTS)
    planted = [name for name, fault in FAULTS.items() if fault.is_present(lab)]
    assert not mystery.check(None)
    assert FAULTS[planted[0]].hint not in capsys.readouterr().out, "the hint must not give the fault away"
    assert len(planted) == 1 and mystery.reveal().startswith(planted[0])
    assert lab.plant_fault(seed=3).reveal() == mystery.reveal(), "the same seed plants the same fault"
    assert lab.fix_fault() == planted
    assert not any(fault.is_present(lab) for fault in FAULTS.values())
    assert lab.ping().answered


def test_a_fault_created_network_acl_carries_the_lab_tags(lab):
    FAULTS["reply-blocked-by-nacl"].break_(lab)
    acl_id = FAULTS["reply-blocked-by-nacl"].culprit(lab)
    acl = lab.client("ec2").describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
    tags = {t["Key"]: t["Value"] for t in acl["Tags"]}
    assert tags["Project"] == lab.name and tags["ManagedBy"] == "labkit"
    lab.fix_fault()
    assert not lab.client("ec2").describe_network_acls(
        Filters=[{"Name": "tag:Project", "Values": [lab.name]}])["NetworkAcls"]


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_opening_the_lab_again_heals_every_fault(lab, name):
    """A failed or broken lab is mended by re-running its steps: open_lab(step=7) puts the subnet back
    on its default network ACL, replaces a route left pointing at a deleted peering, re-applies the
    security group rules and the delivery role's trust policy."""
    fault = FAULTS[name]
    fault.break_(lab)
    healed = open_lab(step=7, quiet=True)
    assert not fault.is_present(healed), name
    trial = healed.ping()
    assert trial.answered, name
    assert not trial.records().empty, f"{name}: no records after healing"


def test_teardown_removes_a_planted_network_acl(lab):
    """A lab torn down while its network-ACL fault is planted leaves nothing behind: the tagged custom
    ACL gives its subnet back to the default ACL and is deleted before the VPC."""
    FAULTS["reply-blocked-by-nacl"].break_(lab)
    assert "network-acl" in set(lab.inventory()["kind"])
    report = lab.teardown(progress=False)
    assert not report.left, report
    assert lab.inventory().empty
