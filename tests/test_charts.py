"""Charts of flow-log records (labkit.analysis.charts) on small frames shaped like the parser's output."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Wedge

from labkit.analysis import charts

matplotlib.use("Agg")

INT_COLUMNS = ("version", "srcport", "dstport", "packets", "bytes")
INT_DTYPES = {
    "Int64": "Int64",
    "arrow": pd.ArrowDtype(pa.int64()),
}

ENI_A = "eni-0a1b2c3d4e5f60001"  # instance in VPC 1, 10.0.1.10
ENI_B = "eni-0a1b2c3d4e5f60002"  # instance in VPC 2, 192.168.1.20
ENI_IDLE = "eni-0a1b2c3d4e5f60003"


def make_flow_records(int_dtype="Int64", seed: int = 7) -> pd.DataFrame:
    """A small, realistic frame as the parser gives it.

    Pings across the peering (ACCEPT on both ENIs), a TCP probe to port 8080 that the
    security group rejects, internet scans of a few TCP ports on the public address
    (REJECT), HTTPS and DNS out (ACCEPT), NODATA for an idle ENI and one SKIPDATA.
    """
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-03-01 10:00:00", tz="UTC")
    rows = []

    def add(eni, src, dst, sport, dport, proto, packets, nbytes, minute, action, direction,
            status="OK"):
        start = t0 + pd.Timedelta(minutes=minute)
        rows.append(
            dict(version=5, account_id="012345678901", interface_id=eni, srcaddr=src,
                 dstaddr=dst, srcport=sport, dstport=dport, protocol=proto, packets=packets,
                 bytes=nbytes, start=start, end=start + pd.Timedelta(seconds=60),
                 action=action, log_status=status, flow_direction=direction)
        )

    for m in range(20):  # ping A -> B every minute, seen on both ENIs
        add(ENI_A, "10.0.1.10", "192.168.1.20", 0, 0, 1, 60, 5040, m, "ACCEPT", "egress")
        add(ENI_B, "10.0.1.10", "192.168.1.20", 0, 0, 1, 60, 5040, m, "ACCEPT", "ingress")
    for m in (5, 6, 7):  # TCP probe to a port the security group does not open
        add(ENI_B, "10.0.1.10", "192.168.1.20", 40000 + m, 8080, 6, 2, 120, m, "REJECT",
            "ingress")
    ports = [22, 22, 22, 23, 3389, 445, 3306, 56121, 80, 8443, 5900, 6379]
    for i in range(40):  # internet background noise on the public address
        port = ports[i % len(ports)] if i % 5 else int(rng.integers(1024, 65535))
        src = f"198.51.100.{int(rng.integers(1, 250))}"
        add(ENI_A, src, "10.0.1.10", int(rng.integers(1024, 65535)), port, 6, 1, 44,
            int(rng.integers(0, 20)), "REJECT", "ingress")
    for m in range(0, 20, 2):  # HTTPS and DNS out
        add(ENI_A, "10.0.1.10", "203.0.113.5", 50000 + m, 443, 6, 40, 52000, m, "ACCEPT",
            "egress")
        add(ENI_B, "192.168.1.20", "192.168.0.2", 53000 + m, 53, 17, 2, 160, m, "ACCEPT",
            "egress")
    for m in range(0, 20, 5):
        add(ENI_IDLE, None, None, None, None, None, None, None, m, None, None, "NODATA")
    add(ENI_B, None, None, None, None, None, None, None, 12, None, None, "SKIPDATA")

    df = pd.DataFrame(rows)
    return conform(df, int_dtype)


def conform(df: pd.DataFrame, int_dtype="Int64") -> pd.DataFrame:
    """Give a frame the parser's dtypes (the input contract)."""
    df = df.copy()
    dtype = INT_DTYPES.get(int_dtype, int_dtype)
    for col in INT_COLUMNS:
        df[col] = df[col].astype("Int64").astype(dtype)
    df["account_id"] = df["account_id"].astype("string")
    for col in ("interface_id", "srcaddr", "dstaddr"):
        df[col] = df[col].astype("string")
    df["protocol"] = df["protocol"].astype("Int64").astype(
        pd.CategoricalDtype(pd.array([1, 6, 17, 58], dtype="Int64"))
    )
    names = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
    df["protocol_name"] = df["protocol"].map(names).astype("string")
    df["action"] = df["action"].astype(pd.CategoricalDtype(["ACCEPT", "REJECT"]))
    df["log_status"] = df["log_status"].astype(pd.CategoricalDtype(["OK", "NODATA", "SKIPDATA"]))
    df["flow_direction"] = df["flow_direction"].astype(pd.CategoricalDtype(["ingress", "egress"]))
    for col in ("start", "end"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


@pytest.fixture(params=list(INT_DTYPES))
def records(request) -> pd.DataFrame:
    return make_flow_records(request.param)


def nodata_only() -> pd.DataFrame:
    df = make_flow_records()
    return df[df["log_status"].isin(["NODATA", "SKIPDATA"])].reset_index(drop=True)


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def wedges(ax) -> list[Wedge]:
    return [p for p in ax.patches if isinstance(p, Wedge)]


ALL_CHARTS = {
    "accept_reject_pie": charts.accept_reject_pie,
    "top_talkers": charts.top_talkers,
    "traffic_over_time": charts.traffic_over_time,
    "rejects_by_port": charts.rejects_by_port,
    "src_dst_matrix": charts.src_dst_matrix,
}


def test_test_frame_matches_the_contract(records):
    assert str(records["account_id"].iloc[0]) == "012345678901"
    assert isinstance(records["action"].dtype, pd.CategoricalDtype)
    assert str(records["start"].dt.tz) == "UTC"
    assert records["packets"].isna().sum() == 5  # NODATA / SKIPDATA rows


# ------------------------------------------------------------------ accept_reject_pie


def test_pie_splits_accept_by_protocol_and_reject_by_port(records):
    fig = charts.accept_reject_pie(records, top_n=5)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_title().startswith("Accepted vs rejected traffic")
    labels = legend_texts(ax)
    # ACCEPT: ICMP (40), TCP (10 HTTPS), UDP (10 DNS); REJECT: top 5 ports + "other"
    assert len(labels) == 3 + 5 + 1
    assert labels[0] == "ACCEPT ICMP: 40 (38.8%)"
    assert [lab.split(":")[0] for lab in labels[:3]] == ["ACCEPT ICMP", "ACCEPT TCP", "ACCEPT UDP"]
    assert "REJECT TCP 22 (ssh)" in [lab.split(":")[0] for lab in labels]
    assert labels[-1].startswith("REJECT other ports:")
    assert all("%" in lab for lab in labels)
    # outer ring (9 slices) + inner ring (ACCEPT, REJECT)
    ws = wedges(ax)
    assert len(ws) == 9 + 2
    assert [w.get_label() for w in ws[-2:]] == ["ACCEPT", "REJECT"]
    assert ws[-2].get_facecolor()[:3] == pytest.approx(matplotlib.colors.to_rgb("#2e9d57"))
    assert ws[-1].get_facecolor()[:3] == pytest.approx(matplotlib.colors.to_rgb("#d1453b"))
    # 103 traffic records: 60 ACCEPT, 43 REJECT; NODATA/SKIPDATA left out
    assert "(103 records)" in ax.get_title()
    assert any(t.startswith("ACCEPT 60 (58.3%)") for t in texts(fig))
    assert any(t.startswith("REJECT 43 (41.7%)") for t in texts(fig))


def test_pie_without_other_when_few_ports(records):
    fig = charts.accept_reject_pie(records, top_n=50)
    labels = legend_texts(fig.axes[0])
    assert not any("other" in lab for lab in labels)
    assert "REJECT TCP 8080 (http-alt): 3 (2.9%)" in labels


def test_pie_counts_bytes(records):
    fig = charts.accept_reject_pie(records, value="bytes")
    ax = fig.axes[0]
    assert "bytes" in ax.get_title()
    assert any("kB" in lab for lab in legend_texts(ax))


def test_pie_only_accepts():
    df = make_flow_records()
    df = df[df["action"] == "ACCEPT"]
    ax = charts.accept_reject_pie(df).axes[0]
    assert len(wedges(ax)) == 3 + 1


def test_pie_only_rejects():
    df = make_flow_records()
    ax = charts.accept_reject_pie(df[df["action"] == "REJECT"], top_n=3).axes[0]
    assert len(wedges(ax)) == 3 + 1 + 1  # 3 ports + other, inner REJECT only
    assert legend_texts(ax)[0].startswith("REJECT TCP 22 (ssh): 10 (23.3%)")


def test_pie_falls_back_to_protocol_numbers():
    df = make_flow_records().drop(columns=["protocol_name"])
    labels = legend_texts(charts.accept_reject_pie(df).axes[0])
    assert labels[0].startswith("ACCEPT ICMP:")


# ------------------------------------------------------------------ other charts


def test_top_talkers(records):
    fig = charts.top_talkers(records, n=3, by="bytes")
    (ax,) = fig.axes
    assert ax.get_title() == "Top 3 talkers by bytes"
    assert ax.get_xlabel() == "bytes"
    assert ax.get_ylabel() == "source → destination"
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == 3
    assert ticks[-1] == "10.0.1.10 → 203.0.113.5"  # largest at the top
    assert legend_texts(ax) == ["ACCEPT", "REJECT"]  # the probe to 8080 is rejected


def test_top_talkers_by_records_stacks_actions(records):
    ax = charts.top_talkers(records, n=10, by="records").axes[0]
    assert len(ax.get_yticklabels()) == 10
    assert set(legend_texts(ax)) == {"ACCEPT", "REJECT"}


def test_traffic_over_time(records):
    fig = charts.traffic_over_time(records, freq="1min")
    (ax,) = fig.axes
    assert ax.get_title() == "Traffic over time (records per 1min)"
    assert ax.get_xlabel() == "record start: its first packet (UTC)"
    assert ax.get_ylabel() == "records per 1min"
    assert legend_texts(ax) == ["ACCEPT", "REJECT"]
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == 103
    assert len(ax.patches) == 2 * 20  # 20 one-minute windows, two actions


def test_traffic_over_time_coarser_and_bad_freq(records):
    ax = charts.traffic_over_time(records, freq="5min", value="packets").axes[0]
    assert len(ax.patches) == 2 * 4
    with pytest.raises(ValueError, match="freq"):
        charts.traffic_over_time(records, freq="banana")
    with pytest.raises(ValueError, match="coarser"):
        charts.traffic_over_time(records, freq="1s", max_bins=100)


def test_rejects_by_port(records):
    fig = charts.rejects_by_port(records, n=5)
    (ax,) = fig.axes
    assert ax.get_title() == "Top 5 rejected destination ports"
    assert ax.get_xlabel() == "rejected records"
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == 5
    assert ticks[-1] == "TCP 22 (ssh)"
    assert all(p.get_facecolor()[:3] == pytest.approx((0xD1 / 255, 0x45 / 255, 0x3B / 255))
               for p in ax.patches)
    assert any("sources)" in t for t in texts(fig))


def test_rejects_by_port_without_rejects():
    df = make_flow_records()
    fig = charts.rejects_by_port(df[df["action"] == "ACCEPT"])
    assert any("no REJECT records" in t for t in texts(fig))


def test_src_dst_matrix(records):
    fig = charts.src_dst_matrix(records, value="packets", n=4)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # heatmap + colour bar
    assert ax.get_title() == "Packets from source to destination"
    assert ax.get_xlabel() == "destination address"
    assert ax.get_ylabel() == "source address"
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert rows[0] == "10.0.1.10" and rows[-1] == "other" and len(rows) == 5
    assert cols[0] == "192.168.1.20" and len(cols) == 4
    cells = [t.get_text() for t in ax.texts]
    assert "2,406" in cells  # 40 pings x 60 packets + 3 probes x 2
    assert "kB" not in "".join(cells)


# ------------------------------------------------------------------ empty, NODATA, errors


@pytest.mark.parametrize("name", list(ALL_CHARTS))
@pytest.mark.parametrize(
    "frame",
    [
        lambda: make_flow_records().iloc[0:0],
        nodata_only,
        pd.DataFrame,
    ],
    ids=["empty", "nodata-only", "no-columns"],
)
def test_charts_say_no_records(name, frame):
    fig = ALL_CHARTS[name](frame())
    assert isinstance(fig, Figure)
    assert "no records" in texts(fig)
    assert fig.axes[0].get_title()


@pytest.mark.parametrize("name", list(ALL_CHARTS))
@pytest.mark.parametrize(
    "select",
    [
        lambda df: df[df["action"] == "REJECT"],
        lambda df: df[df["action"] == "ACCEPT"],
        lambda df: df.iloc[[0]],
        lambda df: df.assign(bytes=pd.NA, packets=pd.NA).astype(
            {"bytes": df["bytes"].dtype, "packets": df["packets"].dtype}
        ),
    ],
    ids=["reject-only", "accept-only", "one-record", "no-counters"],
)
def test_charts_on_odd_frames(name, select, records):
    fig = ALL_CHARTS[name](select(records))
    assert isinstance(fig, Figure)
    fig.savefig(io.BytesIO(), format="png", dpi=50)


def test_nodata_only_says_why():
    fig = charts.accept_reject_pie(nodata_only())
    assert any("NODATA/SKIPDATA" in t for t in texts(fig))


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("accept_reject_pie", "action"),
        ("accept_reject_pie", "dstport"),
        ("top_talkers", "srcaddr"),
        ("top_talkers", "bytes"),
        ("traffic_over_time", "start"),
        ("rejects_by_port", "dstport"),
        ("src_dst_matrix", "packets"),
    ],
)
def test_missing_column_is_named(name, column):
    df = make_flow_records().drop(columns=[column])
    with pytest.raises(ValueError, match=f"'{column}'"):
        ALL_CHARTS[name](df)


def test_missing_protocol_columns_are_named():
    df = make_flow_records().drop(columns=["protocol", "protocol_name"])
    with pytest.raises(ValueError, match="'protocol_name' \\(or 'protocol'\\)"):
        charts.accept_reject_pie(df)


def test_bad_options():
    df = make_flow_records()
    with pytest.raises(ValueError, match="by must be one of"):
        charts.top_talkers(df, by="flows")
    with pytest.raises(ValueError, match="positive integer"):
        charts.rejects_by_port(df, n=0)
    with pytest.raises(TypeError, match="DataFrame"):
        charts.accept_reject_pie([1, 2, 3])


def test_charts_do_not_touch_pyplot(records):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for fn in ALL_CHARTS.values():
        fn(records)
    assert plt.get_fignums() == before


@pytest.mark.parametrize("name", list(ALL_CHARTS))
def test_charts_render_to_png(name, records, tmp_path):
    fig = ALL_CHARTS[name](records)
    out = tmp_path / f"{name}.png"
    fig.savefig(out, dpi=80)
    assert out.stat().st_size > 5000


def test_pie_gives_highlighted_rejected_port_its_own_slice():
    df = make_flow_records("Int64")
    rejected = df[df["action"] == "REJECT"]["dstport"].value_counts()
    rare = int(rejected.index[-1])  # the least frequent rejected port: "other" without a highlight
    legend = lambda fig: [t.get_text() for t in fig.axes[0].get_legend().get_texts()]  # noqa: E731
    plain = legend(charts.accept_reject_pie(df, top_n=1))
    highlighted = legend(charts.accept_reject_pie(df, top_n=1, highlight_ports=[rare]))
    assert not any(f" {rare} " in t or t.endswith(f" {rare}") for t in plain)
    assert any(f" {rare}" in t for t in highlighted)


# ---- each flow once, and the guide's pie ----------------------------------------------------------
# AWS, "Flow log record examples" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html):
# each interface records its own side, so traffic between two instances is in both interfaces' logs;
# a security group that refuses a connection leaves one REJECT, on the receiver.


def test_each_flow_once_keeps_one_interfaces_view_of_a_flow_both_recorded(records):
    flows = charts.each_flow_once(records)
    ping = flows[(flows["protocol_name"] == "ICMP") & (flows["dstaddr"] == "192.168.1.20")]
    sent = records[(records["interface_id"] == ENI_A) & (records["protocol"] == 1)]
    assert len(ping) == 1 and ping["interfaces"].item() == 2
    assert ping["packets"].item() == sent["packets"].sum()  # not twice: ENI B saw the same packets
    assert ping["records"].item() == len(sent)
    probes = flows[flows["dstport"] == 8080]
    assert len(probes) == 3 and set(probes["action"]) == {"REJECT"}
    assert flows[list(charts.FLOW_KEY)].duplicated().sum() == 0


def test_top_talkers_counts_a_flow_between_two_instances_once(records):
    between = records[(records["srcaddr"] == "10.0.1.10") & (records["dstaddr"] == "192.168.1.20")]
    once = between[between["interface_id"] == ENI_A]["bytes"].sum() + between[
        between["dstport"] == 8080]["bytes"].sum()
    twice = between["bytes"].sum()
    assert once < twice
    fig = charts.top_talkers(records, n=5, by="bytes")
    labels = texts(fig)
    assert f" {charts.human(once, 'bytes')}" in labels
    assert f" {charts.human(twice, 'bytes')}" not in labels


def _lab_like_records() -> pd.DataFrame:
    """The lab's traffic: pings both ways and the refused probe, each on both instances, plus scans."""
    from labkit.lab.names import PRIVATE_IPS, PROBE_PORT

    one, two = PRIVATE_IPS["vpc1"], PRIVATE_IPS["vpc2"]
    t0 = pd.Timestamp("2025-03-01 10:00:00", tz="UTC")
    rows = []

    def add(eni, src, dst, sport, dport, proto, packets, action, direction):
        rows.append(dict(version=5, account_id="012345678901", interface_id=eni, srcaddr=src, dstaddr=dst,
                         srcport=sport, dstport=dport, protocol=proto, packets=packets, bytes=84 * packets,
                         start=t0, end=t0, action=action, log_status="OK", flow_direction=direction))

    # ICMP has no ports: one ping's requests and the other's replies are one flow, 8 packets each way.
    for src, dst, sender, receiver in ((one, two, ENI_A, ENI_B), (two, one, ENI_B, ENI_A)):
        add(sender, src, dst, 0, 0, 1, 8, "ACCEPT", "egress")
        add(receiver, src, dst, 0, 0, 1, 8, "ACCEPT", "ingress")
    add(ENI_A, one, two, 41234, PROBE_PORT, 6, 1, "ACCEPT", "egress")  # the SYN leaves the sender
    add(ENI_B, one, two, 41234, PROBE_PORT, 6, 1, "REJECT", "ingress")  # and is refused on arrival
    for i, port in enumerate((22, 3389, 23)):
        add(ENI_A, f"198.51.100.{i + 1}", one, 50000 + i, port, 6, 1, "REJECT", "ingress")
    return conform(pd.DataFrame(rows))


def test_guide_pie_shows_the_two_vpcs_traffic_as_the_guide_does():
    from labkit.lab.names import PROBE_PORT

    fig = charts.guide_pie(_lab_like_records())
    (ax,) = fig.axes
    slice_labels = [t.get_text() for t in ax.texts if not t.get_text()[:1].isdigit()]
    assert slice_labels == ["ICMP Allowed", f"TCP Rejected (Port {PROBE_PORT})"]
    assert len(wedges(ax)) == 2
    assert "67%\n(2)" in texts(fig) and "33%\n(1)" in texts(fig)  # two ping flows, one probe
    assert ax.get_title() == "Traffic between the two VPCs (3 flows, each flow counted once)"


def test_guide_pie_by_packets_and_its_refusals():
    frame = _lab_like_records()
    assert "94%\n(16)" in texts(charts.guide_pie(frame, value="packets"))  # 16 ICMP packets, 1 TCP
    only_scans = frame[frame["srcaddr"].str.startswith("198.51.100.")]
    assert "no records" in texts(charts.guide_pie(only_scans))
    with pytest.raises(ValueError, match="value must be"):
        charts.guide_pie(frame, value="bytes")
    with pytest.raises(ValueError, match="'action'"):
        charts.guide_pie(frame.drop(columns=["action"]))
