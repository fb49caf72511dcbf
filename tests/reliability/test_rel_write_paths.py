"""R9 (G7): every write suiro makes to SQLite runs in a transaction opened by ``BEGIN IMMEDIATE``.

SQLite itself says what ran: every ``sqlite3.connect`` in this process is wrapped so the real
connection gets ``set_trace_callback``, which sees each statement as executed, with whether a
transaction was open. Then every writer runs: run recording (a map, metrics, a retry, a failed
task, a mid-run heartbeat, a cache hit), resume, the reaper on a run whose process died, the model
registry (register, promote, rollback), deployments (save, pause, delete) and gc. A write (INSERT,
UPDATE, DELETE, REPLACE or DDL) outside a transaction, or inside one opened by anything but
``BEGIN IMMEDIATE`` (a plain or deferred ``BEGIN``, Python's implicit ``BEGIN``, a ``SAVEPOINT``),
fails the test.

A deferred transaction takes the write lock only at its first write, and if another writer holds
it then, SQLite returns ``SQLITE_BUSY`` at once, without waiting: the "database is locked" this
guards against. So that "every" is checked too, each write statement in suiro's source must show
up in the trace; a new one fails the test until it is exercised here. Migrations are exempt: they
run once, before the trace starts, one process at a time under a file lock. The last tests break
``BEGIN IMMEDIATE`` on purpose and show the check catches it.
"""

from __future__ import annotations

import ast
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability.rel_harness import rows

import suiro
from suiro import api, context, history, log_metric, pipeline, task
from suiro.cancel import Cancellation
from suiro.errors import RunFencedError
from suiro.registry import Registry
from suiro.store import cache_index
from suiro.store import db as db_module
from suiro.store.db import Database
from suiro.store.home import Store

SRC = Path(suiro.__file__).resolve().parent
#: Writes SQLite never runs (it lists the cache index in one statement): PostgreSQL's, exercised by
#: ``tests/integration/test_postgres.py``.
POSTGRES_ONLY = (cache_index.LIST_EACH,)
_WRITE_WORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class Trace:
    """Every statement each traced connection ran, with whether a transaction was open before it."""

    def __init__(self) -> None:
        self.logs: list[list[tuple[str, bool]]] = []
        self._lock = threading.Lock()

    def wrap(self, connect: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
        def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
            conn = connect(*args, **kwargs)
            log: list[tuple[str, bool]] = []
            with self._lock:
                self.logs.append(log)
            conn.set_trace_callback(lambda sql: log.append((sql, conn.in_transaction)))
            return conn

        return traced

    def writes(self) -> list[str]:
        return [sql for log in self.logs for sql, _ in log if is_write(sql)]

    def problems(self) -> list[str]:
        return [problem for log in self.logs for problem in problems_in(log)]


def is_write(sql: str) -> bool:
    words = sql.split()
    first = words[0].upper() if words else ""
    if first == "WITH":
        return re.search(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", sql, re.I) is not None
    return first in _WRITE_WORDS


def problems_in(log: list[tuple[str, bool]]) -> list[str]:
    """Writes of one connection that did not run inside a transaction opened by BEGIN IMMEDIATE."""
    problems, opener = [], None
    for sql, in_transaction in log:
        if not in_transaction:
            # Whatever starts while no transaction is open may open one (a BEGIN that failed, e.g.
            # busy, opened nothing: the next statement again sees no transaction).
            words = " ".join(sql.upper().split())
            opener = words if words.startswith(("BEGIN", "SAVEPOINT")) else None
        if is_write(sql):
            if not in_transaction:
                problems.append(f"write outside a transaction (autocommit): {sql[:120]}")
            elif opener not in ("BEGIN IMMEDIATE", "BEGIN IMMEDIATE TRANSACTION"):
                problems.append(f"write in a transaction opened by {opener!r}: {sql[:120]}")
    return problems


@pytest.fixture
def trace(monkeypatch, suiro_home) -> Iterator[Trace]:
    """Trace every SQLite connection opened from now on; the schema is created first (exempt)."""
    Database.open().close()
    found = Trace()
    monkeypatch.setattr(sqlite3, "connect", found.wrap(sqlite3.connect))
    monkeypatch.setattr(sqlite3.dbapi2, "connect", found.wrap(sqlite3.dbapi2.connect))
    yield found


# -- what runs --------------------------------------------------------------------------------------


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def square(x: int) -> int:
    return x * x


@task(retries=1, retry_on=(ConnectionError,))
def flaky_once() -> str:
    if context().attempt == 1:
        raise ConnectionError("first attempt fails on purpose")
    return "ok"


@task
def measured() -> int:
    log_metric("loss", 0.5)
    time.sleep(0.05)  # a quiet spell: the recorder commits mid-run, renewing the heartbeat
    return 1


@task
def gate(flag: str) -> str:
    if not Path(flag).exists():
        raise RuntimeError(f"{flag} is missing")
    return "open"


@pipeline
def writers(flag: str, n: int = 3):
    return {
        "squares": square.map(numbers(n)),
        "flaky": flaky_once(),
        "measured": measured(),
        "gate": gate(flag),
    }


@task
def verdict_meanwhile() -> int:
    """The reaper's verdict on this very run, as if its process had been paused meanwhile."""
    with Database.open().write() as tx:
        tx.execute("UPDATE runs SET state = 'crashed' WHERE id = :id", {"id": context().run_id})
    return 1


@pipeline
def fenced():
    return verdict_meanwhile()


DOOMED = """
import os, time
from suiro import pipeline, run, task

@task
def die() -> None:
    time.sleep(0.3)  # the runner records the attempt as running meanwhile
    os._exit(3)

@pipeline
def doomed():
    return die()

run(doomed, executor="threads")
"""


@task(retries=1, retry_delay=60.0)
def retry_later() -> int:
    raise RuntimeError("not now")


@task
def long_sleep() -> int:
    time.sleep(2.0)  # cancelled while this runs
    return 1


@pipeline
def cancelled():
    retry_later()
    return long_sleep()


@pipeline(dynamic=True)
def called(n: int = 2):
    total = 0
    for i in range(n):  # decided as it runs: its graph is recorded at the end
        total += retry_free(i)
    return total


@task
def retry_free(i: int) -> int:
    return i


def record_a_dynamic_run() -> None:
    """A dynamic run: the graph of what it called replaces the empty one it started with."""
    assert api.run(called, executor="sequential").ok


def cancel_a_run() -> None:
    """A run cancelled while one task runs and another waits for its retry: both attempts closed."""
    cancel = Cancellation()
    timer = threading.Timer(0.5, cancel.request, args=("test", "cancelled by the write-path test"))
    timer.start()
    try:
        result = api.run(cancelled, executor="threads", cancel=cancel)
    finally:
        timer.cancel()
    assert result.state.value == "cancelled"


def record_runs(tmp_path: Path) -> None:
    """A run that fails, its resume, a fully cached run: recorder writes of every kind."""
    flag = tmp_path / "flag"
    failed = api.run(writers, {"flag": str(flag)}, executor="threads")
    assert failed.tasks["gate"].state.value == "failed" and failed.tasks["flaky_once"].attempts == 2
    flag.touch()
    resumed = api.resume(failed.run_id)
    assert resumed.ok and resumed.tasks["measured"].state.value == "cached"
    again = api.run(writers, {"flag": str(flag)}, executor="threads")
    assert again.ok and {t.state.value for t in again.tasks.values()} == {"cached"}


def reap_a_dead_run(tmp_path: Path, home: Path) -> None:
    """A process that dies mid-run, then a read that reaps it."""
    env = {**os.environ, "PYTHONPATH": str(SRC.parent), "SUIRO_HOME": str(home)}
    died = subprocess.run([sys.executable, "-c", DOOMED], env=env, cwd=tmp_path, timeout=60)
    assert died.returncode == 3
    (dead,) = [r for r in history.runs() if r["pipeline"] == "doomed"]
    assert dead["state"] == "crashed"
    assert rows(home, "SELECT state FROM attempts WHERE run_id = ?", (dead["id"],)) == [{"state": "failed"}]


def fence_a_run_declared_crashed() -> None:
    """A runner whose run was declared crashed: its next batch is refused and the run says so."""
    with pytest.raises(RunFencedError):
        api.run(fenced, executor="sequential")
    (run,) = [r for r in history.runs() if r["pipeline"] == "fenced"]
    assert run["state"] == "crashed"


def use_the_registry() -> None:
    registry = Registry()
    registry.register("m", {"w": 1})
    registry.register("m", {"w": 2}, stage="production", reason="first production")
    registry.promote("m", 1, "production")  # archives version 2
    assert registry.rollback("m").version == 2
    registry.promote("m", 1, "staging")
    assert [(v.version, v.stage) for v in registry.versions("m")] == [(1, "staging"), (2, "production")]
    registry.close()


def keep_deployments() -> None:
    """A deployment saved, saved again (the upsert), paused, resumed and deleted."""
    from suiro.store import deployments

    db = Store().db
    row = deployments.DeploymentRow(name="nightly", target="suiro.ml.pipeline:training", pipeline="training")
    assert deployments.save(db, row) is True
    assert deployments.save(db, row) is False
    assert deployments.set_paused(db, "nightly", True) and deployments.set_paused(db, "nightly", False)
    assert deployments.delete(db, "nightly") and deployments.get(db, "nightly") is None


def collect_garbage() -> None:
    orphan = Store().artifacts.put_bytes(b"no task run refers to this" * 100)
    assert orphan in history.gc(min_age=0)["removed"]


def raising_hook(ctx: object) -> None:
    raise RuntimeError("a hook that breaks")


@pipeline(
    notify=suiro.Notify(webhook="http://127.0.0.1:9/closed", retries=0, timeout=2), on_failure=raising_hook
)
def notified(flag: str):
    return gate(flag)


def send_notifications(tmp_path: Path) -> None:
    """A failed run notifies (routes armed, delivery claimed then finished), a raising hook is
    recorded, and a scheduled run past its SLA with nowhere to send is recorded late."""
    from suiro.notices import check_late
    from suiro.store import deployments

    result = api.run(notified, {"flag": str(tmp_path / "absent")}, executor="sequential")
    assert result.state.value == "failed"
    db = Database.open()
    deployments.save(db, deployments.DeploymentRow(name="d", target="x.py:p", pipeline="p", sla=1.0))
    with db.write() as tx:
        tx.execute(
            'INSERT INTO ticks (deployment, logical_time, "trigger", run_id, created)'
            " VALUES ('d', :t, 'schedule', 'never-ran', :t)",
            {"t": time.time() - 100},
        )
    assert check_late(db, time.time()) == 1
    states = {
        (r["event"], r["channel"]): r["state"]
        for r in rows(Path(os.environ["SUIRO_HOME"]), "SELECT * FROM deliveries")
    }
    assert states == {
        ("failed", "webhook"): "failed",
        ("on_failure", "hook"): "failed",
        ("late", "log"): "logged",
    }
    # The foundation's other deployment writes (part B exercises them too; either copy will do).
    assert deployments.set_paused(db, "d", True) and deployments.delete(db, "d")


def use_the_scheduler() -> None:
    """The scheduler's lease (take, renew, take over, release) and its ticks (create with the cursor
    under the lease, claim, a child's take-over, fail, settle once the run ended, relaunch)."""
    from suiro.runinfo import Tick
    from suiro.store import deployments, leases, ticks
    from suiro.store.deployments import DeploymentRow

    db = Store().db
    deployments.save(db, DeploymentRow(name="scheduled", target="x.py:p", pipeline="p"))
    held = leases.acquire(db, "a", 10.0, now=0.0)
    held = leases.acquire(db, "a", 10.0, now=1.0)
    failing, ending, orphaned = ticks.create(
        db, "scheduled", [Tick(logical_time=t) for t in (1.0, 2.0, 3.0)], now=1.0, lease=held, cursor=3.0
    )
    me = os.getpid()
    assert ticks.claim(db, failing, pid=me, now=1.0, lease=held)
    assert ticks.start(db, failing, launcher=me, pid=me, now=1.0)
    could_not_start = {"pipeline": "p", "target": "x.py:p", "params": {}, "timezone": "UTC", "now": 1.0}
    assert ticks.fail(db, failing, pid=me, run={**could_not_start, "error": "could not start: gone"})
    assert ticks.claim(db, ending, pid=me, now=1.0)
    assert ticks.unclaim(db, ending, pid=me)  # no process could be started: back in the queue
    assert ticks.claim(db, ending, pid=me, now=1.0)
    assert api.run(called, executor="sequential", run_id=ending).ok
    assert ticks.settle(db) == 1
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert ticks.claim(db, orphaned, pid=int(gone.stdout), now=1.0)
    (orphan,) = ticks.orphans(db)
    assert ticks.relaunch(db, orphan, pid=me, now=time.time())
    assert leases.acquire(db, "b", 10.0, now=100.0).token == 2
    assert leases.release(db, leases.current(db), now=101.0)
    assert deployments.set_paused(db, "scheduled", True)  # part B exercises these too
    assert deployments.delete(db, "scheduled")


# -- what the source writes ----------------------------------------------------------------------


def source_writes() -> dict[str, str]:
    """Every SQL write statement written in suiro's source (not migrations), by ``file:line``."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts or path.name == "migrate.py":  # creating the schema is exempt
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and re.match(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\s", node.value):  # upper case SQL
                found[f"{path.relative_to(SRC)}:{node.lineno}"] = node.value
    return found


def ran(statement: str, traced: list[str]) -> bool:
    """Whether ``statement`` (with ``:name`` parameters) is among ``traced`` (values filled in).

    A statement's head alone (``INSERT INTO t (``, the start of an f-string that ``Tx.insert_rows``
    completes with its rows) ran if a traced statement begins with it.
    """
    if not re.search(r"\b(VALUES|SELECT|SET|WHERE)\b", statement):
        return any(t.startswith(" ".join(statement.split())) for t in traced)
    parts = re.split(r":\w+", " ".join(statement.split()))
    pattern = re.compile("(?:.+?)".join(map(re.escape, parts)), re.S)
    return any(t.startswith(parts[0]) and pattern.fullmatch(t) for t in traced)


# -- the tests ---------------------------------------------------------------------------------------


def test_every_write_path_runs_in_a_begin_immediate_transaction(trace, tmp_path, suiro_home):
    record_runs(tmp_path)
    reap_a_dead_run(tmp_path, suiro_home)
    fence_a_run_declared_crashed()
    cancel_a_run()
    record_a_dynamic_run()
    use_the_registry()
    keep_deployments()
    collect_garbage()
    send_notifications(tmp_path)
    use_the_scheduler()

    assert trace.problems() == []
    traced = [" ".join(sql.split()) for sql in trace.writes()]
    statements = {where: sql for where, sql in source_writes().items() if sql not in POSTGRES_ONLY}
    assert len(statements) >= 15, sorted(statements)  # the scan itself found suiro's writes
    missed = [where for where, sql in statements.items() if not ran(sql, traced)]
    assert missed == [], f"write statements this test never ran (exercise them here): {missed}"


def _deferred(conn: sqlite3.Connection, path: Path | None) -> None:
    conn.execute("BEGIN")


def _none(conn: sqlite3.Connection, path: Path | None) -> None:
    pass


@pytest.mark.parametrize(
    ("broken", "problem"),
    [(_deferred, "write in a transaction opened by 'BEGIN'"), (_none, "write outside a transaction")],
    ids=["deferred-begin", "autocommit"],
)
def test_the_check_catches_a_write_that_does_not_begin_immediate(trace, monkeypatch, broken, problem):
    monkeypatch.setattr(db_module, "_begin_immediate", broken)
    try:
        Registry().register("m", {"w": 1})
    except suiro.SuiroError:
        pass  # without a transaction, COMMIT itself fails; the INSERTs already ran
    found = trace.problems()
    assert found and all(p.startswith(problem) for p in found), found
    assert any("INSERT INTO model_versions" in p for p in found)
