"""Regexes from queries and filter patterns run in linear time (RE2), or fail naming what RE2 lacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from labkit.logsinsights import (
    InvalidFilterPatternError,
    MalformedQueryError,
    compile_filter_pattern,
    parse_query,
    run_query,
)

# Python's backtracking `re` takes about 2**40 steps on the second line: the hostile case.
HOSTILE_LINES = ["a" * 40, "a" * 40 + "!"]


@pytest.mark.serial  # a time bound
def test_a_catastrophic_regex_answers_within_a_second():
    """`like /(a+)+$/` and the `%(a+)+$%` filter pattern over forty `a`s (issue 10, point 2).

    Run in a child process: a backtracking engine would not return (it never checks for
    signals), so the timeout turns a regression into a failure instead of a hung test run.
    """
    child = textwrap.dedent(f"""
        import json, time
        import numpy as np, pandas as pd
        from labkit.logsinsights import compile_filter_pattern, parse_query, run_query
        lines = {HOSTILE_LINES!r}
        events = pd.DataFrame({{"@timestamp": np.arange(len(lines), dtype=np.int64), "@message": lines}})
        query = parse_query("filter @message like /(a+)+$/")  # grammar loading is not the regex's time
        t0 = time.perf_counter()
        hits = len(run_query(query, events, start_ms=0, end_ms=10).frame)
        t1 = time.perf_counter()
        mask = compile_filter_pattern("%(a+)+$%")(events["@message"]).tolist()
        t2 = time.perf_counter()
        print(json.dumps({{"hits": hits, "query_s": t1 - t0, "mask": mask, "pattern_s": t2 - t1}}))
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["hits"] == 1 and got["mask"] == [True, False]
    assert got["query_s"] < 1.0 and got["pattern_s"] < 1.0


@pytest.mark.parametrize(("regex", "feature"), [
    (r"(\d)\1", "backreferences"),
    (r"(?<n>\d)\k<n>", "backreferences"),
    (r"ACCEPT(?= OK)", "lookaround"),
    (r"ACCEPT(?! OK)", "lookaround"),
    (r"(?<=eni-)\w+", "lookaround"),
    (r"(?<!eni-)\w+", "lookaround"),
])
def test_a_query_regex_feature_re2_lacks_is_a_malformed_query_naming_it(regex, feature):
    with pytest.raises(MalformedQueryError) as err:
        parse_query(f"filter @message like /{regex}/")
    assert feature in str(err.value) and "RE2" in str(err.value)
    assert err.value.query_compile_error()["location"]["startCharOffset"] == len("filter @message like ")


def test_a_parse_regex_feature_re2_lacks_is_refused_too():
    with pytest.raises(MalformedQueryError, match="lookaround"):
        parse_query(r"parse @message /(?<action>ACCEPT|REJECT)(?= OK)/")


def test_a_filter_pattern_regex_feature_re2_lacks_is_an_invalid_parameter_naming_it():
    with pytest.raises(InvalidFilterPatternError, match="backreferences") as err:
        compile_filter_pattern(r"%(a)\1%")
    assert err.value.code == "InvalidParameterException"


def _events(lines: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"@timestamp": np.arange(len(lines), dtype=np.int64), "@message": lines})


def test_regexes_still_match_as_before():
    """Case-insensitive flag, named groups in either spelling, globs and wildcards keep working."""
    events = _events(["user=ana action=ACCEPT", "user=bo action=reject", "nothing here"])
    assert len(run_query("filter @message like /ACTION=reject/i", events, start_ms=0, end_ms=9).frame) == 1
    res = run_query(r"parse @message /user=(?<user>\w+) action=(?P<act>\w+)/ | filter act = 'ACCEPT'"
                    " | display user", events, start_ms=0, end_ms=9)
    assert res.frame["user"].tolist() == ["ana"]
    res = run_query('parse @message "user=* action=*" as user, act | filter ispresent(act) | sort user'
                    " | display user, act", events, start_ms=0, end_ms=9)
    assert res.frame["act"].tolist() == ["ACCEPT", "reject"]
    matcher = compile_filter_pattern("[first=user=a*, second]")
    assert matcher(events["@message"]).tolist() == [True, False, False]
