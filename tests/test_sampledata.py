"""The committed sample flow logs: reproducible, clean, and showing the lab's scenario."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from labkit import flowlogs as fl
from labkit.lab import sampledata as sd

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "generate_sample_data.py"


def test_regenerates_byte_for_byte():
    assert sd.check() == []


def test_the_script_checks_and_writes(tmp_path):
    check = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "byte-identical" in check.stdout
    stale = subprocess.run([sys.executable, str(SCRIPT), "--check", "--dir", str(tmp_path)],
                           capture_output=True, text=True)
    assert stale.returncode == 1 and "missing: cloudwatch_export.json" in stale.stdout
    subprocess.run([sys.executable, str(SCRIPT), "--dir", str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / sd.CWL_EXPORT).read_bytes() == (sd.SAMPLE_DIR / sd.CWL_EXPORT).read_bytes()


@pytest.fixture(scope="module")
def df():
    return sd.load()


def test_parses_with_zero_bad_lines(df):
    assert df.attrs["bad_lines"] == []
    assert len(df) > 300
    assert set(df.account_id) == {"012345678901"}
    assert df.start.min() >= pd.Timestamp("2025-01-15 10:00", tz="UTC")
    assert df.end.max() < pd.Timestamp("2025-01-15 11:00", tz="UTC")
    assert df.log_stream.nunique() == 2


def test_all_three_forms_hold_the_same_records(df):
    text = fl.read(sd.SAMPLE_DIR / "s3-text")
    parquet = fl.read(sd.SAMPLE_DIR / "s3-parquet")
    assert text.attrs["bad_lines"] == [] and parquet.attrs["bad_lines"] == []
    cols = sorted(c for c in df.columns if c not in ("log_stream", "event_timestamp"))
    key = ["start", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "flow_direction"]

    def norm(frame):
        return frame[cols].astype(str).sort_values(key).reset_index(drop=True)

    pd.testing.assert_frame_equal(norm(text), norm(df))
    pd.testing.assert_frame_equal(norm(parquet), norm(df))


def test_scenario_tcp_probe_rejected(df):
    probe = df[df.dstport == sd.PROBE_PORT]
    ingress = probe[probe.flow_direction == "ingress"]
    egress = probe[probe.flow_direction == "egress"]
    assert len(ingress) == 1 and ingress.action.iloc[0] == "REJECT"
    assert ingress.interface_id.iloc[0] == sd.VPC2.eni
    assert len(egress) == 1 and egress.action.iloc[0] == "ACCEPT"
    assert egress.traffic_path.iloc[0] == 4 and egress.tcp_flags_names.iloc[0] == "SYN"


def test_scenario_pings_accepted_both_ways(df):
    icmp = df[df.protocol_name == "ICMP"]
    assert (icmp.action == "ACCEPT").all()
    assert ((icmp.bytes / icmp.packets) == 84).all()
    for a, b in ((sd.VPC1, sd.VPC2), (sd.VPC2, sd.VPC1)):
        sent = icmp[(icmp.srcaddr == a.private_ip) & (icmp.dstaddr == b.private_ip)]
        out = sent[sent.flow_direction == "egress"]
        into = sent[sent.flow_direction == "ingress"]
        assert set(out.interface_id) == {a.eni} and (out.traffic_path == 4).all()
        assert set(into.interface_id) == {b.eni} and len(into) == len(out) > 0


def test_scenario_noise_nodata_skipdata_ipv6(df):
    scans = df[(df.flow_direction == "ingress") & ~df.srcaddr.fillna("").str.startswith(
        ("10.", "192.168."))]
    assert (scans[scans.protocol_name == "TCP"].action.value_counts().index[0]) == "REJECT"
    assert {"NODATA", "SKIPDATA"} <= set(df.log_status.dropna())
    v6 = df[df.type == "IPv6"]
    assert len(v6) > 0 and (v6[v6.flow_direction == "egress"].traffic_path == 8).all()
