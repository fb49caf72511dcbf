"""Reads of the record for the CLI, the Python API and the UI: runs, tasks, logs, metrics.

Every function takes a ``Database`` and returns plain dicts/lists (JSON-able), so
one place renders them. Reading also finds runs whose process died: a ``running``
run whose pid is gone (on this host) or whose heartbeat stopped is marked
``crashed`` (compare-and-set, so a live run is never overwritten), and the reader
that made the verdict, only that one, sends the crash alert (G8: the dying process
cannot).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from suiro import clock
from suiro.cache import describe_changes, diff_parts
from suiro.errors import RunNotFoundError, StoreError, did_you_mean
from suiro.store.db import Database, this_host

#: A running run whose heartbeat is older than this is taken as dead.
STALE_AFTER = 60.0
_CRASHED = "the run's process died while this attempt was running (the run crashed); resume it to rerun"


def reap(db: Database, *, now: float | None = None) -> list[str]:
    """Mark ``crashed`` every running run whose process is gone; return their ids.

    Each verdict is a compare-and-set, so of two readers reaping at once exactly one wins,
    and only the winner announces the crash (``$SUIRO_ALERT_WEBHOOK``, if set). A verdict
    that cannot be written (disk full, read-only home) is logged and left for a later
    reader: the read it is part of still answers, with the run as recorded.
    """
    now = now or clock.now()
    dead = []
    for run in db.query(
        "SELECT id, pipeline, host, pid, heartbeat, started, executor FROM runs WHERE state = 'running'"
    ):
        why = death_of(run, now)
        if why is None:
            continue
        why = _while_running(db, run, why)  # the process is gone: nothing changes these rows now
        try:
            won = _record_crash(db, run, why)
        except StoreError as exc:
            logging.getLogger("suiro.reaper").warning(
                "run %s looks dead but was left as is: %s", run["id"], exc
            )
            continue
        if won:
            dead.append(run["id"])
            _announce_crash(run, why)
    return dead


def _record_crash(db: Database, run: dict[str, Any], why: str) -> bool:
    """Compare-and-set ``running`` -> ``crashed`` for the run and its unfinished tasks; whether it won."""
    beat = run["heartbeat"] or run["started"]
    with db.write() as tx:
        won = tx.execute(
            "UPDATE runs SET state = 'crashed', ended = :ended, error = :why"
            " WHERE id = :id AND state = 'running'",
            {"id": run["id"], "ended": beat, "why": why},
        )
        if not won:
            return False
        params = {
            "id": run["id"],
            "ended": beat,
            "type": "suiro.errors.WorkerCrashedError",
            "message": _CRASHED,
        }
        tx.execute(
            "UPDATE task_runs SET state = 'failed', ended = :ended WHERE run_id = :id"
            " AND state IN ('running', 'retrying')",
            params,
        )
        tx.execute(
            "UPDATE attempts SET state = 'failed', ended = :ended, error_type = :type,"
            " error_message = :message WHERE run_id = :id AND state = 'running'",
            params,
        )
    return True


#: Executors that run a task in the runner's own process (unless it has a timeout).
_IN_PROCESS = ("sequential", "threads")
#: Running attempts named in a crash verdict; more are counted.
_NAMED = 5


def _while_running(db: Database, run: dict[str, Any], why: str) -> str:
    """``why`` completed with the attempts recorded as running when the process died.

    On the sequential and threads executors such a task ran inside the runner's process, so it
    may have ended it itself (``os._exit``, a crash in native code); the verdict says so and how
    to keep the run alive. Records are group-committed, so an attempt that ended the process
    within moments of starting may not be recorded as running; then the verdict says that.
    """
    running = db.query(
        "SELECT task_key, map_index, attempt FROM attempts WHERE run_id = :id AND state = 'running'"
        " ORDER BY id",
        {"id": run["id"]},
    )
    if not running:
        return f"{why}; no task was recorded as running at that moment"
    names = [_attempt_label(r) for r in running[:_NAMED]]
    if len(running) > _NAMED:
        names.append(f"{len(running) - _NAMED} more")
    task = "task " + names[0] if len(names) == 1 else "tasks " + ", ".join(names)
    verb = "was" if len(names) == 1 else "were"
    why = f"{why} while {task} {verb} running"
    if run["executor"] in _IN_PROCESS:
        why += (
            f"; on the {run['executor']} executor a task without timeout= runs inside the runner, so a task"
            " that ends its own process (os._exit, a crash in native code) ends the run: give it a timeout="
            " or use --executor processes to run it apart"
        )
    return why


def _attempt_label(row: dict[str, Any]) -> str:
    item = f"[{row['map_index']}]" if row["map_index"] >= 0 else ""
    return f"{row['task_key']}{item} (attempt {row['attempt']})"


def _announce_crash(run: dict[str, Any], why: str) -> None:
    """The crash alert, best effort: its delivery can never change the run's state.

    ``suiro.alerts`` (urllib, http.client, ssl: ~40 ms) is imported only here, when a crash is
    found, not by every command that reads the record.
    """
    from suiro.alerts import AlertDeliveryError, send_alert

    message = (
        f"suiro run {run['id']} of {run['pipeline']} crashed: {why}; resume it with: suiro resume {run['id']}"
    )
    details = {"run_id": run["id"], "pipeline": run["pipeline"], "state": "crashed", "reason": why}
    try:
        send_alert(message, details=details, level="error", idempotency_key=f"suiro-run-{run['id']}-crashed")
    except AlertDeliveryError as exc:
        logging.getLogger("suiro.reaper").error("%s", exc)


def death_of(run: dict[str, Any], now: float) -> str | None:
    """Why a ``running`` run's process is dead, or None while it may be alive.

    On this host the process decides: gone, or stopped (SIGSTOP, Ctrl-Z) with no heartbeat
    for ``STALE_AFTER`` — a live, running process keeps its run even when a task holds
    the interpreter so long that the heartbeat lags. For a run on another host, the
    heartbeat alone. A process declared dead that comes back is fenced (see the recorder).
    """
    alive = owner_alive(run)
    if alive is False:
        return f"its process {run['pid']} is gone"
    beat = run["heartbeat"] or run["started"]
    if now - beat <= STALE_AFTER:
        return None
    if alive is None:
        return f"no heartbeat for {now - beat:.0f} s"
    if _process_stopped(run["pid"]):
        return f"its process {run['pid']} is stopped and sent no heartbeat for {now - beat:.0f} s"
    return None


def owner_alive(run: dict[str, Any]) -> bool | None:
    """Whether the process that runs ``run`` is alive: None when it cannot be told from here.

    A pid alive but started after the run began belongs to another process (pid reuse).
    """
    if run["host"] != this_host() or run["pid"] is None:
        return None
    if not _pid_alive(run["pid"]):
        return False
    started = _process_start(run["pid"])
    return started is None or started <= run["started"] + 1.0


def _process_stopped(pid: int) -> bool:
    """Whether a process is stopped by a signal or a tracer (state T or t in /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("T", "t")


def _process_start(pid: int) -> float | None:
    """When a process started (epoch seconds), from /proc; None where /proc is missing."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        stat = Path("/proc/stat").read_text().splitlines()
        boot = next(int(line.split()[1]) for line in stat if line.startswith("btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(
    db: Database, *, pipeline: str | None = None, state: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Recent runs, newest first, optionally of one pipeline and/or in one state."""
    reap(db)
    rows = db.query(
        "SELECT id, pipeline, state, started, ended, parent_run_id, executor, host, pid FROM runs"
        " WHERE (CAST(:pipeline AS TEXT) IS NULL OR pipeline = :pipeline)"
        " AND (CAST(:state AS TEXT) IS NULL OR state = :state)"
        " ORDER BY started DESC LIMIT :limit",
        {"pipeline": pipeline, "state": state, "limit": limit},
    )
    for row in rows:
        row["duration"] = (row["ended"] - row["started"]) if row["ended"] else None
    return rows


def resolve_run_id(db: Database, run_id: str) -> str:
    """The full id of a run given its id, a unique prefix or suffix, or ``last``.

    Raises:
        RunNotFoundError: nothing (or more than one run) matches.
    """
    if run_id == "last":
        rows = db.query("SELECT id FROM runs ORDER BY started DESC LIMIT 1")
    else:
        rows = db.query(
            "SELECT id FROM runs WHERE id = :id OR id LIKE :prefix ESCAPE '!' OR id LIKE :suffix ESCAPE '!'"
            " ORDER BY started DESC LIMIT 3",
            {"id": run_id, "prefix": _like(run_id) + "%", "suffix": "%" + _like(run_id)},
        )
    exact = [r for r in rows if r["id"] == run_id]
    if exact:
        return run_id
    if len(rows) == 1:
        return rows[0]["id"]
    if not rows:
        recent = [r["id"] for r in db.query("SELECT id FROM runs ORDER BY started DESC LIMIT 200")]
        raise RunNotFoundError(
            f"no run {run_id!r}{did_you_mean(run_id, recent)}; list runs with `suiro runs`."
        )
    raise RunNotFoundError(
        f"{run_id!r} matches several runs ({', '.join(r['id'] for r in rows)}); give more of the id."
    )


def _like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def get_run(db: Database, run_id: str) -> dict[str, Any]:
    """One run with its tasks (node rows), attempts and mapped-item counts."""
    reap(db)
    run_id = resolve_run_id(db, run_id)
    run = db.query("SELECT * FROM runs WHERE id = :id", {"id": run_id})[0]
    run["params"] = json.loads(run["params"])
    run["duration"] = (run["ended"] - run["started"]) if run["ended"] else None
    tasks = db.query(
        "SELECT task_key, map_index, state, attempts, started, ended, duration, map_size, cache_key,"
        " output_digest, cached_from FROM task_runs WHERE run_id = :id ORDER BY id",
        {"id": run_id},
    )
    attempts = db.query(
        "SELECT task_key, map_index, attempt, state, ended, duration, error_type, error_message, log_path"
        " FROM attempts WHERE run_id = :id ORDER BY id",
        {"id": run_id},
    )
    nodes = {t["task_key"]: {**t, "items": {}, "errors": []} for t in tasks if t["map_index"] < 0}
    for t in tasks:
        if t["map_index"] >= 0 and t["task_key"] in nodes:
            items = nodes[t["task_key"]]["items"]
            items[t["state"]] = items.get(t["state"], 0) + 1
    for a in attempts:
        if a["error_type"] and a["task_key"] in nodes:
            nodes[a["task_key"]]["errors"].append(
                {k: a[k] for k in ("map_index", "attempt", "state", "error_type", "error_message")}
            )
    run["tasks"] = list(nodes.values())
    run["attempts"] = attempts
    return run


def task_errors(db: Database, run_id: str, task_key: str) -> list[dict[str, Any]]:
    """Every failed attempt of a task in a run, with its traceback."""
    return db.query(
        "SELECT map_index, attempt, state, error_type, error_message, traceback FROM attempts"
        " WHERE run_id = :id AND task_key = :task AND error_type IS NOT NULL ORDER BY id",
        {"id": resolve_run_id(db, run_id), "task": task_key},
    )


def logs(
    db: Database, run_id: str, task_key: str | None = None, attempt: int | None = None
) -> list[dict[str, Any]]:
    """Each attempt's log lines (from its log file), in order, for a run or one task of it."""
    run_id = resolve_run_id(db, run_id)
    if task_key is not None:
        _check_task(db, run_id, task_key)
    rows = db.query(
        "SELECT task_key, map_index, attempt, state, log_path FROM attempts WHERE run_id = :id"
        " AND (CAST(:task AS TEXT) IS NULL OR task_key = :task)"
        " AND (CAST(:attempt AS INTEGER) IS NULL OR attempt = :attempt) ORDER BY id",
        {"id": run_id, "task": task_key, "attempt": attempt},
    )
    for row in rows:
        path = row.pop("log_path")
        try:
            with open(path, encoding="utf-8") as handle:
                row["lines"] = handle.read().splitlines()
        except (OSError, TypeError):
            row["lines"] = []
    return rows


def _check_task(db: Database, run_id: str, task_key: str) -> None:
    keys = [
        r["task_key"]
        for r in db.query("SELECT DISTINCT task_key FROM task_runs WHERE run_id = :id", {"id": run_id})
    ]
    if task_key not in keys:
        raise RunNotFoundError(
            f"run {run_id} has no task {task_key!r}{did_you_mean(task_key, keys)}; "
            f"its tasks are {', '.join(keys)}."
        )


def metrics(db: Database, run_id: str) -> list[dict[str, Any]]:
    """Every metric logged in a run, in order."""
    return db.query(
        "SELECT task_key, map_index, name, value, step, time FROM metrics WHERE run_id = :id ORDER BY id",
        {"id": resolve_run_id(db, run_id)},
    )


def artifacts(db: Database, run_id: str) -> list[dict[str, Any]]:
    """The outputs of a run's tasks: digest, serializer, type, size, and where they came from."""
    return db.query(
        "SELECT t.task_key, t.map_index, t.state, t.output_digest AS digest, a.serializer, a.kind, a.size,"
        " a.inline IS NOT NULL AS inline, t.cached_from FROM task_runs t JOIN artifacts a"
        " ON a.digest = t.output_digest WHERE t.run_id = :id ORDER BY t.id",
        {"id": resolve_run_id(db, run_id)},
    )


def explain(db: Database, run_id: str, task_key: str) -> dict[str, Any]:
    """Why a task was or was not a cache hit in a run, against the task's previous run."""
    run_id = resolve_run_id(db, run_id)
    _check_task(db, run_id, task_key)
    row = db.query(
        "SELECT t.state, t.cache_key, t.cache_parts, t.cached_from, r.pipeline, r.started FROM task_runs t"
        " JOIN runs r ON r.id = t.run_id WHERE t.run_id = :id AND t.task_key = :task AND t.map_index = -1",
        {"id": run_id, "task": task_key},
    )[0]
    parts = json.loads(row["cache_parts"]) if row["cache_parts"] else {}
    previous = db.query(
        "SELECT t.run_id, t.cache_parts, t.state FROM task_runs t JOIN runs r ON r.id = t.run_id"
        " WHERE r.pipeline = :pipeline AND t.task_key = :task AND t.map_index = -1 AND r.started < :started"
        " AND t.cache_parts IS NOT NULL ORDER BY r.started DESC LIMIT 1",
        {"pipeline": row["pipeline"], "task": task_key, "started": row["started"]},
    )
    before = json.loads(previous[0]["cache_parts"]) if previous else None
    result = {
        "run_id": run_id,
        "task": task_key,
        "state": row["state"],
        "cache_key": row["cache_key"],
        "cached_from": row["cached_from"],
        "compared_with": previous[0]["run_id"] if previous else None,
        "changed": [],
        "reason": "",
    }
    if row["state"] == "cached":
        result["reason"] = f"cache hit: the same code, options and inputs ran in run {row['cached_from']}"
    elif "disabled" in parts:
        result["reason"] = f"not cached: {parts['disabled']}"
    elif "unhashable" in parts:
        result["reason"] = f"not cached: an input cannot be fingerprinted ({parts['unhashable']})"
    elif row["state"] in ("skipped", "upstream_failed", "pending"):
        result["reason"] = f"the task did not run ({row['state']})"
    else:
        changed = diff_parts(before, parts)
        result["changed"] = changed
        result["reason"] = (
            "ran because " + describe_changes(before, parts)
            if before and changed
            else "ran: " + changed[0]
            if not before
            else "ran although nothing changed: the earlier output was missing, damaged or expired,"
            " or --fresh was given"
        )
    return result


def root_of(db: Database, run_id: str) -> str:
    """The first run of the chain of resumes ``run_id`` belongs to."""
    seen = {run_id}
    while True:
        rows = db.query("SELECT parent_run_id FROM runs WHERE id = :id", {"id": run_id})
        parent = rows[0]["parent_run_id"] if rows else None
        if parent is None or parent in seen:
            return run_id
        seen.add(parent)
        run_id = parent


def find_resumable(db: Database, pipeline: str) -> str:
    """The run ``resume --last`` resumes: the latest run of ``pipeline``, if it did not succeed
    (failed, crashed or cancelled).

    The latest run is the tip of its resume chain (a resume starts after the run it resumes),
    so an old failure that was resumed, or that a newer run of the pipeline superseded, is
    never picked again with its old parameters.

    Raises:
        RunNotFoundError: the pipeline has no run, or its latest run succeeded or still runs.
    """
    reap(db)
    rows = db.query(
        "SELECT id, state FROM runs WHERE pipeline = :p ORDER BY started DESC LIMIT 1", {"p": pipeline}
    )
    if not rows:
        raise RunNotFoundError(f"pipeline {pipeline} has no recorded run to resume; run it first.")
    latest = rows[0]
    if latest["state"] == "success":
        raise RunNotFoundError(
            f"nothing to resume for pipeline {pipeline}: its latest run {latest['id']} succeeded."
        )
    if latest["state"] == "running":
        raise RunNotFoundError(
            f"nothing to resume for pipeline {pipeline}: its latest run {latest['id']} is still running."
        )
    return latest["id"]


def resume_conflict(db: Database, run_id: str) -> str | None:
    """Why ``run_id`` may not be resumed now (a resume of it is running or succeeded), or None."""
    rows = db.query(
        "SELECT id, state, pid FROM runs WHERE parent_run_id = :id AND state IN ('running', 'success')"
        " ORDER BY started DESC LIMIT 1",
        {"id": run_id},
    )
    if not rows:
        return None
    child = rows[0]
    if child["state"] == "running":
        return (
            f"run {run_id} is being resumed by run {child['id']} (pid {child['pid']}); "
            f"wait for it, or follow it with: suiro show {child['id']}"
        )
    return (
        f"run {run_id} was already resumed by run {child['id']}, which succeeded; "
        f"there is nothing left to resume (see: suiro show {child['id']})."
    )
