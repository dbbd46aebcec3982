"""Replay mode and the sample queries: the Insights engine and pandas must give the same answers."""

from __future__ import annotations

import pytest

from labkit import LabError, open_lab
from labkit.analysis.insights import results_to_frame
from labkit.analysis.queries import LAB_QUERIES, PARSE, same_answer


@pytest.fixture(scope="module")
def replay():
    lab = open_lab(mode="replay", quiet=True)
    return lab, lab.flow_logs()


def test_replay_reads_the_sample_records_with_no_aws(replay):
    lab, df = replay
    assert lab.mode == "replay"
    assert len(df) > 300
    assert df.attrs["bad_lines"] == []
    probe = df[(df["action"] == "REJECT") & (df["dstport"] == 56121)]
    assert len(probe) == 1


def test_replay_refuses_to_build_with_a_clear_error(replay):
    lab, _ = replay
    with pytest.raises(LabError, match="replay mode reads data/sample_flowlogs only"):
        lab.teardown()


@pytest.mark.parametrize("query", LAB_QUERIES, ids=[q.title for q in LAB_QUERIES])
def test_each_sample_query_agrees_with_pandas(replay, query):
    lab, df = replay
    answer = lab.insights(query.query)
    assert same_answer(answer, query.pandas(df)), f"{query.title}:\n{answer}\n{query.pandas(df)}"


def test_the_parse_prefix_names_every_field_of_the_lab_format(replay):
    lab, df = replay
    answer = lab.insights(PARSE + " | filter dstPort = 56121"
                          " | display srcAddr, dstAddr, action, flowDirection"
                          " | sort flowDirection")
    probe = df[df["dstport"] == 56121].sort_values("flow_direction")
    # The sender's egress record is ACCEPT (its group allows all outbound); the receiver's is REJECT.
    assert answer.to_dict("records") == [
        {"srcAddr": r.srcaddr, "dstAddr": r.dstaddr, "action": r.action, "flowDirection": r.flow_direction}
        for r in probe.itertuples()]
    assert list(answer["action"]) == ["ACCEPT", "REJECT"]


def test_same_answer_notices_a_difference(replay):
    lab, df = replay
    query = LAB_QUERIES[0]
    answer = lab.insights(query.query)
    assert not same_answer(answer.iloc[:-1], query.pandas(df))
    changed = answer.copy()
    changed.iloc[0, -1] = changed.iloc[0, -1] + 1
    assert not same_answer(changed, query.pandas(df))


def test_results_become_typed_columns():
    frame = results_to_frame([[{"field": "@timestamp", "value": "2026-01-15 10:00:00.000"},
                               {"field": "n", "value": "3"}, {"field": "ip", "value": "10.0.1.10"},
                               {"field": "@ptr", "value": "x"}]])
    assert list(frame.columns) == ["@timestamp", "n", "ip"]
    assert str(frame["@timestamp"].dt.tz) == "UTC"
    assert frame["n"].iloc[0] == 3
    assert frame["ip"].iloc[0] == "10.0.1.10"
