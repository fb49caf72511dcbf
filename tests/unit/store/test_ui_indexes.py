"""Migration 0005: the web UI's indexes, added to a database made at 0004 with its rows kept, and
used by SQLite's planner for the reads they are for (the runs list newest first, a metric across
runs). Real SQLite files; the planner is asked with EXPLAIN QUERY PLAN."""

from __future__ import annotations

from pipelines.sqlite_look import indexes, plan

from suiro.store.db import HEAD_REVISION, Database
from suiro.store.migrate import upgrade_schema
from suiro.store.search import BY_METRIC, BY_STARTED

NEW_INDEXES = {"ix_runs_started", "ix_runs_parent", "ix_metrics_name_run", "ix_metrics_name_value"}


def test_0005_adds_the_ui_indexes_to_a_0004_database_and_keeps_its_rows(tmp_path):
    path = tmp_path / "suiro.db"
    old = Database(f"sqlite:///{path}")
    upgrade_schema(old, "0004")
    with old.write() as tx:
        tx.execute(
            "INSERT INTO runs (id, pipeline, params, state, started) VALUES ('r1', 'p', '{}', 'success', 1)"
        )
    old.close()
    assert not NEW_INDEXES & indexes(path)

    db = Database.open(f"sqlite:///{path}")
    assert db.revision() == HEAD_REVISION
    assert indexes(path) >= NEW_INDEXES
    assert db.query("SELECT id FROM runs") == [{"id": "r1"}]


def test_the_runs_list_and_metric_sort_read_through_the_newindexes(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    params = {
        "pipeline": None, "state": None, "deployment": None, "since": None, "until": None,
        "fmetric": None, "fmin": None, "fmax": None, "sort": "auc", "limit": 50, "offset": 0,
    }  # fmt: skip
    for i in range(1, 4):
        params.update({f"p{i}": None, f"v{i}": None})
    newest = plan(db, BY_STARTED, params)
    assert "ix_runs_started" in newest and "TEMP B-TREE" not in newest, newest  # no sort of every run
    by_value = plan(db, BY_METRIC, params)  # walks the values in order: no sort, stops after the page
    assert "ix_metrics_name_value" in by_value and "TEMP B-TREE" not in by_value, by_value
    assert "ix_metrics_name_run" in by_value  # each run's latest value of it


def test_search_refuses_parameter_filters_it_cannot_bind(tmp_path):
    import pytest

    from suiro.store.search import RunFilter, RunFilterError, search_runs

    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    with pytest.raises(RunFilterError, match=r"at most 3 parameter filters at once \(got 4\); drop some\."):
        search_runs(db, RunFilter(params=tuple((f"p{i}", 1) for i in range(4))))
    with pytest.raises(RunFilterError, match=r"'a\.b' is not a parameter name; use param\.NAME=VALUE"):
        search_runs(db, RunFilter(params=(("a.b", 1),)))
    assert search_runs(db, RunFilter(params=(("a", 1),))) == []
