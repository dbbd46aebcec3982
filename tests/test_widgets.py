"""The flow-log explorer widget and the pure filter behind it (labkit.analysis.widgets)."""

from __future__ import annotations

import re
from datetime import datetime

import ipywidgets as W
import pandas as pd
import pytest

from labkit.analysis import widgets
from labkit.analysis.widgets import apply_filters, explorer, parse_ports
from tests.test_charts import ENI_A, ENI_B, ENI_IDLE, INT_DTYPES, make_flow_records


@pytest.fixture(params=list(INT_DTYPES))
def records(request) -> pd.DataFrame:
    return make_flow_records(request.param)


# ------------------------------------------------------------------ apply_filters


def test_no_filter_keeps_everything(records):
    out = apply_filters(records)
    assert out.equals(records)
    assert len(apply_filters(records, action="all", protocol="", eni=[], port="")) == len(records)


def test_action(records):
    rej = apply_filters(records, action="REJECT")
    assert len(rej) == 43 and set(rej["action"]) == {"REJECT"}
    assert len(apply_filters(records, action="accept")) == 60
    assert len(apply_filters(records, action=["ACCEPT", "REJECT"])) == 103  # NODATA has no action
    with pytest.raises(ValueError, match="ACCEPT' or 'REJECT"):
        apply_filters(records, action="DROP")


def test_protocol_by_name_or_number(records):
    tcp = apply_filters(records, protocol="TCP")
    assert len(tcp) == 3 + 40 + 10
    assert apply_filters(records, protocol=6).equals(tcp)
    assert apply_filters(records, protocol="tcp").equals(tcp)
    assert len(apply_filters(records, protocol=["icmp", 17])) == 40 + 10
    assert apply_filters(records, protocol="GRE").empty


def test_protocol_without_names_uses_numbers():
    df = make_flow_records().drop(columns=["protocol_name"])
    assert len(apply_filters(df, protocol="ICMP")) == 40


def test_eni(records):
    assert len(apply_filters(records, eni=ENI_IDLE)) == 4
    b = apply_filters(records, eni=[ENI_B])
    assert set(b["interface_id"]) == {ENI_B}
    assert len(apply_filters(records, eni=[ENI_A, ENI_B])) == len(records) - 4


def test_time_range_is_half_open_and_utc(records):
    lo = pd.Timestamp("2025-03-01 10:05", tz="UTC")
    hi = pd.Timestamp("2025-03-01 10:10", tz="UTC")
    out = apply_filters(records, time_range=(lo, hi))
    assert len(out) > 0
    assert (out["start"] >= lo).all() and (out["start"] < hi).all()
    # naive strings and datetimes are UTC; either end may be open
    assert apply_filters(records, time_range=("2025-03-01 10:05", "2025-03-01 10:10")).equals(out)
    assert apply_filters(records, time_range=(datetime(2025, 3, 1, 10, 5), hi)).equals(out)
    later = apply_filters(records, time_range=(lo, None))
    earlier = apply_filters(records, time_range=(None, lo))
    assert len(later) + len(earlier) == len(records)
    # an aware time in another zone is converted
    paris = pd.Timestamp("2025-03-01 11:05", tz="Europe/Paris")
    assert apply_filters(records, time_range=(paris, None)).equals(later)
    with pytest.raises(ValueError, match="pair"):
        apply_filters(records, time_range="10:05")
    with pytest.raises(ValueError, match="not a time"):
        apply_filters(records, time_range=("soon", None))


def test_port(records):
    ssh = apply_filters(records, port=22)
    assert len(ssh) > 0 and set(ssh["dstport"].astype(int)) == {22}
    assert apply_filters(records, port="22").equals(ssh)
    both = apply_filters(records, port="22, 8080")
    assert set(both["dstport"].astype(int)) == {22, 8080}
    assert apply_filters(records, port=[22, 8080]).equals(both)
    high = apply_filters(records, port="1024-65535")
    assert (high["dstport"].astype(int) >= 1024).all()
    assert len(apply_filters(records, port=0)) == 40  # ICMP records carry port 0
    for bad in ("ssh", "70000", "90-80", True):
        with pytest.raises(ValueError, match="port"):
            apply_filters(records, port=bad)


def test_filters_combine_and_keep_dtypes_and_index(records):
    out = apply_filters(records, action="REJECT", protocol="TCP", eni=ENI_B, port=8080)
    assert len(out) == 3
    assert list(out.dtypes) == list(records.dtypes)
    assert set(out.index) <= set(records.index)
    assert out.index.tolist() == sorted(out.index)


def test_filter_needs_its_column():
    df = make_flow_records().drop(columns=["interface_id"])
    with pytest.raises(ValueError, match="'interface_id'"):
        apply_filters(df, eni=ENI_A)
    assert len(apply_filters(df, action="REJECT")) == 43  # other filters still work


def test_parse_ports():
    assert parse_ports(None) == []
    assert parse_ports("") == []
    assert parse_ports(443) == [(443, 443)]
    assert parse_ports("80,443 8080") == [(80, 80), (443, 443), (8080, 8080)]
    assert parse_ports("1024 - 2048") == [(1024, 2048)]


# ------------------------------------------------------------------ the explorer widget


def test_explorer_is_a_widget_with_filters_chart_and_table(records):
    w = explorer(records)
    assert isinstance(w, W.VBox)
    assert [c.description for c in w.controls] == [
        "action",
        "protocol",
        "ENI",
        "time",
        "dst port",
        "chart",
    ]
    assert w.protocol.options == ("all", "ICMP", "TCP", "UDP")
    assert w.eni.options == ("all", ENI_A, ENI_B, ENI_IDLE)
    assert w.time.options[0][0] == "10:00" and w.time.options[-1][0] == "10:20"
    assert w.chart.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table" in w.table.value and "first 10 rows" in w.table.value
    assert "showing <b>108</b> of 108 records" in w.status.value
    assert len(w.filtered) == len(records)


def test_explorer_repr_is_stable_and_readable(records):
    w = explorer(records)
    text = repr(w)
    assert text == (
        "FlowLogExplorer(108 records, 3 ENIs, 10:00-10:20 UTC; showing 108, no filters)"
    )
    assert repr(explorer(records)) == text
    assert not re.search(r"0x[0-9a-f]{6,}|model_id|[0-9a-f]{32}", text)
    assert w._repr_mimebundle_()["text/plain"] == text


def test_explorer_updates_on_change(records):
    w = explorer(records)
    png = bytes(w.chart.value)
    w.action.value = "REJECT"
    assert len(w.filtered) == 43
    assert bytes(w.chart.value) != png
    assert "showing <b>43</b>" in w.status.value
    assert "ACCEPT" not in w.table.value.split("<tbody>")[1]
    w.port.value = "22"
    assert set(w.filtered["dstport"].astype(int)) == {22}
    assert repr(w).endswith("action=REJECT, port=22)")
    w.eni.value = ENI_B
    assert w.filtered.empty
    assert "no records match" in w.table.value
    w.eni.value = "all"
    w.time.index = (5, 10)
    assert w.filter_values()["time_range"] == (
        pd.Timestamp("2025-03-01 10:05", tz="UTC"),
        pd.Timestamp("2025-03-01 10:10", tz="UTC"),
    )
    assert w.filtered["start"].between("2025-03-01 10:05Z", "2025-03-01 10:09:59Z").all()
    assert "time_range=10:05-10:10" in repr(w)


def test_explorer_bad_port_is_a_message_not_an_exception(records):
    w = explorer(records)
    w.port.value = "ssh"
    assert "port must be a number" in w.status.value
    assert len(w.filtered) == len(records)  # the last good result stays
    w.port.value = "443"
    assert "showing <b>10</b>" in w.status.value


@pytest.mark.parametrize("label", list(widgets.CHARTS))
def test_explorer_draws_every_chart(records, label):
    w = explorer(records)
    before = bytes(w.chart.value)
    w.chart_choice.value = label
    assert w.chart.value[:4] == b"\x89PNG"
    assert label == "accept / reject" or bytes(w.chart.value) != before


def test_explorer_on_empty_and_nodata_frames():
    df = make_flow_records()
    empty = explorer(df.iloc[0:0])
    assert empty.time.disabled
    assert "no records match" in empty.table.value
    assert repr(empty) == "FlowLogExplorer(0 records, 0 ENIs; showing 0, no filters)"
    nodata = explorer(df[df["log_status"] == "NODATA"])
    assert nodata.chart.value[:4] == b"\x89PNG"  # a "no records" chart
    assert "showing <b>4</b> of 4 records" in nodata.status.value


def test_explorer_needs_its_columns():
    df = make_flow_records().drop(columns=["start", "protocol", "protocol_name"])
    with pytest.raises(ValueError, match="'start'.*protocol_name"):
        explorer(df)
    with pytest.raises(ValueError, match="chart must be one of"):
        explorer(make_flow_records(), chart="radar")
