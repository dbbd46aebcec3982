"""Charts of flow-log records: each function takes the parser's DataFrame and returns a Figure.

Every chart is a plain :class:`matplotlib.figure.Figure` made without pyplot, so it
works under the Agg backend, leaves pyplot's figure list alone and shows exactly once
when it is the last expression of a notebook cell. Colours are the same everywhere:
ACCEPT is green, REJECT is red.

Records whose ``log_status`` is NODATA or SKIPDATA carry no traffic and are left out of
every chart. A frame with no traffic left gives a figure that says "no records"; a frame
without a column a chart needs raises :class:`ValueError` naming that column.

>>> fig = guide_pie(records)                    # the seed guide's chart: the two VPCs' traffic
>>> fig.savefig("guide_pie.png")

A flow between two of the lab's instances is recorded twice, once by each interface (egress on the
sender, ingress on the receiver). ``guide_pie`` and ``top_talkers`` count each flow once
(:func:`each_flow_once`); ``accept_reject_pie`` counts records, as the log group holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from labkit.analysis.queries import in_subnet
from labkit.flowlogs import PROTOCOL_NAMES, protocol_name
from labkit.lab.names import VPC_CIDRS

__all__ = [
    "ACCEPT_COLOR",
    "REJECT_COLOR",
    "ACTION_COLORS",
    "accept_reject_pie",
    "each_flow_once",
    "guide_pie",
    "top_talkers",
    "traffic_over_time",
    "rejects_by_port",
    "src_dst_matrix",
]

ACCEPT_COLOR = "#2e9d57"
"""The colour of ACCEPT in every chart."""
REJECT_COLOR = "#d1453b"
"""The colour of REJECT in every chart."""
OTHER_COLOR = "#9e9e9e"
REJECT_OTHER_COLOR = "#f1c4bf"  # the "other ports" slice: still a REJECT, paler
ACTION_COLORS = {"ACCEPT": ACCEPT_COLOR, "REJECT": REJECT_COLOR}
"""action -> colour, for charts of your own that should match the lab's."""

#: log-status values that carry no traffic (the interface was idle or records were lost).
NO_TRAFFIC_STATUSES = frozenset({"NODATA", "SKIPDATA"})

_PORTLESS = {protocol_name(1), protocol_name(58)}

#: a few well-known ports, so a learner reads "TCP 22 (ssh)" rather than a bare number.
WELL_KNOWN_PORTS = {
    20: "ftp-data",
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "dns",
    80: "http",
    110: "pop3",
    123: "ntp",
    135: "msrpc",
    139: "netbios",
    143: "imap",
    161: "snmp",
    389: "ldap",
    443: "https",
    445: "smb",
    993: "imaps",
    1433: "mssql",
    1521: "oracle",
    2049: "nfs",
    2375: "docker",
    3306: "mysql",
    3389: "rdp",
    5432: "postgres",
    5900: "vnc",
    6379: "redis",
    8080: "http-alt",
    8443: "https-alt",
    9200: "elastic",
    11211: "memcached",
    27017: "mongodb",
}

_VALUES = ("records", "packets", "bytes")


# --------------------------------------------------------------------------- helpers


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    _ensure_notebook_display()
    return fig


def _ensure_notebook_display() -> None:
    """Let IPython show a pyplot-free Figure as a PNG (once, and only if nothing else does)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the lab
        return
    ip = get_ipython()
    formatters = getattr(getattr(ip, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters:
        return
    png = formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
        return
    except KeyError:
        pass
    from IPython.core.pylabtools import print_figure

    png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def _check_frame(df: object, required: Iterable[str], chart: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{chart}() needs a pandas DataFrame of flow-log records, got {type(df)!r}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        have = ", ".join(map(str, df.columns)) or "none"
        raise ValueError(
            f"{chart}() needs column(s) {names}, missing from the DataFrame (columns: {have})"
        )


def _check_protocol_column(df: pd.DataFrame, chart: str) -> None:
    if "protocol_name" not in df.columns and "protocol" not in df.columns:
        have = ", ".join(map(str, df.columns)) or "none"
        raise ValueError(
            f"{chart}() needs column 'protocol_name' (or 'protocol'), missing from the "
            f"DataFrame (columns: {have})"
        )


def _check_value(value: str, chart: str, name: str = "value") -> None:
    if value not in _VALUES:
        raise ValueError(f"{chart}(): {name} must be one of {_VALUES}, got {value!r}")


def _is_blank(df: object) -> bool:
    """A DataFrame with no columns at all (for example ``pd.DataFrame()``): nothing to check."""
    return isinstance(df, pd.DataFrame) and len(df.columns) == 0


def traffic_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The records that describe traffic: log_status NODATA and SKIPDATA left out."""
    if "log_status" not in df.columns or df.empty:
        return df
    status = df["log_status"].astype("string").str.upper()
    return df[~status.isin(NO_TRAFFIC_STATUSES).fillna(False).to_numpy(dtype=bool)]


def _actions(df: pd.DataFrame) -> pd.Series:
    return df["action"].astype("string").str.strip().str.upper()


def _action_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Traffic rows that have an action, and their action as upper-case strings."""
    rows = traffic_rows(df)
    action = _actions(rows)
    keep = action.notna().to_numpy(dtype=bool)
    return rows[keep], action[keep]


def protocol_labels(df: pd.DataFrame) -> pd.Series:
    """Protocol names (ICMP, TCP, UDP, ICMPv6, or the number) as strings, one per row."""
    names = pd.Series(pd.NA, index=df.index, dtype="string")
    if "protocol_name" in df.columns:
        names = df["protocol_name"].astype("string")
    if "protocol" in df.columns and names.isna().any():
        numbers = pd.to_numeric(df["protocol"].astype("object"), errors="coerce").astype("Int64")
        from_number = numbers.map(PROTOCOL_NAMES).astype("string")
        names = names.fillna(from_number).fillna(numbers.astype("string"))
    return names.fillna("unknown")


def _port_label(proto: str, port: str) -> str:
    if proto in _PORTLESS or not port:
        return proto
    service = WELL_KNOWN_PORTS.get(int(port))
    return f"{proto} {port} ({service})" if service else f"{proto} {port}"


def port_labels(df: pd.DataFrame) -> pd.Series:
    """'TCP 22 (ssh)', 'UDP 53 (dns)', 'TCP 56121', 'ICMP': protocol plus destination port."""
    proto = protocol_labels(df)
    ports = pd.to_numeric(df["dstport"].astype("object"), errors="coerce").astype("Int64")
    combo = proto + "|" + ports.astype("string").fillna("")
    codes, uniques = pd.factorize(combo)  # label each distinct pair once, not each row
    labels = np.array([_port_label(*u.split("|", 1)) for u in uniques], dtype=object)
    return pd.Series(labels[codes] if len(codes) else [], index=df.index, dtype="object")


def _weights(df: pd.DataFrame, value: str) -> pd.Series:
    if value == "records":
        return pd.Series(1.0, index=df.index)
    return df[value].astype("float64").fillna(0.0)


def _value_label(value: str) -> str:
    return {"records": "records", "packets": "packets", "bytes": "bytes"}[value]


def human(x: float, value: str = "records") -> str:
    """A short readable number: 1,234 / 12.3k / 4.5M records, 1.2 MB."""
    if value == "bytes":
        for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if abs(x) >= size:
                return f"{x / size:.1f} {unit}"
        return f"{x:,.0f} B"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.1f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.1f}k"
    return f"{x:,.0f}"


def _no_records_figure(title: str, detail: str = "", figsize=(8, 4.5)) -> Figure:
    fig = _new_figure(figsize)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.55, "no records", ha="center", va="center", fontsize=20, color="0.35")
    if detail:
        ax.text(0.5, 0.38, detail, ha="center", va="center", fontsize=10, color="0.45", wrap=True)
    return fig


def _excluded_note(df: pd.DataFrame) -> str:
    total = len(df)
    kept = len(traffic_rows(df)) if total else 0
    if total and kept < total:
        return f"{total - kept:,} NODATA/SKIPDATA record(s) carry no traffic and are not charted"
    return "the DataFrame has no flow-log records"


def _shades(color: str, n: int, light: float = 0.55) -> list[tuple[float, float, float]]:
    """n shades of one colour, from the colour itself towards white."""
    base = np.array(to_rgb(color))
    if n <= 0:
        return []
    if n == 1:
        return [tuple(base)]
    return [tuple(base + (1 - base) * light * i / (n - 1)) for i in range(n)]


def _top_with_other(sizes: pd.Series, n: int, other: str = "other", keep=()) -> pd.Series:
    """The n largest slices, plus every label in ``keep``, and the rest summed as ``other``."""
    sizes = sizes.sort_values(ascending=False, kind="stable")
    chosen = [label for label in sizes.index if label in set(keep)]
    chosen += [label for label in sizes.index if label not in chosen][: max(n - len(chosen), 0)]
    if len(chosen) == len(sizes):
        return sizes
    top = sizes[[label for label in sizes.index if label in chosen]].copy()
    top[other] = sizes.drop(chosen).sum()
    return top


def _check_n(n: int, chart: str, name: str = "n") -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{chart}(): {name} must be a positive integer, got {n!r}")


FLOW_KEY = ("srcaddr", "dstaddr", "srcport", "dstport", "protocol")
"""The 5-tuple that makes a flow: a record aggregates one flow on one interface over a capture window."""


def each_flow_once(df: pd.DataFrame) -> pd.DataFrame:
    """One row per flow (5-tuple), however many interfaces recorded it.

    Traffic between two instances is recorded by both interfaces (AWS, "Flow log record examples"):
    summing every record counts it twice. Each flow keeps the ``packets``, ``bytes`` and ``records``
    of the interface that saw the most packets of it (the sender saw every packet sent, the receiver
    at most as many), and ``action`` REJECT when any interface rejected it. NODATA/SKIPDATA records
    carry no flow and are left out.
    """
    _check_frame(df, list(FLOW_KEY), "each_flow_once")
    rows = traffic_rows(df)
    interface = (rows["interface_id"].astype("string").fillna("?") if "interface_id" in rows.columns
                 else pd.Series("?", index=rows.index, dtype="string"))
    keys = [rows[c].astype("string").fillna("-").rename(c) for c in FLOW_KEY]
    seen = pd.DataFrame({
        "packets": _weights(rows, "packets") if "packets" in rows.columns else 0.0,
        "bytes": _weights(rows, "bytes") if "bytes" in rows.columns else 0.0,
        "records": 1.0,
        "rejected": (_actions(rows) == "REJECT").fillna(False).astype(bool)
        if "action" in rows.columns else False,
    }, index=rows.index)
    per_interface = seen.groupby([*keys, interface.rename("interface")], sort=False).agg(
        packets=("packets", "sum"), bytes=("bytes", "sum"), records=("records", "sum"),
        rejected=("rejected", "any")).reset_index()
    busiest = per_interface.sort_values(["packets", "records"], ascending=False, kind="stable")
    flows = busiest.groupby(list(FLOW_KEY), sort=False).agg(
        packets=("packets", "first"), bytes=("bytes", "first"), records=("records", "first"),
        rejected=("rejected", "any"), interfaces=("interface", "nunique")).reset_index()
    for column in ("packets", "bytes", "records"):
        flows[column] = flows[column].round().astype("Int64")
    flows["action"] = np.where(flows.pop("rejected"), "REJECT", "ACCEPT")
    if "action" not in df.columns:
        flows["action"] = "all"
    for column in ("srcport", "dstport", "protocol"):
        flows[column] = pd.to_numeric(flows[column], errors="coerce").astype("Int64")
    flows["protocol_name"] = protocol_labels(flows[["protocol"]])
    return flows


def _guide_label(protocol: str, action: str, port) -> str:
    verdict = {"ACCEPT": "Allowed", "REJECT": "Rejected"}.get(action, action)
    if protocol in _PORTLESS or pd.isna(port):
        return f"{protocol} {verdict}"
    return f"{protocol} {verdict} (Port {int(port)})"


# --------------------------------------------------------------------------- charts


def guide_pie(df: pd.DataFrame, between: tuple[str, str] = (VPC_CIDRS["vpc1"], VPC_CIDRS["vpc2"]),
              value: str = "flows") -> Figure:
    """The seed guide's chart: the traffic between the two VPCs only, one slice per kind of flow.

    Only records from one of the ``between`` CIDRs to the other count (the internet's scans are
    left out). Each flow counts once (:func:`each_flow_once`): allowed when every interface
    accepted it, rejected when one rejected it, so the probe's SYN, ACCEPTed as it left the sender,
    is not a slice of its own. Slices are labelled like the guide's, "ICMP Allowed",
    "TCP Rejected (Port 56121)". ``value`` is "flows" (default) or "packets".
    """
    chart = "guide_pie"
    if value not in ("flows", "packets"):
        raise ValueError(f"{chart}(): value must be 'flows' or 'packets', got {value!r}")
    title = "Traffic between the two VPCs"
    if _is_blank(df):
        return _no_records_figure(title, _excluded_note(df))
    _check_frame(df, [*FLOW_KEY, "action"], chart)
    one, two = between
    src, dst = df["srcaddr"], df["dstaddr"]
    crossing = (in_subnet(src, one) & in_subnet(dst, two)) | (in_subnet(src, two) & in_subnet(dst, one))
    flows = each_flow_once(df[crossing.to_numpy()]) if crossing.any() else df.iloc[0:0]
    if flows.empty:
        return _no_records_figure(title, f"no records from {one} to {two} or back")
    labels = [_guide_label(p, a, port) for p, a, port in
              zip(flows["protocol_name"], flows["action"], flows["dstport"], strict=True)]
    weights = flows["packets"] if value == "packets" else pd.Series(1.0, index=flows.index)
    sizes = weights.groupby(pd.Series(labels, index=flows.index), sort=False).sum()
    sizes = sizes.sort_values(ascending=False, kind="stable")
    allowed = [label for label in sizes.index if " Allowed" in label]
    shades = dict(zip(allowed, _shades(ACCEPT_COLOR, len(allowed)), strict=True))
    rejected = [label for label in sizes.index if label not in shades]
    shades |= dict(zip(rejected, _shades(REJECT_COLOR, len(rejected)), strict=True))
    total = float(sizes.sum())

    fig = _new_figure((7.5, 5.2))
    ax = fig.add_subplot()
    ax.pie(sizes.to_numpy(dtype=float), labels=list(sizes.index), colors=[shades[x] for x in sizes.index],
           autopct=lambda p: f"{p:.0f}%\n({p * total / 100:.0f})", startangle=90, counterclock=False,
           wedgeprops={"edgecolor": "white", "linewidth": 1.5}, textprops={"fontsize": 11})
    ax.set_aspect("equal")
    unit = "flows" if value == "flows" else "packets"
    ax.set_title(f"{title} ({human(total)} {unit}, each flow counted once)", fontsize=12)
    return fig


def accept_reject_pie(df: pd.DataFrame, top_n: int = 5, value: str = "records",
                      highlight_ports=()) -> Figure:
    """The seed guide's chart, from real records: a donut of ACCEPT vs REJECT.

    The inner ring is ACCEPT against REJECT. The outer ring splits ACCEPT by protocol and
    REJECT by protocol and destination port (the ``top_n`` largest, the rest as "other").
    ``value`` is what is counted: "records" (default), "packets" or "bytes". The legend
    gives every slice with its count and its share of the total. Rejected destination ports
    in ``highlight_ports`` always get a slice of their own (the lab's probe, 56121).
    """
    chart = "accept_reject_pie"
    _check_value(value, chart)
    _check_n(top_n, chart, "top_n")
    title = "Accepted vs rejected traffic"
    if _is_blank(df):
        return _no_records_figure(title, _excluded_note(df))
    required = ["action", "dstport"] + ([value] if value != "records" else [])
    _check_frame(df, required, chart)
    _check_protocol_column(df, chart)

    rows, action = _action_rows(df)
    if rows.empty:
        return _no_records_figure(title, _excluded_note(df))
    w = _weights(rows, value)
    acc = action == "ACCEPT"
    rej = action == "REJECT"
    accept_sizes = w[acc].groupby(protocol_labels(rows[acc]), sort=False).sum()
    accept_sizes = accept_sizes[accept_sizes > 0].sort_values(ascending=False, kind="stable")
    labels = port_labels(rows[rej])
    reject_sizes = w[rej].groupby(labels, sort=False).sum()
    keep = set(labels[rows.loc[rej, "dstport"].isin(list(highlight_ports)).fillna(False).to_numpy()])
    reject_sizes = _top_with_other(reject_sizes[reject_sizes > 0], top_n, keep=keep)
    total = float(accept_sizes.sum() + reject_sizes.sum())
    if total <= 0:
        return _no_records_figure(title, f"every record has 0 {value}")

    def pct(x: float) -> str:
        return f"{100 * x / total:.1f}%"

    unit = _value_label(value)
    outer_sizes, outer_colors, outer_labels = [], [], []
    for label, size, color in zip(
        accept_sizes.index, accept_sizes, _shades(ACCEPT_COLOR, len(accept_sizes)), strict=True
    ):
        outer_sizes.append(size)
        outer_colors.append(color)
        outer_labels.append(f"ACCEPT {label}: {human(size, value)} ({pct(size)})")
    reject_colors = _shades(REJECT_COLOR, len(reject_sizes))
    for i, (label, size) in enumerate(reject_sizes.items()):
        outer_sizes.append(size)
        outer_colors.append(REJECT_OTHER_COLOR if label == "other" else reject_colors[i])
        name = f"{label} ports" if label == "other" else label
        outer_labels.append(f"REJECT {name}: {human(size, value)} ({pct(size)})")

    inner = [(a, s) for a, s in (("ACCEPT", accept_sizes.sum()), ("REJECT", reject_sizes.sum()))]
    inner = [(a, s) for a, s in inner if s > 0]

    fig = _new_figure((10, 5.6))
    ax = fig.add_subplot()
    ring = 0.3
    outer_wedges, _, outer_pcts = ax.pie(
        outer_sizes,
        radius=1.0,
        colors=outer_colors,
        labels=outer_labels,
        labeldistance=None,
        autopct=lambda p: f"{p:.0f}%" if p >= 5 else "",
        pctdistance=1.0 - ring / 2,
        startangle=90,
        counterclock=False,
        wedgeprops={"width": ring, "edgecolor": "white", "linewidth": 1.2},
        textprops={"fontsize": 9},
    )
    for t in outer_pcts:
        t.set_color("black")
    inner_wedges, _, inner_pcts = ax.pie(
        [s for _, s in inner],
        radius=1.0 - ring,
        colors=[ACTION_COLORS[a] for a, _ in inner],
        labels=[a for a, _ in inner],
        labeldistance=None,
        autopct=lambda p: f"{p:.0f}%" if p >= 6 else "",
        pctdistance=1.0 - ring / 2 / (1.0 - ring),
        startangle=90,
        counterclock=False,
        wedgeprops={"width": ring, "edgecolor": "white", "linewidth": 1.5},
        textprops={"fontsize": 10, "color": "white", "fontweight": "bold"},
    )
    for i, (a, s) in enumerate(inner):  # the totals, in the hole of the donut
        y = 0.08 - 0.16 * i + (0.08 if len(inner) == 1 else 0)
        ax.text(
            0,
            y,
            f"{a} {human(s, value)} ({pct(s)})",
            ha="center",
            va="center",
            fontsize=9.5,
            fontweight="bold",
            color=ACTION_COLORS[a],
        )
    ax.set_aspect("equal")
    ax.set_title(f"{title} ({human(total, value)} {unit})", fontsize=13)
    ax.legend(
        outer_wedges,
        outer_labels,
        title=f"{unit} by protocol / destination port",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=9,
        title_fontsize=9,
        frameon=False,
    )
    return fig


def top_talkers(df: pd.DataFrame, n: int = 10, by: str = "bytes") -> Figure:
    """Horizontal bars of the ``n`` source -> destination pairs with the most ``by``.

    ``by`` is "bytes" (default), "packets" or "records". Each flow counts once, as the interface
    that saw most of it recorded it (:func:`each_flow_once`): a ping between two instances is in
    both interfaces' logs, and summing both would double it. Bars are split into ACCEPT (green)
    and REJECT (red, a flow some interface rejected) when the frame has an ``action`` column.
    """
    chart = "top_talkers"
    _check_value(by, chart, "by")
    _check_n(n, chart)
    title = f"Top {n} talkers by {by}"
    if _is_blank(df):
        return _no_records_figure(title, _excluded_note(df))
    _check_frame(df, [*FLOW_KEY] + ([by] if by != "records" else []), chart)

    if traffic_rows(df).empty:
        return _no_records_figure(title, _excluded_note(df))
    rows = each_flow_once(df)  # both interfaces record a flow between two instances: count it once
    pair = rows["srcaddr"].astype("string").fillna("?") + " → "
    pair = pair + rows["dstaddr"].astype("string").fillna("?")
    action = rows["action"]
    table = (
        rows[by].astype("float64")
        .groupby([pair.rename("pair"), action.rename("action")])
        .sum()
        .unstack("action", fill_value=0.0)
    )
    totals = table.sum(axis=1).sort_values(ascending=False, kind="stable")
    totals = totals[totals > 0].iloc[:n]
    if totals.empty:
        return _no_records_figure(title, f"every record has 0 {by}")
    table = table.loc[totals.index[::-1]]  # largest at the top of a barh

    order = [a for a in ("ACCEPT", "REJECT") if a in table.columns]
    order += [a for a in table.columns if a not in order]
    fig = _new_figure((10, 1.2 + 0.42 * len(table)))
    ax = fig.add_subplot()
    y = np.arange(len(table))
    left = np.zeros(len(table))
    for a in order:
        vals = table[a].to_numpy(dtype=float)
        if not vals.any():
            continue
        ax.barh(y, vals, left=left, color=ACTION_COLORS.get(a, OTHER_COLOR), label=a, height=0.7)
        left += vals
    for yi, total in zip(y, left, strict=True):
        ax.text(total, yi, f" {human(total, by)}", va="center", fontsize=9)
    ax.set_yticks(y, table.index, fontsize=9)
    ax.set_xlim(0, left.max() * 1.15)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: human(x, by)))
    ax.set_xlabel(_value_label(by))
    ax.set_ylabel("source → destination")
    ax.set_title(title, fontsize=13)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if len(order) > 1 or order[0] in ACTION_COLORS:
        ax.legend(title="action", loc="lower right", fontsize=9, title_fontsize=9)
    return fig


def traffic_over_time(
    df: pd.DataFrame, freq: str = "1min", value: str = "records", max_bins: int = 2000
) -> Figure:
    """Stacked bars of ACCEPT and REJECT per ``freq`` window, placed by each record's ``start``.

    ``freq`` is a pandas frequency ("1min", "5min", "1h"); ``value`` is "records",
    "packets" or "bytes". Windows without traffic show as gaps, not as missing bars.
    """
    chart = "traffic_over_time"
    _check_value(value, chart)
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{chart}(): freq {freq!r} is not a fixed pandas frequency") from exc
    if step <= pd.Timedelta(0):
        raise ValueError(f"{chart}(): freq must be positive, got {freq!r}")
    title = f"Traffic over time ({value} per {freq})"
    if _is_blank(df):
        return _no_records_figure(title, _excluded_note(df))
    _check_frame(df, ["start", "action"] + ([value] if value != "records" else []), chart)

    rows, action = _action_rows(df)
    start = pd.to_datetime(rows["start"], utc=True)
    keep = start.notna().to_numpy(dtype=bool)
    rows, action, start = rows[keep], action[keep], start[keep]
    if rows.empty:
        return _no_records_figure(title, _excluded_note(df))
    start = start.astype("datetime64[ns, UTC]").dt.tz_localize(None)  # plotted as UTC
    window = start.dt.floor(step)
    bins = pd.date_range(window.min(), window.max(), freq=step)
    if len(bins) > max_bins:
        raise ValueError(
            f"{chart}(): freq={freq!r} gives {len(bins):,} windows over "
            f"{window.max() - window.min()}; pick a coarser freq (at most {max_bins:,} windows)"
        )
    table = (
        _weights(rows, value)
        .groupby([window.rename("window"), action.rename("action")])
        .sum()
        .unstack("action", fill_value=0.0)
        .reindex(bins, fill_value=0.0)
    )
    width = step / pd.Timedelta(days=1) * 0.85  # matplotlib date units are days
    fig = _new_figure((11, 4.8))
    ax = fig.add_subplot()
    bottom = np.zeros(len(table))
    x = mdates.date2num(table.index.to_pydatetime())
    order = [a for a in ("ACCEPT", "REJECT") if a in table.columns]
    order += [a for a in table.columns if a not in order]
    for a in order:
        vals = table[a].to_numpy(dtype=float)
        ax.bar(
            x,
            vals,
            width=width,
            bottom=bottom,
            align="edge",
            color=ACTION_COLORS.get(a, OTHER_COLOR),
            label=a,
        )
        bottom += vals
    locator = mdates.AutoDateLocator(maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    span = max(step, window.max() - window.min() + step)
    pad = span / pd.Timedelta(days=1) * 0.02
    ax.set_xlim(x.min() - pad, x.max() + step / pd.Timedelta(days=1) + pad)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v, value)))
    ax.set_xlabel("record start: its first packet (UTC)")
    ax.set_ylabel(f"{_value_label(value)} per {freq}")
    ax.set_title(title, fontsize=13)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(title="action", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
    return fig


def rejects_by_port(df: pd.DataFrame, n: int = 15, value: str = "records") -> Figure:
    """Horizontal bars of the ``n`` protocol / destination-port pairs with the most REJECTs.

    Each bar is annotated with its count and the number of distinct sources, which tells
    one misconfigured client (one source) from a scan (many sources).
    """
    chart = "rejects_by_port"
    _check_value(value, chart)
    _check_n(n, chart)
    title = f"Top {n} rejected destination ports"
    if _is_blank(df):
        return _no_records_figure(title, _excluded_note(df))
    _check_frame(df, ["action", "dstport"] + ([value] if value != "records" else []), chart)
    _check_protocol_column(df, chart)

    rows, action = _action_rows(df)
    rej = (action == "REJECT").to_numpy(dtype=bool)
    rows = rows[rej]
    if rows.empty:
        detail = _excluded_note(df) if traffic_rows(df).empty else "no REJECT records"
        return _no_records_figure(title, detail)
    label = port_labels(rows).rename("port")
    sizes = _weights(rows, value).groupby(label).sum()
    sizes = sizes[sizes > 0].sort_values(ascending=False, kind="stable").iloc[:n]
    if sizes.empty:
        return _no_records_figure(title, f"every REJECT record has 0 {value}")
    sources = None
    if "srcaddr" in rows.columns:
        sources = rows["srcaddr"].groupby(label).nunique()
    sizes = sizes.iloc[::-1]

    fig = _new_figure((10, 1.2 + 0.4 * len(sizes)))
    ax = fig.add_subplot()
    y = np.arange(len(sizes))
    ax.barh(y, sizes.to_numpy(dtype=float), color=REJECT_COLOR, height=0.7, label="REJECT")
    for yi, (port, size) in zip(y, sizes.items(), strict=True):
        note = f" {human(size, value)}"
        if sources is not None:
            k = int(sources.get(port, 0))
            note += f"  ({k} source{'s' if k != 1 else ''})"
        ax.text(size, yi, note, va="center", fontsize=9)
    ax.set_yticks(y, sizes.index, fontsize=9)
    ax.set_xlim(0, float(sizes.max()) * 1.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: human(x, value)))
    ax.set_xlabel(f"rejected {_value_label(value)}")
    ax.set_ylabel("protocol / destination port")
    ax.set_title(title, fontsize=13)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def src_dst_matrix(df: pd.DataFrame, value: str = "packets", n: int = 12) -> Figure:
    """A heatmap of ``value`` from each source address (rows) to each destination (columns).

    The ``n`` busiest sources and destinations get their own row and column; the rest are
    summed into "other". Every non-zero cell is labelled with its value.
    """
    chart = "src_dst_matrix"
    _check_value(value, chart)
    _check_n(n, chart)
    title = f"{_value_label(value).capitalize()} from source to destination"
    if _is_blank(df):
        return _no_records_figure(title, _excluded_note(df))
    _check_frame(df, ["srcaddr", "dstaddr"] + ([value] if value != "records" else []), chart)

    rows = traffic_rows(df)
    if rows.empty:
        return _no_records_figure(title, _excluded_note(df))
    src = rows["srcaddr"].astype("string").fillna("?")
    dst = rows["dstaddr"].astype("string").fillna("?")
    w = _weights(rows, value)
    if not (w > 0).any():
        return _no_records_figure(title, f"every record has 0 {value}")

    def keep_top(addr: pd.Series) -> pd.Series:
        totals = w.groupby(addr).sum().sort_values(ascending=False, kind="stable")
        if len(totals) <= n:
            return addr
        top = set(totals.index[:n])
        return addr.where(addr.isin(top), "other")

    src, dst = keep_top(src), keep_top(dst)
    matrix = w.groupby([src.rename("src"), dst.rename("dst")]).sum().unstack("dst", fill_value=0)

    def ordered(labels: Sequence[str], totals: pd.Series) -> list[str]:
        named = sorted((x for x in labels if x != "other"), key=lambda x: (-totals[x], x))
        return named + (["other"] if "other" in labels else [])

    matrix = matrix.loc[
        ordered(list(matrix.index), matrix.sum(axis=1)),
        ordered(list(matrix.columns), matrix.sum(axis=0)),
    ]
    data = matrix.to_numpy(dtype=float)
    positive = data[data > 0]
    vmax = float(positive.max())
    vmin = float(positive.min())
    norm = LogNorm(vmin=vmin, vmax=vmax) if vmax / vmin >= 50 else Normalize(vmin=0, vmax=vmax)
    masked = np.ma.masked_where(data <= 0, data)

    nrows, ncols = data.shape
    fig = _new_figure((max(6.5, 2.6 + 0.95 * ncols), max(4.0, 1.9 + 0.5 * nrows)))
    ax = fig.add_subplot()
    cmap = _cmap_with_blank("Blues")
    image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto")
    for i in range(nrows):
        for j in range(ncols):
            v = data[i, j]
            if v <= 0:
                continue
            r, g, b, _ = cmap(norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(
                j,
                i,
                human(v, value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(ncols), matrix.columns, rotation=35, ha="right", fontsize=9)
    ax.set_yticks(range(nrows), matrix.index, fontsize=9)
    ax.set_xticks(np.arange(-0.5, ncols), minor=True)
    ax.set_yticks(np.arange(-0.5, nrows), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("destination address")
    ax.set_ylabel("source address")
    ax.set_title(title, fontsize=13)
    bar = fig.colorbar(image, ax=ax, shrink=0.85)
    bar.set_label(_value_label(value) + (" (log scale)" if isinstance(norm, LogNorm) else ""))
    return fig


def _cmap_with_blank(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#f4f4f4")

