"""open_lab and the build steps: idempotent, tagged, checked, each run once per build; teardown from any
partial state; the one wait helper."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from labkit import LabError, open_lab
from labkit.lab.teardown import ORDER, teardown
from labkit.lab.wait import Pace, Pending, wait_until


def _counts(lab) -> dict[str, int]:
    return lab.inventory().groupby("kind").size().to_dict()


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_steps_are_idempotent_and_teardown_leaves_nothing(fresh_emulator, step):
    lab = open_lab(step=step, quiet=True)
    first = _counts(lab)
    assert first, "the step created nothing"
    again = open_lab(step=step, quiet=True)
    assert _counts(again) == first
    report = lab.teardown(progress=False)
    assert report.left == []
    assert lab.inventory().empty


def test_every_resource_is_tagged_for_the_lab(fresh_emulator):
    lab = open_lab(step=4, quiet=True)
    ec2 = lab.client("ec2")
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "tag:ManagedBy", "Values": ["labkit"]}])["Vpcs"]:
        tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
        assert tags["Project"] == "flowlogs-lab"
    assert set(_counts(lab)) >= {"vpc", "subnet", "instance", "peering", "route-table",
                                 "internet-gateway", "security-group", "iam-role"}


def test_lab_name_comes_from_the_environment(fresh_emulator, monkeypatch):
    monkeypatch.setenv("LABKIT_LAB", "other-lab")
    lab = open_lab(step=1, quiet=True)
    assert lab.name == "other-lab"
    assert open_lab(lab="flowlogs-lab", quiet=True).inventory().empty
    lab.teardown(progress=False)


def test_teardown_in_the_wrong_order_retries_until_done(fresh_emulator):
    lab = open_lab(step=4, quiet=True)
    report = teardown(lab, progress=False, order=list(reversed(ORDER)))
    assert report.passes > 1, "a reversed order must meet DependencyViolation and retry"
    assert report.left == []
    assert lab.inventory().empty


def test_teardown_twice_and_after_a_crash_mid_step(fresh_emulator):
    lab = open_lab(step=2, quiet=True)
    ec2 = lab.client("ec2")
    # A step that died half way: a tagged security group, but no instance yet.
    vpc = lab.inventory().query("kind == 'vpc'").id.iloc[0]
    ec2.create_security_group(GroupName="half", Description="half", VpcId=vpc,
                              TagSpecifications=[{"ResourceType": "security-group",
                                                  "Tags": lab.tags("sg1")}])
    assert lab.teardown(progress=False).left == []
    assert lab.teardown(progress=False).deleted == []


@pytest.mark.serial  # a time bound
def test_attach_to_running_emulator_is_fast(fresh_emulator):
    # A sanity bound, not a benchmark (benchmarks/bench_series.py measures it): best of three,
    # so that a busy CI machine does not fail it.
    open_lab(quiet=True)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        open_lab(quiet=True)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 1.0


def test_unreachable_endpoint_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("LABKIT_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(LabError, match=r"no labkit emulator answers at LABKIT_ENDPOINT=http://127.0.0.1:9"):
        open_lab()


def test_unknown_region_is_one_clear_error(fresh_emulator):
    with pytest.raises(LabError, match=r"unknown region 'us-middle-7'"):
        open_lab(region="us-middle-7")


def test_unknown_mode_is_one_clear_error():
    with pytest.raises(LabError, match=r"unknown mode 'cloudy'"):
        open_lab(mode="cloudy")


def test_cli_reports_errors_in_one_line_without_traceback(monkeypatch):
    monkeypatch.setenv("LABKIT_ENDPOINT", "http://127.0.0.1:9")
    result = subprocess.run([sys.executable, "-m", "labkit", "inventory"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_diagram_shows_the_real_topology(fresh_emulator):
    lab = open_lab(step=4, quiet=True)
    diagram = lab.diagram()
    summary = "2 VPCs, 2 subnets, 2 instances, 2 internet gateways, 1 peering connection, 6 routes"
    assert summary in repr(diagram)
    text = diagram._repr_markdown_()
    assert text.startswith("```mermaid\nflowchart LR")
    assert "10.0.1.10" in text and "192.168.1.10" in text and "active" in text
    lab.teardown(progress=False)


def test_bringing_the_lab_to_a_step_runs_each_earlier_step_once(fresh_emulator):
    lab = open_lab(step=7, quiet=True)
    calls: list[str] = []
    lab.client("ec2").meta.events.register("before-call.ec2.DescribeVpcs",
                                           lambda model, **_: calls.append(model.name))
    lab.bring_to(7)
    # ensure_vpcs finds VPC 1 and VPC 2 once each, although steps 2-7 all build on the VPCs.
    assert calls == ["DescribeVpcs", "DescribeVpcs"]
    calls.clear()
    lab.ensure_flow_logs(quiet=True)  # alone, outside a build, a step ensures what it needs again
    assert calls == ["DescribeVpcs", "DescribeVpcs"]


@pytest.mark.parametrize(("step", "says"), [
    ("7", r"step='7' is text: write it without quotes, open_lab\(step=7\)"),
    ("seven", r"step='seven' is text, not a number; step is a whole number from 0 to 7"),
    (-1, r"there is no step -1; step is a whole number from 0 to 7: 0 opens the lab as it is"),
    (12, r"there is no step 12; .*notebooks after 07 use step=7"),
    (7.5, r"step=7.5 is not a whole number; step is a whole number from 0 to 7"),
    (True, r"step=True is not a whole number"),
])
def test_a_step_that_is_no_step_says_what_is_accepted(step, says, monkeypatch):
    monkeypatch.setenv("LABKIT_ENDPOINT", "http://127.0.0.1:9")  # never reached: the step is checked first
    with pytest.raises(LabError, match=says):
        open_lab(step=step)


def test_the_banner_says_in_words_what_the_lab_holds(fresh_emulator, capsys):
    open_lab()
    assert capsys.readouterr().out.rstrip().endswith("; nothing built yet (or torn down)")
    lab = open_lab(step=2)
    assert capsys.readouterr().out.rstrip().endswith("; built through notebook 02")
    open_lab()
    owned = len(lab.inventory())
    assert capsys.readouterr().out.rstrip().endswith(
        f"; opened as it is: {owned} resources of this lab exist (lab.inventory() lists them)")
    report = lab.teardown(progress=False)
    assert repr(report).startswith(f"deleted {owned} resources (") and " round" in repr(report)
    assert repr(report).split("\n")[0].endswith("; the lab is torn down")
    assert lab.step == 0
    assert repr(lab.teardown(progress=False)) == (
        "nothing to delete: the lab owns nothing (never built, or torn down already)")


def test_teardown_in_rounds_says_why_it_took_more_than_one(fresh_emulator):
    lab = open_lab(step=2, quiet=True)
    report = teardown(lab, progress=False, order=list(reversed(ORDER)))
    first = repr(report).split("\n")[0]
    assert f"({report.passes} rounds): AWS refused some deletes until what depended on them was gone" in first


def test_a_lab_error_in_ipython_is_one_line_with_what_to_do(capsys):
    """IPython shows an exception's ``_render_traceback_()`` instead of its traceback (IPython's
    InteractiveShell.showtraceback): a LabError is one line, even when raised while handling another."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    result = shell.run_cell("from labkit import open_lab\nopen_lab(step='7')")
    assert isinstance(result.error_in_exec, LabError)
    out = capsys.readouterr().out
    assert out == "LabError: step='7' is text: write it without quotes, open_lab(step=7)\n"
    shell.run_cell("from labkit import LabError\ntry:\n    1/0\nexcept ZeroDivisionError:\n"
                   "    raise LabError('what went wrong: what to do')")
    assert capsys.readouterr().out == "LabError: what went wrong: what to do\n"


# The one wait helper, on a fake clock: sleeping only moves the clock.


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _answers(*values):
    queue = list(values)
    return lambda: queue.pop(0)


def test_wait_returns_the_first_answer_that_is_not_pending():
    clock = FakeClock()
    got = wait_until(_answers(Pending("a"), Pending("b"), "ready"), mode="offline", pace=Pace(10, 0.5),
                     what="thing", advice="-", progress=False, clock=clock, sleep=clock.sleep)
    assert got == "ready"
    assert clock.sleeps == [0.5, 0.5]


def test_wait_paces_live_differently_and_backs_off_to_a_ceiling():
    clock = FakeClock()
    pace = Pace(100, 0.1, live_interval_s=2, backoff=2, max_interval_s=5)
    wait_until(_answers(*[Pending("x")] * 4, 0), mode="live", pace=pace, what="thing", advice="-",
               progress=False, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [2, 4, 5, 5]


def test_wait_times_out_with_what_it_waited_for_its_last_status_and_what_to_do():
    clock = FakeClock()
    with pytest.raises(LabError) as raised:
        wait_until(lambda: Pending("none yet"), mode="live", pace=Pace(30, 0.1, live_timeout_s=900,
                                                                        live_interval_s=10),
                   what="flow-log records in /lab/g", advice="check DeliverLogsStatus",
                   progress=False, clock=clock, sleep=clock.sleep)
    assert str(raised.value) == ("flow-log records in /lab/g still none yet after 900 s; "
                                 "check DeliverLogsStatus")
    assert clock.now == 910  # looked at 0, 10, ..., 910: the first look past the timeout gives up


def test_wait_timeout_can_be_overridden_per_call():
    clock = FakeClock()
    with pytest.raises(LabError, match="after 5 s"):
        wait_until(lambda: Pending("p"), mode="offline", pace=Pace(120, 2), timeout_s=5, what="w",
                   advice="-", progress=False, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [2, 2, 2]


def test_wait_shows_its_progress_and_the_final_word(capsys):
    clock = FakeClock()
    wait_until(_answers(Pending("1/2"), "ok"), mode="offline", pace=Pace(10, 1), what="instances running",
               advice="-", done="2/2", clock=clock, sleep=clock.sleep)
    shown = capsys.readouterr().err
    assert "instances running: 1/2" in shown
    assert "instances running: 2/2" in shown


def test_a_check_that_raises_ends_the_wait_at_once():
    clock = FakeClock()

    def failed():
        raise LabError("peering pcx-1 is failed")

    with pytest.raises(LabError, match="is failed"):
        wait_until(failed, mode="offline", pace=Pace(10, 1), what="w", advice="-", progress=False,
                   clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_the_cost_estimate_counts_the_root_volumes_and_says_it_is_an_estimate():
    """Amazon EBS pricing (aws.amazon.com/ebs/pricing): gp3 storage per GB-month, 730 hours a month; the
    AL2023 AMI maps an 8 GiB gp3 root volume per instance."""
    from labkit.lab.cost import estimate

    shown = str(estimate())
    assert "EBS gp3 root volume, 8 GiB (x2): $0.0018/h" in shown  # 2 * 8 GiB * $0.08 / 730 h
    assert "an estimate from us-east-1 list prices" in shown
    assert estimate().hourly_usd == pytest.approx(2 * 0.0104 + 2 * 0.005 + 16 * 0.08 / 730 + 0.01 * 0.505)


def test_the_broken_trust_demo_fails_for_its_trust_policy_alone(fresh_emulator):
    """Notebook 05's demo: the role's permissions cover the log group its flow log writes to (AWS, "IAM
    role for publishing flow logs to CloudWatch Logs"), so on AWS the wrong trust policy is the one fault."""
    from labkit.emulator.flow_log_rules import policies_allow

    lab = open_lab(step=4, quiet=True)
    seen: dict[str, object] = {}
    lab.client("iam").meta.events.register("provide-client-params.iam.PutRolePolicy",
                                           lambda params, **_: seen.update(policy=params["PolicyDocument"]))
    lab.client("ec2").meta.events.register("provide-client-params.ec2.CreateFlowLogs",
                                           lambda params, **_: seen.update(group=params["LogGroupName"]))
    shown = lab.demonstrate_broken_trust()
    assert shown.DeliverLogsErrorMessage.iloc[0] == "Access error"
    group_arn = f"arn:aws:logs:{lab.region}:{lab.account_id}:log-group:{seen['group']}"
    for action, resource in (("logs:CreateLogGroup", group_arn), ("logs:CreateLogStream", f"{group_arn}:*"),
                             ("logs:PutLogEvents", f"{group_arn}:log-stream:eni-0123")):
        assert policies_allow([seen["policy"]], action, [resource]), (action, resource)
    lab.teardown(progress=False)
