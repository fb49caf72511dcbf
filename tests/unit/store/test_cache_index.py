"""Migration 0006: cache look-ups go through a 64-bit prefix of the cache key (with ``ended``), an
index a third the size of one on the whole key, added to a database made at 0005 with its rows
kept; every read by cache key still seeks it, the cache look-ups without a sort (EXPLAIN QUERY PLAN)."""

from __future__ import annotations

from pipelines.sqlite_look import indexes, plan

from suiro.store import outputs, reuse
from suiro.store.db import HEAD_REVISION, Database
from suiro.store.migrate import upgrade_schema

KEY = "ab" * 32


def test_0006_replaces_the_whole_key_index_by_the_prefix_one_and_keeps_the_rows(tmp_path):
    path = tmp_path / "suiro.db"
    old = Database(f"sqlite:///{path}")
    upgrade_schema(old, "0005")
    with old.write() as tx:
        tx.execute(
            "INSERT INTO runs (id, pipeline, params, state, started) VALUES ('r1', 'p', '{}', 'success', 1)"
        )
        tx.execute(
            "INSERT INTO task_runs (run_id, task_key, state, ended, cache_key, output_digest)"
            " VALUES ('r1', 't', 'success', 2.0, :key, 'd')",
            {"key": KEY},
        )
    old.close()
    assert "ix_task_runs_cache_key" in indexes(path)

    db = Database.open(f"sqlite:///{path}")
    assert db.revision() == HEAD_REVISION
    assert "ix_task_runs_cache_key" not in indexes(path)
    assert "ix_task_runs_cache_prefix" in indexes(path)
    found = db.query(outputs.FIND_ANY, outputs.find_params(KEY))
    assert found == [{"output_digest": "d", "output_kind": None, "output_inline": None, "source": "r1"}]


def test_every_read_by_cache_key_seeks_the_prefix_index(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    for sql, params in (
        (outputs.FIND_ANY, outputs.find_params(KEY)),
        (outputs.FIND_FRESH, outputs.find_params(KEY, since=5.0)),
    ):
        steps = plan(db, sql, params)  # newest first along the index, stopping after 3
        assert "ix_task_runs_cache_prefix" in steps and "TEMP B-TREE" not in steps, (sql, steps)
    source = plan(db, reuse.SOURCE, {"run": "r1", **outputs.find_params(KEY)})
    assert "ix_task_runs_cache_prefix" in source, source  # not every task run of that run
