"""Notebook 00's setup check: each problem is one line that says what to fix."""

from __future__ import annotations

import pytest

from labkit.lab.setup_check import check_setup


def test_ready_with_a_running_emulator(fresh_emulator):
    report = check_setup()
    assert report.ok
    assert repr(report).endswith("Ready.")
    assert f"answers at {fresh_emulator.endpoint}" in repr(report)


def test_unreachable_emulator_says_what_to_do(monkeypatch):
    monkeypatch.setenv("LABKIT_ENDPOINT", "http://127.0.0.1:9")
    report = check_setup()
    assert not report.ok
    line = next(c for c in report.checks if c.name == "emulator")
    assert "LABKIT_ENDPOINT=http://127.0.0.1:9 does not answer" in str(line)
    assert "python -m labkit.emulator" in str(line)
    assert repr(report).endswith("Not ready: fix the lines marked FIX, then run this again.")


def test_unknown_mode_is_a_line_not_a_traceback():
    report = check_setup(mode="cloudy")
    assert not report.ok
    assert "unknown mode 'cloudy'" in repr(report)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No AWS credentials anywhere boto3 looks: environment, files, instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_live_without_credentials_says_how_to_get_them(no_credentials, monkeypatch):
    monkeypatch.setenv("LABKIT_REGION", "eu-west-1")
    report = check_setup(mode="live")
    credentials = next(c for c in report.checks if c.name == "credentials")
    assert not credentials.ok
    assert "aws configure" in credentials.detail


def test_a_bad_labkit_region_is_a_failed_check_not_a_crash(fresh_emulator, monkeypatch):
    monkeypatch.setenv("LABKIT_REGION", "us-east-x")
    report = check_setup()
    assert not report.ok
    region = next(c for c in report.checks if c.name == "region")
    assert str(region).startswith("FIX  region")
    assert "LABKIT_REGION='us-east-x' is not a region name: a region looks like us-east-1" in region.detail
    assert next(c for c in report.checks if c.name == "emulator").ok  # the other checks still ran


def test_live_with_a_bad_labkit_region_still_checks_the_credentials(no_credentials, monkeypatch):
    monkeypatch.setenv("LABKIT_REGION", "US-EAST-1")
    report = check_setup(mode="live")
    region = next(c for c in report.checks if c.name == "region")
    assert not region.ok and "region names are lowercase, use 'us-east-1'" in region.detail
    assert next(c for c in report.checks if c.name == "credentials").detail.startswith("none found")


def test_an_offline_region_is_reported(fresh_emulator, monkeypatch):
    monkeypatch.setenv("LABKIT_REGION", "eu-west-2")
    assert "ok   region                 eu-west-2 (LABKIT_REGION)" in repr(check_setup())
