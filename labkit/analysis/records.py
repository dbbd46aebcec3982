"""The lab's own flow-log records, read from its log group into pandas.

The field order comes from the flow logs' own format (DescribeFlowLogs), never
from position; the parser is the same one that reads files and S3 objects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from labkit.errors import LabError
from labkit.lab.names import log_group_name
from labkit.lab.tags import lab_filter


def to_millis(when: datetime | str | None, default: datetime) -> int:
    """Epoch milliseconds of a datetime or ISO string (naive means UTC); ``default`` when None."""
    if when is None:
        when = default
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def time_window(since, until) -> tuple[int, int]:
    """Milliseconds for a [since, until] window; the default is the last 24 hours."""
    now = datetime.now(UTC)
    return to_millis(since, now - timedelta(days=1)), to_millis(until, now + timedelta(minutes=5))


def lab_format(lab) -> str:
    """The one log format of the lab's CloudWatch Logs flow logs (DescribeFlowLogs)."""
    flow_logs = lab.client("ec2").describe_flow_logs(Filter=lab_filter(lab.name))["FlowLogs"]
    formats = {f.get("LogFormat") for f in flow_logs if f.get("LogDestinationType") != "s3"}
    if not formats:
        raise LabError("the lab has no flow logs yet: run notebook 06 (or open_lab(step=6))")
    if len(formats) > 1:
        raise LabError(f"the lab's flow logs use {len(formats)} different formats: {sorted(formats)}")
    return formats.pop()


def lab_flow_logs(lab, since=None, until=None, progress: bool = True):
    """Every record in the lab's log group between since and until, parsed."""
    from tqdm.auto import tqdm

    from labkit import flowlogs

    start_ms, end_ms = time_window(since, until)
    fmt = lab_format(lab)
    logs = lab.client("logs")
    events: list[dict] = []
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=log_group_name(lab), startTime=start_ms, endTime=end_ms)
    with tqdm(desc="reading flow-log events", unit=" events", disable=not progress,
              bar_format="{desc}: {n}") as bar:
        for page in pages:
            events += page["events"]
            bar.update(len(page["events"]))
    frame = flowlogs.read(events, format=fmt, on_error="collect")
    # Streams interleave in no fixed order: sort by time, then by what the record says.
    order = [c for c in ("start", "flow_direction", "srcaddr", "dstaddr", "protocol", "srcport",
                         "dstport", "action") if c in frame.columns]
    frame = frame.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)
    bad = frame.attrs.get("bad_lines", [])
    if bad and progress:
        print(f"{len(bad)} malformed records were not parsed: see df.attrs['bad_lines']")
    return frame


def lab_raw_records(lab, filter_pattern: str = "", limit: int = 10) -> list[str]:
    """Records exactly as delivered (the message text), matching a CloudWatch Logs filter pattern."""
    events = lab.client("logs").filter_log_events(
        logGroupName=log_group_name(lab), filterPattern=filter_pattern, limit=limit)["events"]
    return [event["message"] for event in events]
