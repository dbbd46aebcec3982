"""Run a CloudWatch Logs Insights query and get a typed DataFrame back, live or offline.

StartQuery, then GetQueryResults until the status is final, polling with
backoff; the rows come back as lists of {field, value} strings, which become
columns: numbers as numbers, @timestamp as a UTC timestamp.
"""

from __future__ import annotations

import time

import pandas as pd

from labkit.analysis.records import time_window
from labkit.errors import LabError

AWS_TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}"
FINAL = {"Complete", "Failed", "Cancelled", "Timeout", "Unknown"}


def results_to_frame(results: list[list[dict]], columns: list[str] | None = None) -> pd.DataFrame:
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
                 timeout_s: float = 900) -> pd.DataFrame:
    from tqdm.auto import tqdm

    from labkit.lab.steps.flow_log_role import log_group_name

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
    delay, deadline = 0.2, time.monotonic() + timeout_s
    with tqdm(desc="Logs Insights query", disable=not progress, bar_format="{desc}: {postfix}") as bar:
        while True:
            answer = logs.get_query_results(queryId=query_id)
            bar.set_postfix_str(answer["status"])
            if answer["status"] in FINAL:
                break
            if time.monotonic() > deadline:
                logs.stop_query(queryId=query_id)
                raise LabError(f"query {query_id} still {answer['status']} after {timeout_s:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)
    if answer["status"] != "Complete":
        raise LabError(f"query {query_id} ended {answer['status']}")
    frame = results_to_frame(answer["results"])
    frame.attrs["statistics"] = answer.get("statistics", {})
    return frame
