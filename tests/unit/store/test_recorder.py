"""The run recorder, fed events by hand and read back from a real SQLite file.

What a real run records is checked in ``tests/integration/test_storage.py``; here each kind
of event is sent on its own, so every column it fills (or must not overwrite) is pinned down.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from typing import Any

import pytest

from suiro import collector, pipeline, task
from suiro.errors import RunFencedError, StoreError
from suiro.events import (
    ErrorInfo,
    MetricLogged,
    RunFinished,
    RunStarted,
    TaskKeyed,
    TaskMapped,
    TaskOutput,
    TaskStateChanged,
)
from suiro.runinfo import RunInfo
from suiro.states import RunState, TaskState
from suiro.store import recorder as recorder_module
from suiro.store.artifacts import ArtifactMeta
from suiro.store.db import Database, this_host
from suiro.store.recorder import Recorder

RUN = "20260101-000000-abcdef"


@task
def a(n: int) -> int:
    return n


@task
def b(x: int) -> int:
    return x


@task
def c(x: int) -> int:
    return x


@task
def sq(x: int) -> int:
    return x * x


@pipeline
def p(n: int = 3, xs: list[int] = [1, 2, 3]):  # noqa: B006
    return c(b(a(n))), sq.map(xs)


#: What the runner sends with RunStarted: the traced graph of ``p`` as a dict.
GRAPH = p.graph.to_dict()
NODES = ("a", "b", "c", "sq")


@pytest.fixture
def db() -> Database:
    return Database.open()


def start(db: Database, *, interval: float = 3600, **extra: Any) -> Recorder:
    """A recorder that has seen RunStarted; with the default interval it flushes only when told to."""
    recorder = Recorder(db, interval=interval)
    recorder.notify(
        RunStarted(
            run_id=RUN,
            pipeline="p",
            params={"n": 3, "tags": ["x"]},
            graph=GRAPH,
            time=100.0,
            executor="threads",
            target="f.py:p",
            **extra,
        )
    )
    return recorder


def rows(db: Database, table: str, **where: Any) -> list[dict[str, Any]]:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "1"
    return db.query(f"SELECT * FROM {table} WHERE {clause} ORDER BY id", where)


def task_row(db: Database, key: str, index: int = -1) -> dict[str, Any]:
    found = rows(db, "task_runs", run_id=RUN, task_key=key, map_index=index)
    assert len(found) == 1, found
    return found[0]


#: Where the runner says the attempts' lines are (it names the files; the recorder copies the path).
INFO = RunInfo(run_id=RUN, log_dir="/logs/r")


def state(key: str, value: TaskState, *, attempt: int = 0, index: int = -1, at: float = 0.0, **kw: Any):
    return TaskStateChanged(
        run_id=RUN,
        task_key=key,
        state=value,
        time=at or time.time(),
        attempt=attempt,
        map_index=index,
        log_path=INFO.log_path(key, index, attempt),
        **kw,
    )


def test_the_run_row_is_written_when_the_run_starts(db):
    recorder = start(db, parent_run_id="20251231-000000-000000")
    run = rows(db, "runs")[0]
    assert run["id"] == RUN and run["state"] == "running" and run["started"] == 100.0
    assert json.loads(run["params"]) == {"n": 3, "tags": ["x"]}
    assert run["host"] == this_host() and run["pid"] == os.getpid()
    assert run["parent_run_id"] == "20251231-000000-000000"
    assert run["executor"] == "threads" and run["target"] == "f.py:p"
    assert run["ended"] is None and run["heartbeat"] == 100.0
    pipeline = rows(db, "pipelines")[0]
    assert pipeline["id"] == run["pipeline_id"] and pipeline["name"] == "p"
    assert json.loads(pipeline["graph"]) == GRAPH
    assert {r["task_key"]: (r["state"], r["attempts"]) for r in rows(db, "task_runs")} == dict.fromkeys(
        NODES, ("pending", 0)
    ), "every node is listed as pending from the start"
    recorder.close()


def test_parameters_json_cannot_handle_are_kept_as_their_repr(db):
    recorder = Recorder(db, interval=3600)
    recorder.notify(RunStarted(run_id=RUN, pipeline="p", params={"when": {1, 2}}, graph=GRAPH, time=1.0))
    assert json.loads(rows(db, "runs")[0]["params"]) == {"when": "{1, 2}"}
    recorder.close()


def test_events_wait_in_memory_until_a_flush(db):
    recorder = start(db)
    recorder.notify(state("a", TaskState.RUNNING, attempt=1))
    assert task_row(db, "a")["state"] == "pending"
    recorder.flush()
    assert task_row(db, "a")["state"] == "running"
    recorder.close()


def test_a_retried_task_gets_one_row_and_one_attempt_row_per_attempt(db):
    recorder = start(db)
    error = ErrorInfo(
        type="ConnectionError",
        message="attempt 1 failed",
        traceback="Traceback (most recent call last):\n  ...",
    )
    recorder.notify(state("a", TaskState.RUNNING, attempt=1, at=10.0))
    recorder.notify(state("a", TaskState.RETRYING, attempt=1, at=11.0, error=error, delay=0.0, duration=1.0))
    recorder.notify(state("a", TaskState.RUNNING, attempt=2, at=12.0))
    recorder.notify(state("a", TaskState.SUCCESS, attempt=2, at=13.0, duration=1.0))
    recorder.flush()

    row = task_row(db, "a")
    assert (row["state"], row["attempts"], row["started"], row["ended"]) == ("success", 2, 10.0, 13.0)
    attempts = rows(db, "attempts", run_id=RUN)
    assert [(a["attempt"], a["state"]) for a in attempts] == [(1, "retrying"), (2, "success")]
    first, second = attempts
    assert (first["error_type"], first["error_message"]) == ("ConnectionError", "attempt 1 failed")
    assert first["traceback"].startswith("Traceback")
    assert second["error_type"] is None and second["traceback"] is None
    assert [a["log_path"] for a in attempts] == ["/logs/r/a.1.log", "/logs/r/a.2.log"]
    recorder.close()


def test_a_failed_attempt_keeps_its_error(db):
    recorder = start(db)
    error = ErrorInfo(
        type="ValueError",
        message="bad input 3",
        traceback="Traceback ...\nValueError: bad input 3",
        retryable=False,
    )
    recorder.notify(state("a", TaskState.RUNNING, attempt=1))
    recorder.notify(state("a", TaskState.FAILED, attempt=1, error=error, duration=0.2))
    recorder.flush()
    assert task_row(db, "a")["state"] == "failed"
    (attempt,) = rows(db, "attempts", run_id=RUN)
    assert (attempt["state"], attempt["error_type"], attempt["error_message"]) == (
        "failed",
        "ValueError",
        "bad input 3",
    )
    assert attempt["traceback"].endswith("ValueError: bad input 3")
    recorder.close()


def test_later_batches_update_a_row_without_erasing_it(db):
    recorder = start(db)
    recorder.notify(
        TaskKeyed(run_id=RUN, task_key="a", key="key-a", parts={"code": "c1", "inputs": {"x": "1"}})
    )
    recorder.notify(state("a", TaskState.RUNNING, attempt=1, at=10.0))
    recorder.flush()
    recorder.notify(state("a", TaskState.SUCCESS, attempt=1, at=12.0, duration=2.0))
    recorder.flush()
    meta = ArtifactMeta("b" * 64, "pickle", 10, "builtins.list")
    recorder.notify(TaskOutput(run_id=RUN, task_key="a", value=None, artifact=meta))  # no state in this batch
    recorder.flush()
    recorder.notify(state("a", TaskState.SUCCESS, attempt=0, at=13.0))  # attempt 0 must not lower it
    recorder.flush()

    row = task_row(db, "a")
    assert row["state"] == "success" and row["attempts"] == 1
    assert row["started"] == 10.0 and row["duration"] == 2.0
    assert row["cache_key"] == "key-a" and json.loads(row["cache_parts"]) == {
        "code": "c1",
        "inputs": {"x": "1"},
    }
    assert row["output_digest"] == "b" * 64
    recorder.close()


def test_an_item_first_seen_in_a_batch_without_its_state_is_pending_until_one_comes(db):
    recorder = start(db)
    recorder.notify(TaskKeyed(run_id=RUN, task_key="sq", key="key-sq-0", parts={}, map_index=0))
    recorder.flush()
    item = task_row(db, "sq", 0)
    assert (item["state"], item["attempts"], item["cache_key"]) == ("pending", 0, "key-sq-0")
    recorder.notify(state("sq", TaskState.RUNNING, attempt=2, index=0))
    recorder.flush()
    recorder.notify(TaskOutput(run_id=RUN, task_key="sq", value=None, map_index=0))
    recorder.flush()
    item = task_row(db, "sq", 0)
    assert (item["state"], item["attempts"]) == ("running", 2), (
        "a batch without a state keeps the recorded one"
    )
    recorder.close()


def test_outputs_record_their_artifact_once_and_where_a_cached_one_came_from(db):
    recorder = start(db)
    data = b"[1,2,3]"
    inline = ArtifactMeta(hashlib.sha256(data).hexdigest(), "json", len(data), "builtins.list", data)
    on_disk = ArtifactMeta("c" * 64, "npy", 128, "numpy.ndarray")
    recorder.notify(TaskOutput(run_id=RUN, task_key="a", value=[1, 2, 3], artifact=inline))
    recorder.notify(TaskOutput(run_id=RUN, task_key="b", value=[1, 2, 3], artifact=inline))
    recorder.notify(
        TaskOutput(
            run_id=RUN, task_key="c", value=None, artifact=on_disk, cached_from="20251231-000000-000000"
        )
    )
    recorder.notify(
        TaskOutput(run_id=RUN, task_key="d", value=None, artifact=on_disk)
    )  # the same stored object: one artifact row
    recorder.notify(state("c", TaskState.CACHED))
    recorder.flush()

    # A small JSON output is kept on each row that has it (migration 0007), with no artifacts row.
    artifacts = {a["digest"]: a for a in db.query("SELECT * FROM artifacts")}
    assert set(artifacts) == {on_disk.digest}
    for key in ("a", "b"):
        row = task_row(db, key)
        assert (row["output_inline"], row["output_kind"]) == (data, "builtins.list")
    assert artifacts[on_disk.digest]["inline"] is None
    assert task_row(db, "c")["output_inline"] is None
    assert task_row(db, "c")["output_digest"] == task_row(db, "d")["output_digest"] == on_disk.digest
    assert (artifacts[on_disk.digest]["serializer"], artifacts[on_disk.digest]["kind"]) == (
        "npy",
        "numpy.ndarray",
    )
    assert task_row(db, "a")["output_digest"] == task_row(db, "b")["output_digest"] == inline.digest
    cached = task_row(db, "c")
    assert (cached["state"], cached["cached_from"], cached["attempts"]) == (
        "cached",
        "20251231-000000-000000",
        0,
    )
    assert rows(db, "attempts") == [], "a cached task made no attempt"
    recorder.close()


def test_mapped_items_get_their_own_rows(db):
    recorder = start(db)
    recorder.notify(TaskMapped(run_id=RUN, task_key="sq", size=3, time=time.time()))
    recorder.notify(state("sq", TaskState.RUNNING))
    for i in range(3):
        recorder.notify(state("sq", TaskState.RUNNING, attempt=1, index=i))
        recorder.notify(state("sq", TaskState.SUCCESS, attempt=1, index=i, duration=0.1))
    recorder.notify(state("sq", TaskState.SUCCESS))
    recorder.flush()

    node = task_row(db, "sq")
    assert node["map_size"] == 3 and node["state"] == "success"
    assert [task_row(db, "sq", i)["state"] for i in range(3)] == ["success"] * 3
    attempts = rows(db, "attempts", run_id=RUN)
    assert [(a["map_index"], a["attempt"]) for a in attempts] == [(0, 1), (1, 1), (2, 1)]
    assert attempts[1]["log_path"] == "/logs/r/sq[1].1.log"
    recorder.close()


def test_metrics_are_recorded_in_order(db):
    recorder = start(db)
    for step in range(3):
        recorder.notify(
            MetricLogged(
                run_id=RUN, task_key="a", name="loss", value=1.0 / (step + 1), step=step, time=50.0 + step
            )
        )
    recorder.notify(
        MetricLogged(run_id=RUN, task_key="b", name="auc", value=0.9, step=None, time=60.0, map_index=2)
    )
    recorder.flush()
    got = [(m["task_key"], m["map_index"], m["name"], m["value"], m["step"]) for m in rows(db, "metrics")]
    assert got == [
        ("a", -1, "loss", 1.0, 0),
        ("a", -1, "loss", 0.5, 1),
        ("a", -1, "loss", 1 / 3, 2),
        ("b", 2, "auc", 0.9, None),
    ]
    recorder.close()


def test_the_last_event_ends_the_run_and_stops_the_recorder_thread(db):
    recorder = start(db)
    recorder.notify(state("a", TaskState.SUCCESS, attempt=1))
    recorder.notify(RunFinished(run_id=RUN, state=RunState.FAILED, time=200.0))
    run = rows(db, "runs")[0]
    assert (run["state"], run["ended"], run["heartbeat"]) == ("failed", 200.0, 200.0)
    assert task_row(db, "a")["state"] == "success", "what was buffered is written before the end"
    assert recorder._thread is not None and not recorder._thread.is_alive()


def test_the_recorder_thread_commits_on_its_own(db):
    recorder = start(db, interval=0.01)
    recorder.notify(state("a", TaskState.RUNNING, attempt=1))
    deadline = time.monotonic() + 5
    while task_row(db, "a")["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert task_row(db, "a")["state"] == "running"
    recorder.close()


@pytest.mark.parametrize("quiet", [0.005, None])
def test_with_quiet_set_what_is_buffered_is_committed_once_events_stop_coming(db, quiet):
    recorder = Recorder(db, interval=3600, quiet=quiet)  # only the quiet rule can commit before close
    recorder.notify(RunStarted(run_id=RUN, pipeline="p", params={}, graph=GRAPH, time=100.0))
    recorder.notify(state("a", TaskState.RUNNING, attempt=1))
    deadline = time.monotonic() + (5 if quiet else 0.3)
    while task_row(db, "a")["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert task_row(db, "a")["state"] == ("running" if quiet else "pending")
    recorder.notify(state("a", TaskState.SUCCESS, attempt=1))  # the next batch is watched again
    deadline = time.monotonic() + (5 if quiet else 0.3)
    while task_row(db, "a")["state"] != "success" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert task_row(db, "a")["state"] == ("success" if quiet else "pending")
    recorder.close()
    assert task_row(db, "a")["state"] == "success"


def test_a_run_records_through_a_recorder_that_commits_when_quiet(suiro_home):
    from suiro.store.home import Store

    store = Store(suiro_home)
    assert store.recorder().quiet == recorder_module.QUIET == 0.005
    store.close()


def test_a_running_run_keeps_a_heartbeat(db, monkeypatch):
    monkeypatch.setattr(recorder_module, "HEARTBEAT_INTERVAL", 0.0)
    recorder = start(db)
    before = time.time()
    recorder.flush()  # nothing buffered: only the heartbeat
    assert rows(db, "runs")[0]["heartbeat"] >= before
    recorder.close()


def test_a_failed_flush_writes_nothing_of_its_batch_and_stops_the_run(db, suiro_home):
    recorder = start(db, interval=0.01)
    other = sqlite3.connect(suiro_home / "suiro.db")
    other.execute("ALTER TABLE metrics RENAME TO metrics_gone")
    other.commit()
    other.close()
    recorder.notify(state("a", TaskState.RUNNING, attempt=1))
    recorder.notify(
        MetricLogged(run_id=RUN, task_key="a", name="loss", value=1.0, step=None, time=time.time())
    )
    deadline = time.monotonic() + 5
    while recorder._error is None and time.monotonic() < deadline:
        time.sleep(0.01)

    with pytest.raises(StoreError, match=f"recording run {RUN} failed: .*metrics.*; the run was stopped"):
        recorder.notify(state("a", TaskState.SUCCESS, attempt=1))
    assert task_row(db, "a")["state"] == "pending", "the batch's task update was rolled back with it"
    assert not db._sqlite().in_transaction


def test_a_run_declared_crashed_stays_crashed_when_its_process_comes_back(db):
    recorder = start(db)
    with db.write() as tx:  # the reaper's verdict while the process was stopped
        tx.execute("UPDATE runs SET state = 'crashed' WHERE id = :id", {"id": RUN})
    with pytest.raises(RunFencedError, match=f"run {RUN} was declared crashed .* suiro resume {RUN}$"):
        recorder.notify(state("a", TaskState.SUCCESS, attempt=1))
        recorder.notify(RunFinished(run_id=RUN, state=RunState.SUCCESS, time=200.0))
    run = rows(db, "runs")[0]
    assert run["state"] == "crashed"
    assert run["error"].startswith("fenced: its process"), "the record says why nothing more came"
    assert task_row(db, "a")["state"] == "pending", "the fenced batch was rolled back"
    with pytest.raises(RunFencedError):  # and it stays stopped
        recorder.notify(state("b", TaskState.RUNNING, attempt=1))


def test_while_a_run_is_recorded_its_buffered_events_are_not_promoted_to_the_oldest_generation(db):
    import gc

    before = gc.get_threshold()
    first = start(db)
    assert gc.get_threshold()[1] >= collector.YOUNG_COLLECTIONS  # events live one interval
    assert gc.get_threshold()[0] == before[0], "young objects are collected as often as before"
    second = Recorder(db, interval=3600)  # a second run recorded at the same time, e.g. a nested one
    second.notify(
        RunStarted(run_id="20260101-000000-second", pipeline="p", params={}, graph=GRAPH, time=100.0)
    )
    first.notify(RunFinished(run_id=RUN, state=RunState.SUCCESS, time=200.0))
    assert gc.get_threshold()[1] >= collector.YOUNG_COLLECTIONS, "the other run still records"
    second.finish_now("stopped")  # a forced stop ends a record too
    second.close()
    assert gc.get_threshold() == before
