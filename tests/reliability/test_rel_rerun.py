"""R14 (a, b): running the same pipeline again runs nothing; a changed parameter re-runs only its downstream.

Counted by the ledger (which bodies really ran), not by recorded states alone.
"""

from __future__ import annotations

import pytest
from reliability.rel_harness import LEDGER_ENV, TASKS, read_ledger, task_states, write_diamond

from suiro import api


@pytest.fixture
def diamond(tmp_path, monkeypatch, suiro_home):
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "ledger.txt"))
    source = str(write_diamond(tmp_path))
    first = api.run(source, executor="threads")
    assert first.ok

    def run(**params):
        result = api.run(source, params=params, executor="threads")
        assert result.ok
        ran = sorted(e.task for e in read_ledger(tmp_path / "ledger.txt") if e.run_id == result.run_id)
        return result, ran

    return run


def test_a_second_identical_run_executes_no_task(diamond, suiro_home):
    result, ran = diamond()
    assert ran == []
    assert task_states(suiro_home, result.run_id) == dict.fromkeys(TASKS, "cached")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"label": "changed"}, ["join"]),
        ({"k": 2}, ["join", "left"]),
        ({"n": 30000}, ["join", "left", "load", "right"]),
    ],
)
def test_changing_one_parameter_reruns_only_what_depends_on_it(diamond, suiro_home, params, expected):
    result, ran = diamond(**params)
    assert ran == expected
    states = task_states(suiro_home, result.run_id)
    assert sorted(k for k, s in states.items() if s == "success") == expected
    assert {s for k, s in states.items() if k not in expected} <= {"cached"}
