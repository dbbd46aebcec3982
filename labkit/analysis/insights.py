"""Run a CloudWatch Logs Insights query and get a typed DataFrame back, live or offline.

StartQuery, then GetQueryResults until the status is final, polling with
backoff; the rows come back as lists of {field, value} strings, which become
columns: numbers as numbers, @timestamp as a UTC timestamp.
"""

from __future__ import annotations

import pandas as pd

from labkit.analysis.records import time_window
from labkit.errors import LabError
from labkit.lab.names import log_group_name
from labkit.lab.wait import Pace, Pending, wait_until

AWS_TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}"
FINAL = {"Complete", "Failed", "Cancelled", "Timeout", "Unknown"}
QUERY_PACE = Pace(timeout_s=900, interval_s=0.2, backoff=1.5, max_interval_s=5.0)


def results_to_frame(results: list[list[dict]], columns: list[str] | None = None) -> pd.DataFrame:
    """GetQueryResults rows as a DataFrame: numbers as numbers, AWS's times as UTC timestamps."""
    rows = [{cell["field"]: cell["value"] for cell in row if cell["field"] != "@ptr"}
            for row in results]
    names = columns or list(dict.fromkeys(k for row in rows for k in row))
    frame = pd.DataFrame(rows, columns=[c for c in names if c != "@ptr"])
    for column in frame.columns:
        values = frame[column].dropna()
        # @timestamp and bin() results: AWS writes times as "2026-01-15 10:00:00.000".
        if column == "@timestamp" or (len(values) and values.str.fullmatch(AWS_TIME).all()):
            frame[column] = pd.to_datetime(frame[column], utc=True)
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.notna().sum() == frame[column].notna().sum() and len(frame):
            frame[column] = numbers.astype("Int64") if (numbers.dropna() % 1 == 0).all() else numbers
    return frame


def run_insights(lab, query: str, since=None, until=None, limit: int | None = None,
                 log_group: str | None = None, progress: bool = True,
                 timeout_s: float | None = None) -> pd.DataFrame:
    """StartQuery on the lab's log group, wait for a final status, and return the rows typed."""
    logs = lab.client("logs")
    start_ms, end_ms = time_window(since, until)
    request = {"logGroupName": log_group or log_group_name(lab), "queryString": query,
               "startTime": start_ms // 1000, "endTime": end_ms // 1000}
    if limit:
        request["limit"] = limit
    try:
        query_id = logs.start_query(**request)["queryId"]
    except logs.exceptions.MalformedQueryException as error:
        raise LabError(f"Logs Insights could not parse the query: {error.response['Error']['Message']}"
                       ) from None

    def final():
        answer = logs.get_query_results(queryId=query_id)
        return answer if answer["status"] in FINAL else Pending(answer["status"])

    try:
        answer = wait_until(final, mode=lab.mode, pace=QUERY_PACE, timeout_s=timeout_s, progress=progress,
                            done="finished", what="Logs Insights query",
                            advice=f"query {query_id} was stopped: narrow the time range (since=, "
                                   "until=) or filter earlier in the query")
    except LabError:
        logs.stop_query(queryId=query_id)
        raise
    if answer["status"] != "Complete":
        raise LabError(f"query {query_id} ended {answer['status']}")
    frame = results_to_frame(answer["results"])
    frame.attrs["statistics"] = answer.get("statistics", {})
    return frame
