"""Replay mode: the analysis notebooks on the sample records, with no emulator and no account.

The same parser reads the sample CloudWatch Logs export, and the same Logs
Insights engine that the emulator uses answers queries over it, in process.
"""

from __future__ import annotations

from labkit.errors import LabError


class ReplayLab:
    """A lab over the sample records: reads, queries and diagrams work; building and teardown refuse."""

    mode = "replay"
    region = "us-east-1"
    endpoint_url = None
    step = 0

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<Lab {self.name!r} replay data/sample_flowlogs>"

    def flow_logs(self, since=None, until=None, progress: bool = False):
        """The sample records, parsed, between since and until (by their start time)."""
        from labkit.lab import sampledata

        frame = sampledata.load()
        if since is not None:
            frame = frame[frame["start"] >= _utc(since)]
        if until is not None:
            frame = frame[frame["start"] <= _utc(until)]
        return frame

    def raw_records(self, filter_pattern: str = "", limit: int = 10) -> list[str]:
        """The sample's records as delivered, matched by the same filter-pattern engine as offline."""
        import pandas as pd

        from labkit.logsinsights import compile_filter_pattern

        messages = pd.Series([e["message"] for e in _export_events()[1]], dtype="string")
        return messages[compile_filter_pattern(filter_pattern)(messages)].head(limit).tolist()

    def diagram(self):
        """The sample scenario's topology (the records' VPCs, subnets and instances)."""
        from labkit.analysis.diagram import Diagram
        from labkit.lab.names import VPC_CIDRS
        from labkit.lab.sampledata import VPC1, VPC2

        lines = ["flowchart LR", '  internet(("Internet"))']
        for n, (host, cidr) in enumerate(((VPC1, VPC_CIDRS["vpc1"]), (VPC2, VPC_CIDRS["vpc2"])), 1):
            lines += [f'  subgraph vpc{n}["{host.vpc_id} · {cidr}"]',
                      f'    i{n}["{host.instance_id}<br/>{host.private_ip}<br/>{host.public_ip}"]',
                      "  end", f"  vpc{n} --- internet"]
        lines.append('  vpc1 <== "peering" ==> vpc2')
        return Diagram("\n".join(lines), "Sample scenario (replay): 2 VPCs, 2 instances, 1 peering")

    def athena(self, sql: str, progress: bool = False):
        """SQL over ``vpc_flow_logs``: DuckDB over the sample's Parquet objects (s3-parquet)."""
        from labkit.analysis.athena import run_athena

        return run_athena(self, sql, progress=progress)

    def insights(self, query: str, since=None, until=None, limit: int | None = None, progress=False):
        """A Logs Insights query over the sample export, answered in process by the same engine."""
        import pandas as pd

        from labkit.analysis.insights import results_to_frame
        from labkit.logsinsights import run_query

        export, events = _export_events()
        table = pd.DataFrame({
            "@timestamp": [e["timestamp"] for e in events],
            "@message": [e["message"] for e in events],
            "@logStream": [e["logStreamName"] for e in events],
            "@log": [f"{export.get('accountId', '')}:{export['logGroupName']}"] * len(events),
            "@ingestionTime": [e.get("ingestionTime", e["timestamp"]) for e in events],
        })
        lo = 0 if since is None else int(_utc(since).timestamp() * 1000)
        hi = 2**62 if until is None else int(_utc(until).timestamp() * 1000)
        result = run_query(query, table, start_ms=lo, end_ms=hi, limit=limit)
        frame = results_to_frame(result.to_aws(), result.columns)
        frame.attrs["statistics"] = result.statistics
        return frame

    def _no_aws(self, *args, **kwargs):
        raise LabError("replay mode reads data/sample_flowlogs only: there is no AWS here to build, "
                       "inspect or tear down; use the offline or live mode for that")

    client = bring_to = teardown = inventory = _no_aws


def _export_events() -> tuple[dict, list[dict]]:
    import json

    from labkit.lab import sampledata

    export = json.loads((sampledata.SAMPLE_DIR / sampledata.CWL_EXPORT).read_text())
    events = [dict(e, logStreamName=stream) for stream, evs in export["logStreams"].items() for e in evs]
    events.sort(key=lambda e: (e["timestamp"], e["logStreamName"]))
    return export, events


def _utc(when):
    import pandas as pd

    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def open_replay(name: str, quiet: bool = False) -> ReplayLab:
    """The replay lab; says so in one line unless quiet."""
    lab = ReplayLab(name)
    if not quiet:
        print(f"Lab {name!r}: replay of data/sample_flowlogs (no AWS, nothing is created)")
    return lab
