"""Live mode rehearsed end to end, on every test run, without an AWS account.

boto3 takes its endpoint from ``AWS_ENDPOINT_URL`` when no ``endpoint_url`` is given (AWS SDKs and
Tools Reference Guide, "Service-specific endpoints"): pointed at a private emulator, the live
code path runs unchanged (STS identity, the confirmation, waiters, records, Insights, the
teardown preview and the teardown), where the Stubber tests of test_live.py check its logic call
by call.
"""

from __future__ import annotations

import time

import pytest

from labkit import LabError, open_lab
from labkit.analysis.queries import PARSE
from labkit.lab.inventory import survey
from labkit.lab.names import OFFLINE_ACCOUNT_ID, PROBE_PORT

pytestmark = pytest.mark.serial  # the rehearsal has a time bound

LAB = "rehearsal"
REGION = "us-east-1"


@pytest.fixture
def live_on_emulator(emulator, monkeypatch, tmp_path):
    """Live mode whose AWS is the private emulator (emptied first, whatever earlier tests left):
    dummy credentials, no profile, no metadata."""
    emulator.reset()
    empty = tmp_path / "empty-aws-file"
    empty.write_text("")
    for name, value in {"AWS_ENDPOINT_URL": emulator.endpoint, "AWS_ACCESS_KEY_ID": "AKIDREHEARSAL",
                        "AWS_SECRET_ACCESS_KEY": "rehearsal", "AWS_CONFIG_FILE": str(empty),
                        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "LABKIT_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return emulator


def _nothing_of_the_lab(lab) -> bool:
    found = survey(lab)
    return not found.owned and not found.foreign


def test_the_series_in_live_mode_against_the_emulator(live_on_emulator, capsys):
    started = time.monotonic()
    # Not confirmed (no account named, then the wrong one): the account is shown, nothing created.
    with pytest.raises(LabError, match=rf"not confirmed.*LABKIT_CONFIRM_ACCOUNT={OFFLINE_ACCOUNT_ID}"):
        open_lab(step=7, mode="live", lab=LAB, region=REGION)
    with pytest.raises(LabError, match="not confirmed"):
        open_lab(step=1, mode="live", lab=LAB, region=REGION, confirm_account="111122223333")
    out = capsys.readouterr().out
    assert f"LIVE AWS: account {OFFLINE_ACCOUNT_ID}, region {REGION}" in out
    assert "Estimated cost" in out
    unconfirmed = open_lab(mode="live", lab=LAB, region=REGION, quiet=True)
    assert unconfirmed.endpoint_url is None, "live mode must not be told an endpoint: boto3 finds it"
    assert _nothing_of_the_lab(unconfirmed)

    # Confirmed: the whole build, then what the notebooks read.
    lab = open_lab(step=7, mode="live", lab=LAB, region=REGION, confirm_account=OFFLINE_ACCOUNT_ID,
                   quiet=True)
    assert (lab.mode, lab.confirmed, lab.step) == ("live", True, 7)
    records = lab.flow_logs(progress=False)
    assert len(records) > 0 and {"srcaddr", "dstaddr", "action"} <= set(records.columns)
    assert (records.action == "REJECT").any(), "the refused probe must show as REJECT"
    probe = (records.action == "REJECT") & (records.dstport == PROBE_PORT)
    answer = lab.insights(f'{PARSE}\n| filter action = "REJECT" and dstPort = {PROBE_PORT}'
                          "\n| stats count(*) as rejected", progress=False)
    assert int(answer.rejected.iloc[0]) == probe.sum() > 0

    # The preview deletes nothing; the teardown (confirmed) leaves nothing of the lab.
    before = lab.inventory()
    preview = lab.teardown(dry_run=True)
    assert preview.deleted == [] and len(preview.planned) == len(before) > 10
    assert lab.inventory().equals(before)
    report = lab.teardown(progress=False)
    assert report.left == [] and len(report.deleted) == len(before)
    assert "Teardown of lab 'rehearsal'" in capsys.readouterr().out
    assert _nothing_of_the_lab(lab)
    assert time.monotonic() - started < 90, "the rehearsal should stay quick"
