"""Reads of the record never write: they work on a read-only connection and leave a dead run as recorded.

A home holds a finished run (a log line, a metric, an output, a failed task), a registered
model, and a run recorded as ``running`` whose process is gone. Every read function is
called on a ``Database`` opened read-only (SQLite ``mode=ro``: a write would be refused by
SQLite itself) and must answer; none may declare the dead run crashed (only the reaper
does, when a caller asks it to). The CLI's read commands (``runs``, ``show``, ``logs``,
``metrics``, ``artifacts``, ``models list``) are shown, by SQLite's own trace of every
connection, to answer through read-only connections.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from suiro import history, log_metric, pipeline, run, task
from suiro.errors import RunNotFoundError, StoreError
from suiro.registry import Registry
from suiro.store import queries
from suiro.store.db import Database, database_url, write_timings
from suiro.ui import reads


@task
def source(n: int) -> list[int]:
    print("hello from source")
    log_metric("size", n)
    return list(range(n))


@task(retries=0)
def broken(xs: list[int]) -> int:
    raise ValueError("broken on purpose")


@pipeline
def recorded(n: int = 3):
    xs = source(n)
    return {"xs": xs, "bad": broken(xs)}


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def home(suiro_home: Path) -> dict[str, Any]:
    """A home with a finished run, a registered model and a dead ``running`` run; their ids."""
    done = run(recorded, executor="sequential")
    dead = run(recorded, {"n": 4}, executor="sequential")
    registry = Registry()
    registry.register("tiny", {"w": 1}, stage="production")
    registry.close()
    with Database.open().write() as tx:  # as a runner killed mid-task leaves it
        tx.execute(
            "UPDATE runs SET state = 'running', ended = NULL, pid = :pid WHERE id = :id",
            {"pid": _dead_pid(), "id": dead.run_id},
        )
        tx.execute(
            "UPDATE task_runs SET state = 'running' WHERE run_id = :id AND task_key = 'broken'",
            {"id": dead.run_id},
        )
    return {"home": suiro_home, "done": done.run_id, "dead": dead.run_id}


def _state(run_id: str) -> str:
    return Database.open().query("SELECT state FROM runs WHERE id = :id", {"id": run_id})[0]["state"]


def _fingerprint(home: Path) -> str:
    """The bytes of the database file and its write-ahead log."""
    digest = hashlib.sha256()
    for name in ("suiro.db", "suiro.db-wal"):
        path = home / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def test_a_read_only_database_refuses_writes_with_one_sentence(home):
    db = Database(database_url(), read_only=True)
    assert db.read_only
    before = _fingerprint(home["home"])
    with (
        pytest.raises(StoreError, match=r"was opened read-only, for reading the record; nothing was written"),
        db.write(),
    ):
        pass
    with pytest.raises(
        StoreError, match=r"was opened read-only, for reading the record; nothing was written"
    ):
        db.query("UPDATE runs SET state = 'success'")
    with pytest.raises(StoreError, match=r"was opened read-only"):
        db.query("DELETE FROM model_versions")
    assert _state(home["dead"]) == "running"
    assert _fingerprint(home["home"]) == before


def test_every_read_function_works_on_a_read_only_database_and_changes_nothing(home, caplog):
    from suiro.store import models

    done, dead = home["done"], home["dead"]
    db = Database(database_url(), read_only=True)
    before = _fingerprint(home["home"])
    write_timings(clear=True)

    listed = {r["id"]: r["state"] for r in queries.list_runs(db)}
    assert listed == {done: "failed", dead: "running"}, "listed as recorded: reading reaps nothing"
    assert queries.get_run(db, dead)["state"] == "running"
    shown = queries.get_run(db, done)
    assert {t["task_key"]: t["state"] for t in shown["tasks"]} == {"source": "success", "broken": "failed"}
    assert queries.resolve_run_id(db, done[-6:]) == done
    assert queries.task_errors(db, done, "broken")[0]["error_type"] == "ValueError"
    logs = {a["task_key"]: a["lines"] for a in queries.logs(db, done)}
    assert "hello from source" in logs["source"]
    assert [(m["name"], m["value"]) for m in queries.metrics(db, done)] == [("size", 3.0)]
    assert [a["task_key"] for a in queries.artifacts(db, done)] == ["source"]
    assert queries.explain(db, done, "source")["state"] == "success"
    assert queries.root_of(db, done) == done
    assert queries.resume_conflict(db, done) is None
    with pytest.raises(RunNotFoundError, match="is still running"):
        queries.find_resumable(db, "recorded")  # the dead run is the latest: still recorded running
    assert [(v["name"], v["stage"]) for v in models.all_versions(db)] == [("tiny", "production")]
    assert models.names(db) == ["tiny"]
    assert [t["action"] for t in models.transitions(db, "tiny")] == ["register", "promote"]

    assert _state(dead) == "running"
    assert write_timings() == [], "no write transaction was committed"
    assert _fingerprint(home["home"]) == before
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [], "nor tried"


def test_reads_on_a_writable_database_do_not_reap_either(home):
    """``list_runs``, ``get_run`` and ``find_resumable`` used to reap first: a read that wrote."""
    db = Database.open()
    write_timings(clear=True)
    assert {r["id"]: r["state"] for r in queries.list_runs(db)}[home["dead"]] == "running"
    assert queries.get_run(db, home["dead"])["state"] == "running"
    with pytest.raises(RunNotFoundError):
        queries.find_resumable(db, "recorded")
    assert write_timings() == []
    assert _state(home["dead"]) == "running"


# -- the CLI's read commands, as SQLite sees them -----------------------------------------------------


class Connections:
    """Every SQLite connection opened from now on: how it was opened, and each statement it ran."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, list[str]]] = []

    def wrap(self, connect: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
        def traced(target: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = connect(target, *args, **kwargs)
            statements: list[str] = []
            self.opened.append((str(target), statements))
            conn.set_trace_callback(statements.append)
            return conn

        return traced

    def reads(self, *, read_only: bool) -> list[str]:
        """The SELECTs run on read-only (``mode=ro``) or on writable connections."""
        return [
            " ".join(sql.split())
            for target, statements in self.opened
            if ("mode=ro" in target) == read_only
            for sql in statements
            if sql.lstrip().upper().startswith(("SELECT", "WITH"))
        ]


@pytest.fixture
def connections(monkeypatch) -> Iterator[Connections]:
    found = Connections()
    monkeypatch.setattr(sqlite3, "connect", found.wrap(sqlite3.connect))
    yield found


#: What each read command calls (``suiro.cli``: runs, show, logs, metrics, artifacts, models list),
#: and how the statement its answer comes from begins.
COMMANDS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "runs": (lambda h: history.runs(), "SELECT id, pipeline, state, started, ended, parent_run_id"),
    "show": (lambda h: history.show(h["done"]), "SELECT * FROM runs WHERE id ="),
    "logs": (lambda h: history.logs(h["done"]), "SELECT task_key, map_index, attempt, state, error_type"),
    "metrics": (lambda h: history.metrics(h["done"]), "SELECT task_key, map_index, name, value"),
    "artifacts": (lambda h: history.artifacts(h["done"]), "SELECT t.task_key, t.map_index, t.state"),
    "models list": (lambda h: Registry().versions(), "SELECT * FROM model_versions ORDER BY name"),
    # the web UI's pages and JSON API (suiro.ui.reads): never a writable connection, never a reap
    "ui runs": (lambda h: reads.runs(Registry())["runs"], "SELECT r.id, r.pipeline, r.state, r.started"),
    "ui run": (lambda h: reads.run(Registry(), h["done"]), "SELECT * FROM runs WHERE id ="),
    "ui pipelines": (lambda h: reads.pipelines(Registry()), "WITH RECURSIVE n(name) AS"),
}
#: ``runs`` and ``show`` reap before they read: their only reads on a writable connection are the
#: reaper's (the running runs, then the attempts of a dead one), so the dead run is crashed by then.
REAPING = {"runs", "show"}
REAPER_READS = (
    "SELECT id, pipeline, host, pid, heartbeat",
    "SELECT task_key, map_index, attempt FROM attempts",
    # the crash notification of each verdict won (suiro.notices.announce_crash): whom to tell, what failed
    "SELECT r.id, r.pipeline, r.state, r.error",
    "SELECT task_key, map_index, attempt, error_type",
    # what the dead run finished, listed in the cache index (suiro.store.cache_index.list_run)
    "SELECT id, cache_key, ended FROM task_runs",
)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_read_commands_answer_through_a_read_only_connection(home, connections, command):
    call, answer = COMMANDS[command]
    assert call(home)
    assert any(sql.startswith(answer) for sql in connections.reads(read_only=True)), connections.opened
    writable = connections.reads(read_only=False)
    allowed = REAPER_READS if command in REAPING else ()
    assert [sql for sql in writable if not sql.startswith(allowed)] == []
    assert _state(home["dead"]) == ("crashed" if command in REAPING else "running")
