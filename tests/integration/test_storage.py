"""What real runs leave in the store, read back with SQL and through ``suiro.history``.

Pipelines from ``tests/pipelines/store_chain.py`` run with ``suiro.run`` / ``suiro.resume``
against a real SQLite file in ``SUIRO_HOME`` (a ``tmp_path``). Which task bodies really ran is
proven by a ledger file the bodies append to, not by the records under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pipelines import store_chain

import suiro
from suiro import RunState, SuiroError, TaskState, history
from suiro.api import resume
from suiro.errors import RunNotFoundError
from suiro.store.artifacts import ArtifactMeta, ArtifactStore
from suiro.store.db import Database, this_host

TESTS_DIR = Path(__file__).resolve().parents[1]
CHAIN_FILE = Path(store_chain.__file__).resolve()


class Ledger:
    """The file task bodies append their names to."""

    def __init__(self, path: Path):
        self.path = path

    def take(self) -> Counter[str]:
        """What ran since the last call (as a multiset: threads may run tasks in any order)."""
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        self.path.unlink(missing_ok=True)
        return Counter(lines)


class Flags:
    """Flag files that make tasks fail (or crash their process) on purpose."""

    def __init__(self, folder: Path):
        self.folder = folder

    def set(self, name: str, kind: str = "fail") -> None:
        (self.folder / f"{kind}-{name}").touch()

    def clear(self, name: str, kind: str = "fail") -> None:
        (self.folder / f"{kind}-{name}").unlink()


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Ledger:
    path = tmp_path / "ledger.txt"
    monkeypatch.setenv(store_chain.LEDGER_ENV, str(path))
    return Ledger(path)


@pytest.fixture
def flags(tmp_path, monkeypatch) -> Flags:
    folder = tmp_path / "flags"
    folder.mkdir()
    monkeypatch.setenv(store_chain.FLAGS_ENV, str(folder))
    return Flags(folder)


def run(pipe: Any, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, **kwargs)


def db() -> Database:
    return Database.open()


def task_rows(run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    found = db().query("SELECT * FROM task_runs WHERE run_id = :r", {"r": run_id})
    return {(r["task_key"], r["map_index"]): r for r in found}


def node_states(run_id: str) -> dict[str, str]:
    return {key: row["state"] for (key, index), row in task_rows(run_id).items() if index < 0}


def run_row(run_id: str) -> dict[str, Any]:
    return db().query("SELECT * FROM runs WHERE id = :r", {"r": run_id})[0]


def artifact_value(meta_row: dict[str, Any], store: ArtifactStore) -> Any:
    meta = ArtifactMeta(
        meta_row["digest"], meta_row["serializer"], meta_row["size"], meta_row["kind"], meta_row["inline"]
    )
    return store.get(meta)


# -- what a run records -----------------------------------------------------------------------


def test_a_run_records_its_row_tasks_attempts_metrics_and_artifacts(ledger, suiro_home):
    result = run(store_chain.recorded, params={"x": 1, "items": [1, 2, 3]})
    assert result.ok, result.tasks
    rid = result.run_id

    run_ = run_row(rid)
    assert run_["state"] == "success" and run_["pipeline"] == "recorded"
    assert json.loads(run_["params"]) == {"x": 1, "items": [1, 2, 3]}
    assert (run_["host"], run_["pid"], run_["parent_run_id"]) == (this_host(), os.getpid(), None)
    assert run_["executor"] == "threads" and run_["target"] == "pipelines.store_chain:recorded"
    assert run_["ended"] >= run_["started"]

    rows = task_rows(rid)
    assert set(rows) == {
        ("shaky", -1),
        ("measure", -1),
        ("square", -1),
        ("square", 0),
        ("square", 1),
        ("square", 2),
    }
    assert {k: r["state"] for k, r in rows.items()} == dict.fromkeys(rows, "success")
    assert rows[("shaky", -1)]["attempts"] == 2 and rows[("measure", -1)]["attempts"] == 1
    assert rows[("square", -1)]["map_size"] == 3
    assert all(rows[("square", i)]["attempts"] == 1 for i in range(3))
    assert node_states(rid) == {k: t.state.value for k, t in result.tasks.items()}

    attempts = db().query("SELECT * FROM attempts WHERE run_id = :r ORDER BY id", {"r": rid})
    per_task = Counter((a["task_key"], a["map_index"]) for a in attempts)
    assert per_task == {
        ("shaky", -1): 2,
        ("measure", -1): 1,
        ("square", 0): 1,
        ("square", 1): 1,
        ("square", 2): 1,
    }
    first, second = [a for a in attempts if a["task_key"] == "shaky"]
    assert (first["attempt"], first["state"], first["error_type"]) == (1, "retrying", "ConnectionError")
    assert first["error_message"] == "the first attempt of shaky fails on purpose"
    assert "raise ConnectionError" in first["traceback"] and "store_chain.py" in first["traceback"]
    assert (second["attempt"], second["state"], second["error_type"]) == (2, "success", None)
    assert ledger.take() == Counter(
        {"shaky.1": 1, "shaky.2": 1, "square[1]": 1, "square[2]": 1, "square[3]": 1}
    )

    metrics = [(m["task_key"], m["name"], m["value"], m["step"]) for m in history.metrics(rid)]
    assert metrics == [
        ("measure", "loss", 1.0, 0),
        ("measure", "loss", 0.5, 1),
        ("measure", "loss", pytest.approx(1 / 3), 2),
        ("measure", "final", 3.0, None),
    ]

    store = ArtifactStore(suiro_home / "artifacts")
    in_table = {a["digest"]: a for a in db().query("SELECT * FROM artifacts")}
    recorded = {}  # every output is recorded: a small JSON one on its own row, any other in artifacts
    for key, row in rows.items():
        if row["output_inline"] is not None:
            assert row["output_digest"] not in in_table, key
            recorded[key] = {
                "digest": row["output_digest"],
                "serializer": "json",
                "size": len(row["output_inline"]),
                "kind": row["output_kind"],
                "inline": row["output_inline"],
            }
        else:
            recorded[key] = in_table[row["output_digest"]]
        meta = recorded[key]
        if meta["inline"] is not None:
            assert hashlib.sha256(meta["inline"]).hexdigest() == meta["digest"], key
        else:
            assert hashlib.sha256(store.path(meta["digest"]).read_bytes()).hexdigest() == meta["digest"], key
    assert artifact_value(recorded[("measure", -1)], store) == 3.0
    assert [artifact_value(recorded[("square", i)], store) for i in range(3)] == [1, 4, 9]
    assert recorded[("square", 0)]["kind"] == "builtins.int"
    manifest = recorded[("square", -1)]
    assert manifest["serializer"] == "manifest"
    assert json.loads(manifest["inline"]) == [rows[("square", i)]["output_digest"] for i in range(3)]
    # ... with the items kept on rows, so reading the list needs no look-up by digest
    assert json.loads(manifest["items"]) == [["builtins.int", text] for text in ("1", "4", "9")]

    listed = {(a["task_key"], a["map_index"]): a["digest"] for a in history.artifacts(rid)}
    assert listed == {k: r["output_digest"] for k, r in rows.items()}


def test_a_failed_run_records_the_error_of_the_task_and_what_it_stopped():
    result = run(store_chain.failing)
    assert result.state is RunState.FAILED
    assert run_row(result.run_id)["state"] == "failed"
    assert node_states(result.run_id) == {"broken": "failed", "shaky": "upstream_failed"}
    (attempt,) = db().query("SELECT * FROM attempts WHERE run_id = :r", {"r": result.run_id})
    assert (attempt["task_key"], attempt["state"], attempt["error_type"]) == (
        "broken",
        "failed",
        "ValueError",
    )
    assert attempt["error_message"] == "broken refuses 1"
    assert attempt["traceback"].rstrip().endswith("ValueError: broken refuses 1")
    errors = history.errors(result.run_id, "broken")
    assert [(e["attempt"], e["error_type"]) for e in errors] == [(1, "ValueError")]
    shown = history.show(result.run_id)
    assert [t["task_key"] for t in shown["tasks"] if t["errors"]] == ["broken"]


# -- how it is written ---------------------------------------------------------------------------


@pytest.fixture
def traced(monkeypatch) -> dict[int, list[str]]:
    """Statements SQLite executes on every suiro connection (any thread), per connection."""
    Database.open().close()  # create the schema first: migrations are not under test here
    seen: dict[int, list[str]] = {}
    lock = threading.Lock()
    original = Database._sqlite

    def tracing(self: Database) -> sqlite3.Connection:
        conn = original(self)
        log = seen.setdefault(id(conn), [])

        def record(sql: str) -> None:
            with lock:
                log.append(sql.strip())

        conn.set_trace_callback(record)
        return conn

    monkeypatch.setattr(Database, "_sqlite", tracing)
    return seen


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def check_transactions(log: list[str]) -> int:
    """Assert every write on one connection sits in a BEGIN IMMEDIATE transaction; count commits."""
    inside, commits = False, 0
    for sql in log:
        upper = sql.upper()
        if upper.startswith("BEGIN"):
            assert upper == "BEGIN IMMEDIATE", sql
            inside = True
        elif upper in ("COMMIT", "ROLLBACK"):
            assert inside, f"{sql} outside a transaction"
            inside, commits = False, commits + (upper == "COMMIT")
        elif upper.startswith(WRITES):
            assert inside, f"write outside BEGIN IMMEDIATE: {sql[:80]}"
    assert not inside
    return commits


def test_a_whole_run_writes_only_in_begin_immediate_transactions(traced):
    assert run(store_chain.recorded).ok
    assert run(store_chain.failing).state is RunState.FAILED
    assert sum(check_transactions(log) for log in traced.values()) >= 4
    assert any(sql.startswith("INSERT INTO runs") for log in traced.values() for sql in log)


def test_a_thousand_tasks_are_group_committed(traced):
    result = run(store_chain.wide)
    assert result.ok and len(result.tasks) == store_chain.WIDE
    commits = sum(check_transactions(log) for log in traced.values())
    assert commits < 100, f"{commits} commits for {store_chain.WIDE} tasks"
    counted = db().query(
        "SELECT COUNT(*) AS n, SUM(state = 'success') AS ok FROM task_runs WHERE run_id = :r",
        {"r": result.run_id},
    )[0]
    assert (counted["n"], counted["ok"]) == (store_chain.WIDE, store_chain.WIDE)


# -- resume ------------------------------------------------------------------------------------


def test_resume_reruns_only_the_failed_task_and_what_depends_on_it(ledger, flags):
    flags.set("scale")
    first = run(store_chain.chain)
    assert first.state is RunState.FAILED
    assert node_states(first.run_id) == {
        "load": "success",
        "scale": "failed",
        "shift": "success",
        "report": "upstream_failed",
    }
    assert ledger.take() == Counter(["load", "scale", "shift"])
    flags.clear("scale")

    second = resume(first.run_id)

    assert second.ok and second.output == {"label": "a", "scaled": 20, "shifted": 15}
    assert ledger.take() == Counter(["scale", "report"]), "load and shift did not run again"
    assert run_row(second.run_id)["parent_run_id"] == first.run_id
    rows = task_rows(second.run_id)
    for key in ("load", "shift"):
        assert (rows[(key, -1)]["state"], rows[(key, -1)]["cached_from"]) == ("cached", first.run_id)
        assert rows[(key, -1)]["output_digest"] == task_rows(first.run_id)[(key, -1)]["output_digest"]
    assert (rows[("scale", -1)]["state"], rows[("scale", -1)]["cached_from"]) == ("success", None)
    assert json.loads(run_row(second.run_id)["params"]) == json.loads(run_row(first.run_id)["params"])


def test_resuming_a_successful_run_is_refused(ledger):
    done = run(store_chain.chain)
    assert done.ok
    with pytest.raises(SuiroError, match=f"run {done.run_id} succeeded; there is nothing to resume"):
        resume(done.run_id)
    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        resume("nope")


def test_resume_last_finds_the_latest_failed_run_of_a_pipeline_file(ledger, flags):
    flags.set("scale")
    older = run(store_chain.chain, params={"n": 3})
    newer = run(store_chain.chain, params={"n": 4})
    other = run(store_chain.failing)  # another pipeline's failure is not picked
    assert {older.state, newer.state, other.state} == {RunState.FAILED}
    flags.clear("scale")
    ledger.take()

    resumed = resume(last=f"{CHAIN_FILE}:chain")

    assert resumed.ok
    assert run_row(resumed.run_id)["parent_run_id"] == newer.run_id
    assert resumed.params["n"] == 4, "the resumed run's parameters are used"
    assert ledger.take() == Counter(["scale", "report"])


def test_resume_of_a_mapped_task_reruns_only_its_failed_item(ledger, flags):
    flags.set("square-2")
    first = run(store_chain.mapped, params={"xs": [1, 2, 3]})
    assert first.state is RunState.FAILED
    assert first.tasks["square"].item_states == [TaskState.SUCCESS, TaskState.FAILED, TaskState.SUCCESS]
    assert ledger.take() == Counter(["square[1]", "square[2]", "square[3]"])
    flags.clear("square-2")

    second = resume(first.run_id)

    assert second.ok and second.output == 14
    assert ledger.take() == Counter(["square[2]", "total"])
    rows = task_rows(second.run_id)
    assert [(rows[("square", i)]["state"], rows[("square", i)]["cached_from"]) for i in range(3)] == [
        ("cached", first.run_id),
        ("success", None),
        ("cached", first.run_id),
    ]


CRASHING_RUN = """
import sys
sys.path.insert(0, {tests!r})
import suiro
from pipelines import store_chain
suiro.run(store_chain.chain, environ={{}})
"""


def test_a_run_whose_process_died_is_found_crashed_and_can_be_resumed(ledger, flags, tmp_path):
    Database.open().close()  # the schema exists already, as in any store that has run before
    flags.set("report", kind="crash")
    script = tmp_path / "crashing_run.py"
    script.write_text(CRASHING_RUN.format(tests=str(TESTS_DIR)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60)
    assert done.returncode == 3, done.stderr.decode()
    (crashed,) = history.runs(pipeline="chain")
    assert crashed["state"] == "crashed"
    recorded = node_states(crashed["id"])
    flags.clear("report", kind="crash")
    ran_before = ledger.take()
    assert ran_before == Counter(["load", "scale", "shift", "report"])

    resumed = resume(crashed["id"])

    assert resumed.ok
    not_recorded = {k for k in ("load", "scale", "shift") if recorded.get(k) != "success"}
    assert ledger.take() == Counter(["report", *not_recorded]), recorded


def test_resume_is_part_of_the_public_api():
    assert suiro.resume is resume
    assert "resume" in suiro.__all__


# -- two runs at once --------------------------------------------------------------------------

CONCURRENT_RUN = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
import suiro
from pipelines import store_chain
result = suiro.run(store_chain.stamps, params={{"tag": sys.argv[1]}}, environ={{}})
print(result.run_id, result.state.value)
"""


def test_two_processes_run_at_once_on_one_fresh_store(ledger, tmp_path, suiro_home):
    script = tmp_path / "two_runs.py"
    script.write_text(CONCURRENT_RUN.format(tests=str(TESTS_DIR)))
    go = tmp_path / "go"
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    env = {**os.environ, store_chain.MEETING_ENV: str(meeting)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), tag, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for tag in ("A", "B")
    ]
    time.sleep(0.3)  # both are waiting at the start line, neither has opened the store
    assert not suiro_home.exists()
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    run_ids = [out.decode().split()[0] for out, _ in outputs]
    assert [out.decode().split()[1] for out, _ in outputs] == ["success", "success"]

    runs = {r["id"]: r for r in history.runs(pipeline="stamps")}
    assert set(runs) == set(run_ids)
    assert {r["state"] for r in runs.values()} == {"success"}
    for rid in run_ids:
        states = node_states(rid)
        assert len(states) == store_chain.STAMPS and set(states.values()) == {"success"}
    assert sum(ledger.take().values()) == 2 * store_chain.STAMPS
    started = [runs[r]["started"] for r in run_ids]
    ended = [runs[r]["ended"] for r in run_ids]
    assert max(started) < min(ended), "the two runs overlapped in time"
    assert sorted(os.listdir(meeting)) == ["A", "B"]


# -- history -----------------------------------------------------------------------------------


def test_runs_lists_newest_first_and_filters_by_pipeline_and_state(ledger):
    ok = run(store_chain.chain)
    bad = run(store_chain.failing)
    again = run(store_chain.chain, params={"label": "b"})
    assert [r["id"] for r in history.runs()] == [again.run_id, bad.run_id, ok.run_id]
    assert [r["id"] for r in history.runs(pipeline="chain")] == [again.run_id, ok.run_id]
    assert [r["id"] for r in history.runs(state="failed")] == [bad.run_id]
    assert [r["id"] for r in history.runs(pipeline="chain", state="failed")] == []
    assert [r["id"] for r in history.runs(limit=1)] == [again.run_id]
    assert all(r["duration"] >= 0 for r in history.runs())


def test_show_gives_parameters_tasks_and_accepts_a_short_id(ledger):
    result = run(store_chain.chain, params={"n": 3})
    shown = history.show(result.run_id[-6:])
    assert shown["id"] == result.run_id and shown["state"] == "success"
    assert shown["params"] == {"n": 3, "factor": 2, "offset": 1, "label": "a"}
    assert {t["task_key"]: t["state"] for t in shown["tasks"]} == dict.fromkeys(
        ["load", "scale", "shift", "report"], "success"
    )
    assert len(shown["attempts"]) == 4
    with pytest.raises(RunNotFoundError, match="no run"):
        history.show("does-not-exist")


def test_logs_keep_every_attempt_of_a_retried_task():
    result = run(store_chain.recorded)
    logs = history.logs(result.run_id, "shaky")
    assert [(entry["attempt"], entry["state"], entry["lines"]) for entry in logs] == [
        (1, "retrying", ["shaky attempt 1 starting"]),
        (2, "success", ["shaky attempt 2 starting", "shaky attempt 2 done"]),
    ]
    everything = history.logs(result.run_id)
    assert {(e["task_key"], e["map_index"]) for e in everything} >= {("measure", -1), ("square", 2)}
    with pytest.raises(RunNotFoundError, match="has no task 'shaki' \\(did you mean \"shaky\"\\?\\)"):
        history.logs(result.run_id, "shaki")


def test_artifacts_list_what_each_task_stored(ledger):
    result = run(store_chain.chain)
    listed = {a["task_key"]: a for a in history.artifacts(result.run_id)}
    assert set(listed) == {"load", "scale", "shift", "report"}
    assert (listed["load"]["serializer"], listed["load"]["inline"]) == ("pickle", 0)
    assert (listed["report"]["serializer"], listed["report"]["inline"]) == ("json", 1)
    assert listed["report"]["kind"] == "builtins.dict"


def test_gc_removes_only_unreferenced_objects(ledger, suiro_home):
    result = run(store_chain.chain)
    store = ArtifactStore(suiro_home / "artifacts")
    kept = [a["digest"] for a in history.artifacts(result.run_id) if not a["inline"]]
    assert len(kept) == 2
    orphan = store.put_bytes(b"written by nobody's task")

    assert history.gc(dry_run=True)["removed"] == [], "young objects are kept by default"
    preview = history.gc(dry_run=True, min_age=0)
    assert preview["removed"] == [orphan] and preview["bytes"] == len(b"written by nobody's task")
    assert store.has(orphan), "a dry run deletes nothing"

    done = history.gc(min_age=0)

    assert done["removed"] == [orphan] and not done["dry_run"]
    assert not store.has(orphan)
    assert all(store.verify(d) for d in kept)
    ledger.take()
    assert run(store_chain.chain).ok and ledger.take() == Counter(), "everything still cached after gc"


def insert_running_run(run_id: str, *, host: str, pid: int, heartbeat: float) -> None:
    with db().write() as tx:
        tx.execute(
            "INSERT INTO runs (id, pipeline, params, state, started, host, pid, heartbeat)"
            " VALUES (:id, 'chain', '{}', 'running', :beat, :host, :pid, :beat)",
            {"id": run_id, "host": host, "pid": pid, "beat": heartbeat},
        )


def test_a_running_run_whose_process_is_gone_is_reported_crashed():
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    dead_pid = int(exited.stdout)
    now = time.time()
    insert_running_run("dead-pid", host=this_host(), pid=dead_pid, heartbeat=now)
    insert_running_run("silent", host="another-host", pid=1, heartbeat=now - 3600)
    insert_running_run("alive", host=this_host(), pid=os.getpid(), heartbeat=now)
    insert_running_run("elsewhere", host="another-host", pid=dead_pid, heartbeat=now)

    states = {r["id"]: r["state"] for r in history.runs()}

    assert states == {"dead-pid": "crashed", "silent": "crashed", "alive": "running", "elsewhere": "running"}
    assert run_row("dead-pid")["ended"] == pytest.approx(now)
    with pytest.raises(SuiroError, match="run alive is still running"):
        resume("alive")


def test_the_record_is_readable_with_plain_sqlite(ledger, suiro_home):
    result = run(store_chain.chain)
    conn = sqlite3.connect(f"file:{suiro_home / 'suiro.db'}?mode=ro", uri=True)
    try:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM task_runs WHERE run_id = ?", (result.run_id,)
        ).fetchone()
        (state,) = conn.execute("SELECT state FROM runs WHERE id = ?", (result.run_id,)).fetchone()
    finally:
        conn.close()
    assert (count, state) == (4, "success")


def test_logs_are_files_under_the_run_folder(suiro_home):
    result = run(store_chain.recorded)
    folder = suiro_home / "logs" / result.run_id
    assert sorted(p.name for p in folder.iterdir()) == ["shaky.1.log", "shaky.2.log"]
    assert (folder / "shaky.1.log").read_text() == textwrap.dedent(
        """\
        shaky attempt 1 starting
        """
    )
