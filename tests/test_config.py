"""Settings and recovery: the lab's name and mode, `labkit run` always offline, a dead emulator."""

from __future__ import annotations

import time

import pytest

from labkit import LabError, cli, open_lab
from labkit.emulator.process import PrivateEmulator
from labkit.lab import config
from labkit.lab.offline_guard import emulator_gone_message


@pytest.mark.parametrize("name", ["flowlogs-lab", "web", "my-aws", "lab-amazon", "s3-lab"])
def test_usable_lab_names(name):
    assert config.resolve_lab_name(name) == name


@pytest.mark.parametrize("name", ["aws", "awslab", "aws-test", "amazon", "amazon-vpc", "amzn-s3-demo-x",
                                  "sthree-lab", "xn--lab", "service-role"])
def test_names_that_collide_with_awss_own_are_refused(name):
    """AWS keeps these for itself: CloudWatch Logs CreateLogGroup ("Log group names can't start with
    the string aws/"), IAM identifiers (service roles under /aws-service-role/ and /service-role/),
    S3 "General purpose bucket naming rules" (no xn--, sthree-, amzn-s3-demo- prefixes)."""
    with pytest.raises(LabError, match=rf"lab name '{name}' collides with names AWS reserves.*choose"):
        config.resolve_lab_name(name)


@pytest.mark.parametrize("name", ["A", "Web", "web_lab", "1lab", "x" * 40])
def test_names_unusable_in_aws_names_are_refused(name):
    with pytest.raises(LabError, match="not usable in AWS names"):
        config.resolve_lab_name(name)


def test_reserved_name_from_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("LABKIT_LAB", "aws")
    with pytest.raises(LabError, match="collides with names AWS reserves"):
        config.resolve_lab_name(None)


@pytest.mark.parametrize("exported", ["live", "replay", "LIVE"])
def test_labkit_run_ignores_an_exported_mode_and_says_so(monkeypatch, capsys, exported):
    from labkit.lab import runner

    seen = []
    monkeypatch.setenv("LABKIT_MODE", exported)
    monkeypatch.setattr(runner, "run_series", lambda **_: seen.append(config.resolve_mode(None)))
    assert cli.main(["run", "--only", "01"]) == 0
    assert seen == ["offline"]
    assert f"LABKIT_MODE={exported.lower()} is ignored" in capsys.readouterr().err


def test_labkit_run_offline_says_nothing_extra(monkeypatch, capsys):
    from labkit.lab import runner

    monkeypatch.setattr(runner, "run_series", lambda **_: None)
    assert cli.main(["run", "--only", "01"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.serial  # a time bound
def test_a_dead_emulator_is_one_lab_error_that_says_what_to_run(monkeypatch):
    with PrivateEmulator() as emulator:
        monkeypatch.setenv("LABKIT_ENDPOINT", emulator.endpoint)
        lab = open_lab(quiet=True)
        ec2 = lab.client("ec2")
        ec2.describe_vpcs()
    # The emulator is gone (as after its idle stop, or a kill): the next call says so at once.
    started = time.monotonic()
    with pytest.raises(LabError, match=rf"the offline emulator at {emulator.endpoint} is not answering "
                                       r"\(stopped after 2 h idle, or killed\?\): start it again.*"
                                       r"or unset LABKIT_ENDPOINT") as error:
        ec2.describe_vpcs()
    assert time.monotonic() - started < 5, "a dead emulator must not be retried for long"
    assert error.value.__suppress_context__, "one error, not botocore's chain"


def test_a_dead_shared_emulator_says_to_open_the_lab_again(monkeypatch):
    monkeypatch.delenv("LABKIT_ENDPOINT", raising=False)
    message = emulator_gone_message("http://127.0.0.1:40000")
    assert "run open_lab() again (it starts a new one), or `labkit emulator start`" in message
    assert "open_lab(step=N) rebuilds the lab" in message


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "us-gov-west-1", "cn-north-1",
                                    "eu-isoe-west-1"])
def test_region_names_shaped_like_botocores_partitions_are_accepted(region, monkeypatch):
    """The shapes of botocore's partitions.json regionRegex (us-gov-west-1, cn-north-1, eu-isoe-west-1...)."""
    monkeypatch.setenv("LABKIT_REGION", region)
    assert config.resolve_region(None, "us-east-1") == (region, "LABKIT_REGION=")


@pytest.mark.parametrize(("value", "says"), [
    ("us-east-x", "'us-east-x' is not a region name: a region looks like us-east-1"),
    ("", "'' is empty: a region looks like us-east-1"),
    ("US-EAST-1", "region names are lowercase, use 'us-east-1'"),
])
def test_a_bad_labkit_region_names_the_variable_its_value_and_the_shape(value, says, monkeypatch):
    monkeypatch.setenv("LABKIT_REGION", value)
    with pytest.raises(LabError) as error:
        config.resolve_region(None, "us-east-1")
    message = str(error.value)
    assert message.startswith(f"LABKIT_REGION={value!r}") and says in message
    assert "unset it to use the default" in message


def test_a_bad_region_argument_is_named_as_the_argument(monkeypatch):
    monkeypatch.setenv("LABKIT_REGION", "eu-west-1")  # the argument wins, and is the one reported
    with pytest.raises(LabError, match=r"^region='useast1' is not a region name: a region looks like"):
        open_lab(region="useast1")


def test_open_lab_refuses_a_bad_labkit_region_before_it_starts_anything(monkeypatch):
    monkeypatch.setenv("LABKIT_ENDPOINT", "http://127.0.0.1:9")  # never reached: the region is checked first
    monkeypatch.setenv("LABKIT_REGION", "us-east-x")
    with pytest.raises(LabError, match=r"^LABKIT_REGION='us-east-x' is not a region name"):
        open_lab()


def test_a_well_formed_unknown_region_says_where_it_came_from(fresh_emulator, monkeypatch):
    monkeypatch.setenv("LABKIT_REGION", "us-middle-7")
    with pytest.raises(LabError, match=r"unknown region 'us-middle-7' \(from LABKIT_REGION='us-middle-7'\)"):
        open_lab()
