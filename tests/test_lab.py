"""open_lab and the build steps: idempotent, tagged, checked; teardown from any partial state."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from labkit import LabError, open_lab
from labkit.lab.teardown import ORDER, teardown


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
    assert "2 VPCs, 2 subnets, 2 instances, 2 internet gateways, 1 peering(s)" in repr(diagram)
    text = diagram._repr_markdown_()
    assert text.startswith("```mermaid\nflowchart LR")
    assert "10.0.1.10" in text and "192.168.1.10" in text and "active" in text
    lab.teardown(progress=False)
