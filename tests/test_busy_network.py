"""The simulated busy VPC: deterministic, shaped like real traffic, delivered where AWS would put it.

Specification: Amazon VPC User Guide, "Flow log records" (fields, ``-`` and NODATA/SKIPDATA
records without traffic fields, ``traffic-path`` for egress only), "Flow log record examples"
(ACCEPT/REJECT, NAT gateway records whose ``pkt-dstaddr`` differs from ``dstaddr``) and "Flow
log files" (one object per flow log and 5 minutes, Hive-compatible hourly prefixes).
"""

from __future__ import annotations

from datetime import date

import pyarrow.compute as pc
import pytest

from labkit import LabError, flowlogs, open_lab
from labkit.lab.busy_network import busy_network_table

DAY = date(2026, 1, 15)


@pytest.fixture(scope="module")
def table():
    return busy_network_table(60_000, interfaces=300, hours=24, seed=7, day=DAY)


def test_same_seed_same_records_other_seed_other_records(table):
    assert busy_network_table(60_000, interfaces=300, hours=24, seed=7, day=DAY).equals(table)
    assert not busy_network_table(60_000, interfaces=300, hours=24, seed=8, day=DAY).equals(table)


def test_realistic_shares_and_hundreds_of_interfaces(table):
    frame = flowlogs.read(flowlogs.parquet_object(table, flowlogs.LAB_FIELDS))
    ok = frame[frame["log_status"] == "OK"]
    assert 250 <= frame["interface_id"].nunique() <= 300
    reject = (ok["action"] == "REJECT").mean()
    assert 0.15 < reject < 0.30
    assert 0.005 < (frame["log_status"] == "NODATA").mean() < 0.02
    assert (frame["log_status"] == "SKIPDATA").sum() > 0
    nodata = frame[frame["log_status"] != "OK"]
    assert nodata["srcaddr"].isna().all() and nodata["action"].isna().all()
    # Web, SSH, DNS over UDP, databases, and scans of many ports.
    assert {443, 80, 22, 53, 5432, 8080} <= set(ok["dstport"].dropna().astype(int))
    assert set(ok.loc[ok["dstport"] == 53, "protocol_name"]) == {"UDP"}
    assert ok.loc[ok["action"] == "REJECT", "dstport"].nunique() > 100
    # NAT gateway records: the packet's destination is on the internet, not the gateway.
    natted = ok[ok["pkt_dstaddr"] != ok["dstaddr"]]
    assert len(natted) > 0 and not natted["pkt_dstaddr"].str.startswith("10.20.").any()
    assert ok.loc[ok["flow_direction"] == "ingress", "traffic_path"].isna().all()
    assert frame["start"].dt.date.eq(DAY).all()
    assert ((frame["end"] - frame["start"]).dt.total_seconds().between(0, 59)).all()


def test_records_sorted_by_start(table):
    starts = table.column("start")
    assert pc.all(pc.greater_equal(starts.slice(1), starts.slice(0, len(starts) - 1))).as_py()


def test_arguments_are_checked():
    with pytest.raises(LabError, match="interfaces 20-4000"):
        busy_network_table(10, interfaces=5)


def test_simulated_day_in_the_bucket_is_queryable_and_an_hour_prunes(fresh_emulator):
    lab = open_lab(quiet=True)
    written = lab.simulate_busy_network(records=40_000, interfaces=200, seed=3, day=DAY, progress=False)
    assert written.records == 40_000 and written.objects == 288  # 24 hours of 5-minute objects
    day_sql = "SELECT count(*) AS n, sum(bytes) AS b FROM vpc_flow_logs"
    whole = lab.athena(day_sql)
    assert whole["n"].tolist() == [40_000]
    hour = lab.athena(day_sql + " WHERE year = '2026' AND month = '01' AND day = '15' AND hour = '03'")
    scanned = hour.attrs["statistics"]["DataScannedInBytes"] / whole.attrs["statistics"]["DataScannedInBytes"]
    assert hour.attrs["statistics"]["ObjectsRead"] == 12 and scanned <= 1 / 20
    again = lab.simulate_busy_network(records=40_000, interfaces=200, seed=3, day=DAY, progress=False)
    assert again.bytes_written == written.bytes_written  # same seed, same objects (same keys)
    assert lab.athena(day_sql)["n"].tolist() == [40_000]
