"""Every exercise accepts the answer the lab itself gives, and refuses answers that only look right.

The right answers are read from the lab in the test (never written down), so a check that compared
with a literal, or with a prefix such as ``'igw-'``, would fail here. One lab at step 7 serves the
whole module; the acting exercises leave it healthy.

AWS's pages these follow:
- "Work with route tables" / "Update your route tables for a VPC peering connection": a route's target
  is one gateway or peering id; a peering route needs an active peering.
- "Sample queries" (CloudWatch Logs, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/
  CWL_QuerySyntax-examples.html) and "Supported logs and discovered fields": Insights discovers the
  flow-log fields of the default format only, so a custom format needs ``parse``.
- "Flow log record examples": a ping leaves ICMP records on the sender's and the receiver's interface.
"""

from __future__ import annotations

import ipaddress

import pytest

from labkit import exercises, open_lab
from labkit.analysis.exercises import _EXERCISES
from labkit.analysis.queries import PARSE
from labkit.errors import LabError


@pytest.fixture(scope="module")
def lab(emulator, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LABKIT_STATE_DIR", str(tmp_path_factory.getbasetemp() / "labkit-state"))
        for name in ("LABKIT_MODE", "LABKIT_LAB", "LABKIT_REGION", "LABKIT_CONFIRM_ACCOUNT",
                     "LABKIT_PROFILE"):
            env.delenv(name, raising=False)
        emulator.reset()
        env.setenv("LABKIT_ENDPOINT", emulator.endpoint)
        yield open_lab(step=7, quiet=True)


@pytest.fixture(scope="module")
def r(lab):
    return lab.resources()


def _refuses(name, answers, lab, capsys):
    for answer in answers:
        assert exercises.check(name, answer, lab) is False, answer
        assert "Not quite" in capsys.readouterr().out, answer


def _accepts(name, answer, lab, capsys):
    assert exercises.check(name, answer, lab) is True
    assert "Correct" in capsys.readouterr().out


def _default_route_target(lab, table_id, destination):
    table = lab.client("ec2").describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]
    route = next(x for x in table["Routes"] if x.get("DestinationCidrBlock") == destination)
    return route.get("GatewayId") or route.get("VpcPeeringConnectionId")


# ---- the API -------------------------------------------------------------------------------------


def test_names_list_every_exercise_in_notebook_order():
    assert set(exercises.NAMES) == set(_EXERCISES)
    assert list(exercises.NAMES) == sorted(exercises.NAMES, key=lambda n: n[:2])
    for kept in ("00-mode", "01-overlap", "02-default-route", "03-icmp-source", "04-peer-route",
                 "05-which-policy", "06-direction-field", "07-probe-source-port", "99-left"):
        assert kept in exercises.NAMES  # notebooks 00-07 and 99 call these


def test_an_unknown_name_says_which_names_exist():
    with pytest.raises(LabError) as raised:
        exercises.check("07-probe", 56121, None)
    assert all(name in str(raised.value) for name in exercises.NAMES)


class _Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"an unanswered exercise read lab.{name}")


@pytest.mark.parametrize("name", exercises.NAMES)
def test_an_unanswered_exercise_says_so_without_reading_the_lab(name, capsys):
    assert exercises.check(name, None, _Untouchable()) is False
    assert capsys.readouterr().out.startswith("Not answered yet. Hint: ")


# ---- what the build notebooks made ---------------------------------------------------------------


def test_mode_overlap_and_policy(lab, capsys):
    _accepts("00-mode", lab.mode, lab, capsys)
    _refuses("00-mode", ["live", "replay", "OFFLINE "], lab, capsys)
    overlap = ipaddress.ip_network("10.0.0.0/16").overlaps(ipaddress.ip_network("10.0.128.0/17"))
    _accepts("01-overlap", overlap, lab, capsys)
    _refuses("01-overlap", [not overlap, "True", 1], lab, capsys)
    _accepts("05-which-policy", "permissions", lab, capsys)
    _refuses("05-which-policy", ["trust", "both"], lab, capsys)


def test_default_route_is_the_internet_gateway_subnet_2s_table_uses(lab, r, capsys):
    igw1 = _default_route_target(lab, r.rtb1, "0.0.0.0/0")
    igw2 = _default_route_target(lab, r.rtb2, "0.0.0.0/0")
    assert igw2.startswith("igw-") and igw1 != igw2
    _accepts("02-default-route", f" {igw2} ", lab, capsys)
    _refuses("02-default-route", ["igw-", igw2[:-2], igw1, "igw-nonsense", igw2.upper(), r.rtb2, 7],
             lab, capsys)


def test_icmp_source_is_read_from_the_rule(lab, r, capsys):
    group = lab.client("ec2").describe_security_groups(GroupIds=[r.sg1])["SecurityGroups"][0]
    (source,) = [x["CidrIp"] for p in group["IpPermissions"] if p["IpProtocol"] == "icmp"
                 for x in p["IpRanges"]]
    _accepts("03-icmp-source", source, lab, capsys)
    _refuses("03-icmp-source", ["0.0.0.0/0", "10.0.0.0/16", source.split("/")[0], source + " x"], lab, capsys)


def test_peer_route_is_the_active_peering(lab, r, capsys):
    pcx = _default_route_target(lab, r.rtb1, "192.168.0.0/16")
    assert pcx == r.pcx
    _accepts("04-peer-route", pcx, lab, capsys)
    _refuses("04-peer-route", ["pcx-", "pcx-nonsense", pcx[:-3], r.rtb1, r.vpc2], lab, capsys)


def test_direction_field_is_in_the_lab_format(lab, capsys):
    fmt = lab.client("ec2").describe_flow_logs()["FlowLogs"][0]["LogFormat"]
    field = next(f.strip("${}") for f in fmt.split() if "direction" in f)
    _accepts("06-direction-field", field, lab, capsys)
    _refuses("06-direction-field", ["flow_direction", "traffic-path", "direction", "pkt-srcaddr"],
             lab, capsys)


def test_probe_source_port_is_the_ephemeral_port_of_the_refused_probe(lab, r, capsys):
    records = lab.flow_logs(progress=False)
    ours = records["srcaddr"].isin([r.ip1, r.ip2]) & records["dstaddr"].isin([r.ip1, r.ip2])
    rejected = records[ours & (records["action"] == "REJECT")]
    (port,) = set(rejected["srcport"])
    (probed,) = set(rejected["dstport"])
    scanned = next(p for p in records.loc[~ours & (records["action"] == "REJECT"), "srcport"] if p != port)
    _accepts("07-probe-source-port", int(port), lab, capsys)
    _refuses("07-probe-source-port", [int(probed), scanned, 22, "port"], lab, capsys)


def test_inventory_count(lab, capsys):
    left = len(lab.inventory())
    assert left > 0
    _accepts("99-left", left, lab, capsys)
    _refuses("99-left", [0, left + 1, True, "0"], lab, capsys)


# ---- the exercises that make the learner act -----------------------------------------------------


def _send(lab, instance_id, command):
    sent = lab.client("ssm").send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                                          Parameters={"commands": [command]})
    return sent["Command"]["CommandId"]


def test_ping_back_finds_the_records_of_the_learners_own_command(lab, r, capsys):
    wrong_direction = _send(lab, r.instance1, f"ping -c 1 {r.ip2}")
    # Pinged after instance 1's ping, whose replies are ICMP records from 2 to 1 too.
    elsewhere = _send(lab, r.instance2, "ping -c 1 10.0.0.2")
    _refuses("07-ping-back", [wrong_direction, elsewhere, "nonsense", 12], lab, capsys)
    right = _send(lab, r.instance2, f"ping -c 1 {r.ip1}")
    _accepts("07-ping-back", right, lab, capsys)


def test_scans_count_only_rejects_from_outside_the_lab(lab, capsys):
    records = lab.flow_logs(progress=False)
    rejected = records[records["action"] == "REJECT"]
    inside = [ipaddress.ip_network(c) for c in ("10.0.0.0/16", "192.168.0.0/16")]
    scans = sum(not any(ipaddress.ip_address(a) in n for n in inside) for a in rejected["srcaddr"])
    assert 0 < scans < len(rejected)
    _accepts("08-scans", scans, lab, capsys)
    _refuses("08-scans", [len(rejected), scans + 1, float(scans), str(scans)], lab, capsys)


def test_the_rejects_by_port_query_is_run_and_compared_with_pandas(lab, capsys):
    body = 'filter action = "REJECT" | stats count(*) as rejected by dstPort'
    _accepts("09-rejects-by-port", f"{PARSE} | {body}", lab, capsys)
    near_misses = [
        body,  # no parse: the custom format's fields are unknown to Insights
        f"{PARSE} | stats count(*) as rejected by dstPort",  # every record, not only REJECT
        f'{PARSE} | filter action = "ACCEPT" | stats count(*) as rejected by dstPort',  # right columns
        f"{PARSE} | {body} | sort rejected desc | limit 3",  # only the top of the answer
        f"{PARSE} | {body.replace('dstPort', 'srcPort')}",
        f'{PARSE} | filter action = "REJECT" | stats count(*), sum(packets) by dstPort',
        f"{PARSE} | stats count(*) by",  # does not parse: refused, not raised
    ]
    _refuses("09-rejects-by-port", near_misses, lab, capsys)


def test_fix_it_yourself_sends_traffic_through_the_learners_fix(lab, r, capsys):
    ec2 = lab.client("ec2")
    lab.plant_fault(seed=1)  # a network ACL on subnet 2 without the reply's outbound rule
    (acl,) = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [r.subnet2]}])["NetworkAcls"]
    acl_id = acl["NetworkAclId"]
    default = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [r.vpc2]},
                                                 {"Name": "default", "Values": ["true"]}])["NetworkAcls"][0]
    assert default["NetworkAclId"] != acl_id
    try:
        _refuses("10-fix-it-yourself", [acl_id], lab, capsys)  # not fixed yet
        ec2.create_network_acl_entry(NetworkAclId=default["NetworkAclId"], RuleNumber=90, Egress=True,
                                     Protocol="1", RuleAction="allow", CidrBlock="10.0.0.0/16",
                                     IcmpTypeCode={"Type": -1, "Code": -1})  # the wrong ACL
        _refuses("10-fix-it-yourself", [default["NetworkAclId"]], lab, capsys)
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Egress=True, Protocol="1",
                                     RuleAction="allow", CidrBlock="10.0.0.0/16",
                                     IcmpTypeCode={"Type": -1, "Code": -1})
        _refuses("10-fix-it-yourself", ["acl-", "acl-nonsense"], lab, capsys)
        _accepts("10-fix-it-yourself", acl_id, lab, capsys)
    finally:
        lab.fix_fault()
        ec2.delete_network_acl_entry(NetworkAclId=default["NetworkAclId"], RuleNumber=90, Egress=True)


# ---- the cross-checks notebook 09 shows next to AWS's sample queries ------------------------------


def test_same_top_lets_rows_that_tie_at_the_cut_differ_and_nothing_else():
    import pandas as pd

    from labkit.analysis.queries import same_top

    by_pandas = pd.Series({"a": 5, "b": 1, "c": 1, "d": 1}).sort_values(ascending=False, kind="stable")
    kept = pd.DataFrame({"srcAddr": ["a", "d", "b"], "packetsTransferred": [5, 1, 1]})
    assert same_top(kept, by_pandas, limit=3)  # b, c and d tie: Insights may keep any two
    assert not same_top(kept.iloc[:2], by_pandas, limit=3)
    assert not same_top(kept, by_pandas, limit=2)
    assert not same_top(kept.assign(srcAddr=["a", "d", "e"]), by_pandas, limit=3)
    assert not same_top(kept.assign(packetsTransferred=[5, 2, 1]), by_pandas, limit=3)
    assert not same_top(kept.iloc[[1, 0, 2]], by_pandas, limit=3)  # sorted the wrong way


def test_same_rows_ignores_order_and_compares_times_in_utc():
    import pandas as pd

    from labkit.analysis.queries import same_rows

    hours = pd.to_datetime(["2026-01-15 10:00", "2026-01-15 11:00"], utc=True)
    by_pandas = pd.Series([3, 4], index=hours)
    insights = pd.DataFrame({"t": hours[::-1].tz_convert(None).tz_localize("UTC"), "count(*)": [4, 3]})
    assert same_rows(insights, by_pandas)
    assert not same_rows(insights.assign(**{"count(*)": [3, 4]}), by_pandas)
    assert not same_rows(insights.iloc[:1], by_pandas)
    assert same_rows(pd.DataFrame(), by_pandas.iloc[:0])
    assert not same_rows(pd.DataFrame(), by_pandas)


def test_aws_top_packets_query_as_written_agrees_with_pandas(lab):
    from labkit.analysis.queries import same_top

    aws_query = """stats sum(packets) as packetsTransferred by srcAddr, dstAddr
    | sort packetsTransferred  desc
    | limit 15"""
    answer = lab.insights(f"{PARSE}\n| {aws_query}", progress=False)
    df = lab.flow_logs(progress=False)
    by_pandas = (df.groupby(["srcaddr", "dstaddr"], observed=True)["packets"].sum()
                 .sort_values(ascending=False))
    assert len(answer) == 15 and same_top(answer, by_pandas, limit=15)
    assert not same_top(answer, by_pandas.sort_values(), limit=15)
