"""The cache index (migration 0008, ``suiro.store.cache_index``): entries listed in bulk and in key
order by the recorder, a crashed run's listed by the reaper, every read by cache key through them
without a sort (EXPLAIN QUERY PLAN), and a store made at 0007 upgraded with its entries."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import pytest
from pipelines.sqlite_look import indexes, plan

from suiro.events import RunFinished, RunStarted, TaskKeyed, TaskOutput, TaskStateChanged
from suiro.states import RunState, TaskState
from suiro.store import cache_index, reaper, reuse
from suiro.store.artifacts import ArtifactMeta
from suiro.store.cache_index import FIND_ANY, FIND_EACH, FIND_EACH_FRESH, FIND_FRESH, each_params, find_params
from suiro.store.db import HEAD_REVISION, Database, this_host
from suiro.store.migrate import upgrade_schema
from suiro.store.recorder import Recorder

KEY = "ab" * 32
RUN = "20260101-000000-000000"


def key_of(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def output(n: int) -> ArtifactMeta:
    data = str(n).encode()
    return ArtifactMeta(hashlib.sha256(data).hexdigest(), "json", len(data), "builtins.int", data)


def entries(db: Database) -> list[dict]:
    return db.query("SELECT prefix, ended, task_run FROM cache_entries")


def test_0008_lists_the_recorded_outputs_in_key_order_and_drops_the_prefix_index(tmp_path):
    path = tmp_path / "suiro.db"
    old = Database(f"sqlite:///{path}")
    upgrade_schema(old, "0007")
    with old.write() as tx:
        tx.execute(
            "INSERT INTO runs (id, pipeline, params, state, started) VALUES ('r1', 'p', '{}', 'failed', 1)"
        )
        for task, state, key, digest in (
            ("found", "success", KEY, "d"),
            ("reused", "cached", key_of(2), "d2"),
            ("failed", "failed", key_of(3), None),
            ("no_output", "success", key_of(4), None),
        ):
            tx.execute(
                "INSERT INTO task_runs (run_id, task_key, state, ended, cache_key, output_digest)"
                " VALUES ('r1', :task, :state, 2.0, :key, :digest)",
                {"task": task, "state": state, "key": key, "digest": digest},
            )
    old.close()
    assert "ix_task_runs_cache_prefix" in indexes(path)

    db = Database.open(f"sqlite:///{path}")
    assert db.revision() == HEAD_REVISION
    assert "ix_task_runs_cache_prefix" not in indexes(path)
    listed = db.query(
        "SELECT t.task_key FROM cache_entries c JOIN task_runs t ON t.id = c.task_run ORDER BY c.prefix"
    )
    assert sorted(r["task_key"] for r in listed) == ["found", "reused"]  # what a look-up may find
    assert [e["prefix"] for e in entries(db)] == sorted(cache_index.prefix(k) for k in (KEY, key_of(2)))
    found = db.query(FIND_ANY, find_params(KEY))
    assert found == [{"output_digest": "d", "output_kind": None, "output_inline": None, "source": "r1"}]
    assert db.query(FIND_ANY, find_params(key_of(3))) == []


def test_a_prefix_is_the_keys_first_64_bits_and_a_collision_is_never_a_hit(tmp_path):
    assert cache_index.prefix("0" * 64) == -(1 << 63) and cache_index.prefix("f" * 64) == (1 << 63) - 1
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    twin = KEY[:16] + "0" * 48  # the same prefix, another key
    recorder = Recorder(db, interval=3600)
    start(recorder)
    finish(recorder, "t", twin, 1)
    recorder.notify(RunFinished(run_id=RUN, state=RunState.SUCCESS, time=time.time()))
    assert len(entries(db)) == 1
    assert db.query(FIND_ANY, find_params(KEY)) == []
    assert db.query(FIND_ANY, find_params(twin))[0]["output_digest"] == output(1).digest


def test_every_read_by_cache_key_seeks_the_index_and_reads_newest_first(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    for sql, params in (
        (FIND_ANY, find_params(KEY)),
        (FIND_FRESH, find_params(KEY, since=5.0)),
        (reuse.SOURCE, {"run": "r1", **find_params(KEY)}),
        (FIND_EACH, each_params([KEY, key_of(1)])),
        (FIND_EACH_FRESH, each_params([KEY, key_of(1)], since=5.0)),
    ):
        steps = plan(db, sql, params)
        assert "SEARCH c USING PRIMARY KEY (prefix=?" in steps, (sql, steps)
        assert "SEARCH t USING INTEGER PRIMARY KEY (rowid=?)" in steps, (sql, steps)
        if sql is not reuse.SOURCE:  # newest first along the index, stopping after 3
            assert "TEMP B-TREE" not in steps, (sql, steps)


def test_many_keys_read_in_one_statement_find_what_each_read_alone_finds_first(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    recorder = Recorder(db, interval=3600)
    start(recorder)
    for n in range(5):
        finish(recorder, f"t{n}", key_of(n), n)
    time.sleep(0.01)
    finish(recorder, "newer", key_of(1), 11, TaskState.CACHED)  # a newer output under key 1
    twin = key_of(2)[:16] + "0" * 48  # key 2's prefix, never recorded
    recorder.notify(RunFinished(run_id=RUN, state=RunState.SUCCESS, time=time.time()))
    keys = [key_of(n) for n in (4, 1, 9, 0, 2)] + [twin, "not-hex"]

    found = {row["item"]: row for row in db.query(FIND_EACH, each_params(keys))}
    alone = {i: db.query(FIND_ANY, find_params(key)) for i, key in enumerate(keys)}
    assert sorted(found) == [i for i, rows in alone.items() if rows] == [0, 1, 3, 4]
    for i, row in found.items():
        assert {k: v for k, v in row.items() if k != "item"} == alone[i][0]
    assert found[1]["output_digest"] == output(11).digest, "the newest output under the key"

    # With a TTL only original computations count: key 1's newest is a reuse, so its first.
    fresh = {r["item"]: r["output_digest"] for r in db.query(FIND_EACH_FRESH, each_params(keys))}
    assert fresh == {0: output(4).digest, 1: output(1).digest, 3: output(0).digest, 4: output(2).digest}
    assert db.query(FIND_EACH_FRESH, each_params(keys, since=time.time() + 60)) == []


def start(recorder: Recorder) -> None:
    recorder.notify(
        RunStarted(
            run_id=RUN,
            pipeline="p",
            params={},
            graph={"name": "p", "nodes": []},
            time=time.time(),
            executor="threads",
            target="f.py:p",
        )
    )


def finish(recorder: Recorder, task: str, key: str, n: int, state: TaskState = TaskState.SUCCESS) -> None:
    """What the runner sends for a task that ran (or was reused) under ``key`` with output ``n``."""
    recorder.notify(TaskKeyed(run_id=RUN, task_key=task, key=key, parts={}))
    recorder.notify(TaskOutput(run_id=RUN, task_key=task, value=n, artifact=output(n)))
    recorder.notify(TaskStateChanged(run_id=RUN, task_key=task, state=state, time=time.time()))


def test_a_run_lists_its_outputs_in_bulk_when_enough_wait_and_all_at_its_end(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_index, "LIST_SIZE", 10)
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    recorder = Recorder(db, interval=3600)  # commits when told to
    start(recorder)
    for n in range(9):
        finish(recorder, f"t{n}", key_of(n), n)
    recorder.notify(TaskKeyed(run_id=RUN, task_key="failed", key=key_of(99), parts={}))
    recorder.notify(TaskStateChanged(run_id=RUN, task_key="failed", state=TaskState.FAILED, time=time.time()))
    recorder.flush()
    assert db.query("SELECT COUNT(*) AS n FROM task_runs WHERE state = 'success'") == [{"n": 9}]
    assert entries(db) == [], "nine are fewer than LIST_SIZE, and none waited LIST_EVERY seconds"
    assert db.query(FIND_ANY, find_params(key_of(0))) == []

    finish(recorder, "t9", key_of(9), 9)
    finish(recorder, "r10", key_of(10), 10, TaskState.CACHED)
    recorder.flush()
    assert len(entries(db)) == 11  # ten waiting: all listed at once, in one batch
    assert db.query(FIND_ANY, find_params(key_of(10)))[0]["output_digest"] == output(10).digest

    finish(recorder, "t11", key_of(11), 11)
    recorder.flush()
    assert len(entries(db)) == 11
    recorder.notify(RunFinished(run_id=RUN, state=RunState.FAILED, time=time.time()))
    assert len(entries(db)) == 12, "the run's end lists the rest"
    found = {db.query(FIND_ANY, find_params(key_of(n)))[0]["output_digest"] for n in range(12)}
    assert found == {output(n).digest for n in range(12)}
    assert db.query(FIND_ANY, find_params(key_of(99))) == [], "a failed task is never a hit"


def test_a_task_waits_at_most_list_every_seconds_to_be_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_index, "LIST_EVERY", 0.2)
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    recorder = Recorder(db, interval=0.02)  # its own thread commits, with heartbeats between events
    start(recorder)
    finish(recorder, "t0", key_of(0), 0)
    time.sleep(0.05)
    assert db.query("SELECT state FROM task_runs WHERE task_key = 't0'") == [{"state": "success"}]
    assert entries(db) == []
    deadline = time.monotonic() + 3.0
    while not entries(db) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(entries(db)) == 1, "listed by a later commit, no other event needed"
    recorder.notify(RunFinished(run_id=RUN, state=RunState.SUCCESS, time=time.time()))


def test_the_reaper_lists_what_a_crashed_run_finished(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with db.write() as tx:  # what a run's recorder committed before its process died, unlisted
        tx.execute(
            "INSERT INTO runs (id, pipeline, params, state, started, host, pid, heartbeat)"
            " VALUES (:id, 'p', '{}', 'running', :now, :host, :pid, :now)",
            {"id": RUN, "now": time.time(), "host": this_host(), "pid": int(gone.stdout)},
        )
        for n in range(3):
            tx.execute(
                "INSERT INTO task_runs (run_id, task_key, state, ended, cache_key, output_digest)"
                " VALUES (:id, :task, 'success', :now, :key, :digest)",
                {
                    "id": RUN,
                    "task": f"t{n}",
                    "now": time.time(),
                    "key": key_of(n),
                    "digest": output(n).digest,
                },
            )
        tx.execute(
            "INSERT INTO task_runs (run_id, task_key, state, cache_key)"
            " VALUES (:id, 'open', 'running', :key)",
            {"id": RUN, "key": key_of(9)},
        )
    assert entries(db) == []
    crashed = reaper.reap(db)
    assert [c.run_id for c in crashed] == [RUN]
    assert len(entries(db)) == 3
    assert db.query(FIND_ANY, find_params(key_of(2)))[0]["source"] == RUN
    assert db.query(FIND_ANY, find_params(key_of(9))) == [], "what was running failed with the run"
    assert reaper.reap(db) == [] and len(entries(db)) == 3


@pytest.mark.parametrize("listed", [True, False])
def test_listing_a_task_run_twice_keeps_one_entry(tmp_path, listed):
    db = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    recorder = Recorder(db, interval=3600)
    start(recorder)
    finish(recorder, "t", key_of(1), 1)
    end = RunFinished(run_id=RUN, state=RunState.SUCCESS, time=time.time())
    if listed:  # by the recorder at the run's end, then by hand
        recorder.notify(end)
    else:
        recorder.flush()
    with db.write() as tx:
        cache_index.list_run(tx, RUN)
        cache_index.list_run(tx, RUN)
    if not listed:  # by hand, then by the recorder at the run's end
        recorder.notify(end)
    assert len(entries(db)) == 1
