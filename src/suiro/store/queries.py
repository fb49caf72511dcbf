"""Reads of the record for the CLI, the Python API and the UI: runs, tasks, logs, metrics.

Every function takes a ``Database``, only reads (SELECT), and returns plain dicts/lists
(JSON-able), so one place renders them. Each works on a read-only handle
(``Database(url, read_only=True)``, ``Store.reader``), which is how the CLI and the web
UI call them. Nothing here declares a dead run crashed: a caller that should show
verdicts first reaps (``suiro.store.reaper``; ``suiro.crashes`` also alerts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from suiro import graphrecord
from suiro.cache import describe_changes, diff_parts, uncached_reason
from suiro.errors import RunNotFoundError, did_you_mean
from suiro.labels import first_few
from suiro.states import RunState, TaskState
from suiro.store.db import Database
from suiro.store.files import file_entries


def list_runs(
    db: Database,
    *,
    pipeline: str | None = None,
    state: str | None = None,
    deployment: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Recent runs, newest first, optionally of one pipeline, in one state and/or started by one
    deployment (with the logical time and data interval they stand for); ``offset`` skips that
    many of the newest (the UI's and the JSON API's pages)."""
    rows = db.query(
        "SELECT id, pipeline, state, started, ended, parent_run_id, executor, host, pid, deployment,"
        ' logical_time, interval_start, interval_end, "trigger", timezone FROM runs'
        " WHERE (CAST(:pipeline AS TEXT) IS NULL OR pipeline = :pipeline)"
        " AND (CAST(:state AS TEXT) IS NULL OR state = :state)"
        " AND (CAST(:deployment AS TEXT) IS NULL OR deployment = :deployment)"
        " ORDER BY started DESC LIMIT :limit OFFSET :offset",
        {"pipeline": pipeline, "state": state, "deployment": deployment, "limit": limit, "offset": offset},
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
    elif db.query("SELECT id FROM runs WHERE id = :id", {"id": run_id}):
        return run_id  # a full id: one primary-key lookup, not a scan of every id (a page calls this often)
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


def last_dynamic_graph(db: Database, pipeline: str) -> tuple[str, dict[str, Any]] | None:
    """The latest run of dynamic pipeline ``pipeline`` that recorded what it called, and that graph."""
    rows = db.query(
        "SELECT r.id, p.graph FROM runs r JOIN pipelines p ON p.id = r.pipeline_id"
        " WHERE r.pipeline = :name ORDER BY r.started DESC LIMIT 50",
        {"name": pipeline},
    )
    for row in rows:
        graph = json.loads(row["graph"])
        if graph.get("dynamic"):
            return row["id"], graphrecord.expand(graph)
    return None


def get_run(db: Database, run_id: str) -> dict[str, Any]:
    """One run with its tasks (node rows), attempts and mapped-item counts."""
    run_id = resolve_run_id(db, run_id)
    run = db.query("SELECT * FROM runs WHERE id = :id", {"id": run_id})[0]
    run["params"] = json.loads(run["params"])
    run["duration"] = (run["ended"] - run["started"]) if run["ended"] else None
    graph = db.query("SELECT graph FROM pipelines WHERE id = :id", {"id": run["pipeline_id"]})
    about = json.loads(graph[0]["graph"]) if graph else {}  # the pipeline as recorded with the run
    run.update(description=about.get("description"), owner=about.get("owner"), tags=about.get("tags", []))
    tasks = db.query(
        "SELECT task_key, map_index, state, attempts, started, ended, duration, map_size, cache_key,"
        " output_digest, cached_from FROM task_runs WHERE run_id = :id ORDER BY id",
        {"id": run_id},
    )
    attempts = db.query(
        "SELECT task_key, map_index, attempt, state, ended, duration, error_type, error_message,"
        " traceback, log_path FROM attempts WHERE run_id = :id ORDER BY id",
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
                {
                    k: a[k]
                    for k in ("map_index", "attempt", "state", "error_type", "error_message", "traceback")
                }
            )
    tolerates = graphrecord.tolerated(about)
    for key, node in nodes.items():  # failed, but its task has allow_failure: the run did not fail for it
        node["tolerated"] = node["state"] == "failed" and key in tolerates
    run["tasks"] = list(nodes.values())
    run["attempts"] = attempts
    return run


def task_errors(db: Database, run_id: str, task_key: str | None = None) -> list[dict[str, Any]]:
    """Every failed attempt of a task in a run (of every task if ``task_key`` is None), with its traceback."""
    return db.query(
        "SELECT task_key, map_index, attempt, state, error_type, error_message, traceback FROM attempts"
        " WHERE run_id = :id AND (CAST(:task AS TEXT) IS NULL OR task_key = :task)"
        " AND error_type IS NOT NULL ORDER BY id",
        {"id": resolve_run_id(db, run_id), "task": task_key},
    )


def logs(
    db: Database,
    run_id: str,
    task_key: str | None = None,
    attempt: int | None = None,
    *,
    within: Path | None = None,
    tasks: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Each attempt's log lines (from its log file), in order, for a run or one task of it.

    A failed attempt's row also has its ``error_type``, ``error_message`` and ``traceback``
    (the log file holds what the task printed, not how it ended). With ``within`` (the suiro
    home), a recorded log path that resolves outside that folder is not read (S3): the web UI
    must never serve a file a tampered record points at. With ``tasks``, only those tasks'
    attempts (the files of the others are not opened).
    """
    run_id = resolve_run_id(db, run_id)
    if task_key is not None:
        _check_task(db, run_id, task_key)
    rows = db.query(
        "SELECT task_key, map_index, attempt, state, error_type, error_message, traceback, log_path"
        " FROM attempts WHERE run_id = :id"
        " AND (CAST(:task AS TEXT) IS NULL OR task_key = :task)"
        " AND (CAST(:attempt AS INTEGER) IS NULL OR attempt = :attempt) ORDER BY id",
        {"id": run_id, "task": task_key, "attempt": attempt},
    )
    if tasks is not None:
        rows = [row for row in rows if row["task_key"] in tasks]
    for row in rows:
        path = row.pop("log_path")
        if within is not None and path is not None and not _is_inside(path, within):
            row["lines"] = []
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                row["lines"] = handle.read().splitlines()
        except (OSError, TypeError):
            row["lines"] = []
    return rows


def _is_inside(path: str, root: Path) -> bool:
    """Whether ``path`` resolves (symlinks followed) to a file under ``root``."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, top]) == top


def _check_task(db: Database, run_id: str, task_key: str) -> None:
    """Raise if run ``run_id`` has no task ``task_key``; one row read when it has (the web UI asks
    for each task it explains: reading every key each time was quadratic in a big run)."""
    found = db.query(
        "SELECT 1 AS found FROM task_runs WHERE run_id = :id AND task_key = :task LIMIT 1",
        {"id": run_id, "task": task_key},
    )
    if found:
        return
    keys = [
        r["task_key"]
        for r in db.query("SELECT DISTINCT task_key FROM task_runs WHERE run_id = :id", {"id": run_id})
    ]
    raise RunNotFoundError(
        f"run {run_id} has no task {task_key!r}{did_you_mean(task_key, keys)}; its tasks are "
        f"{first_few(keys, NAMED_TASKS)}."
    )


#: Task names an error about a task not in a run lists (the others are counted).
NAMED_TASKS = 30


def metrics(db: Database, run_id: str) -> list[dict[str, Any]]:
    """Every metric logged in a run, in order, then those of the tasks it reused whole from
    earlier runs (``cached_from`` names the run that logged them; None for the run's own).

    A run that was all cache hits logged nothing itself: its metrics were empty, and the UI's
    pipeline page said its latest run "logged no metric". Items of a map reused one by one (not
    the whole task) are not followed: their source items are not recorded by index.
    """
    found = resolve_run_id(db, run_id)
    own = db.query(
        "SELECT task_key, map_index, name, value, step, time, NULL AS cached_from FROM metrics"
        " WHERE run_id = :id ORDER BY id",
        {"id": found},
    )
    reused = db.query(
        "SELECT m.task_key, m.map_index, m.name, m.value, m.step, m.time, t.cached_from FROM task_runs t"
        " JOIN metrics m ON m.run_id = t.cached_from AND m.task_key = t.task_key WHERE t.run_id = :id"
        " AND t.map_index = -1 AND t.state = 'cached' AND t.cached_from IS NOT NULL ORDER BY t.id, m.id",
        {"id": found},
    )
    return own + reused


def artifacts(db: Database, run_id: str) -> list[dict[str, Any]]:
    """The outputs of a run's tasks: digest, serializer, type, size, and where they came from."""
    rows = db.query(
        # An output kept on its row (migration 0007) is JSON of the row's length; others have a row
        # in ``artifacts`` (stored objects, manifests, file records, small outputs from before 0007).
        "SELECT t.task_key, t.map_index, t.state, t.output_digest AS digest,"
        " CASE WHEN t.output_inline IS NOT NULL THEN 'json' ELSE a.serializer END AS serializer,"
        " COALESCE(t.output_kind, a.kind) AS kind, COALESCE(length(t.output_inline), a.size) AS size,"
        " (t.output_inline IS NOT NULL OR a.inline IS NOT NULL) AS inline, t.cached_from,"
        " CASE WHEN a.serializer = 'files' THEN a.inline END AS record"
        " FROM task_runs t LEFT JOIN artifacts a ON a.digest = t.output_digest"
        " WHERE t.run_id = :id AND t.output_digest IS NOT NULL"
        " AND (t.output_inline IS NOT NULL OR a.digest IS NOT NULL) ORDER BY t.id",
        {"id": resolve_run_id(db, run_id)},
    )
    for row in rows:  # a file-writing task's output: the files it lists, each with its kind and metadata
        record = row.pop("record")
        if record is not None:
            row["files"] = file_entries(record)
    return rows


#: Runs named in a mapped task's explanation; more are counted.
_NAMED_RUNS = 5


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
    uncached = uncached_reason(parts)
    if row["state"] == TaskState.CACHED and row["cached_from"] is None:  # a map: each item its own
        sources = [
            r["cached_from"]
            for r in db.query(
                "SELECT t.cached_from FROM task_runs t JOIN runs r ON r.id = t.cached_from"
                " WHERE t.run_id = :id AND t.task_key = :task AND t.map_index >= 0"
                " GROUP BY t.cached_from ORDER BY MIN(r.started)",  # oldest first
                {"id": run_id, "task": task_key},
            )
        ]
        result["items_cached_from"] = sources
        result["reason"] = (
            f"cache hit: each item's code, options and inputs ran before, in run{'s' * (len(sources) > 1)}"
            f" {first_few(sources, _NAMED_RUNS)}"
            if sources
            else "cache hit: every item's output was found"
        )
    elif row["state"] == TaskState.CACHED:
        result["reason"] = f"cache hit: the same code, options and inputs ran in run {row['cached_from']}"
    elif uncached is not None:
        result["reason"] = uncached
    elif row["state"] in (TaskState.SKIPPED, TaskState.UPSTREAM_FAILED, TaskState.PENDING):
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


def run_summary(db: Database, run_id: str) -> dict[str, Any] | None:
    """A run's pipeline, state, times and the run it resumed (by its full id; None if not recorded)."""
    rows = db.query(
        "SELECT id, pipeline, state, started, ended, parent_run_id FROM runs WHERE id = :id", {"id": run_id}
    )
    return rows[0] if rows else None


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
    rows = db.query(
        "SELECT id, state FROM runs WHERE pipeline = :p ORDER BY started DESC LIMIT 1", {"p": pipeline}
    )
    if not rows:
        raise RunNotFoundError(f"pipeline {pipeline} has no recorded run to resume; run it first.")
    latest = rows[0]
    if latest["state"] == RunState.SUCCESS:
        raise RunNotFoundError(
            f"nothing to resume for pipeline {pipeline}: its latest run {latest['id']} succeeded."
        )
    if latest["state"] == RunState.RUNNING:
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
    if child["state"] == RunState.RUNNING:
        return (
            f"run {run_id} is being resumed by run {child['id']} (pid {child['pid']}); "
            f"wait for it, or follow it with: suiro show {child['id']}"
        )
    return (
        f"run {run_id} was already resumed by run {child['id']}, which succeeded; "
        f"there is nothing left to resume (see: suiro show {child['id']})."
    )


def list_pipelines(db: Database) -> list[dict[str, Any]]:
    """Every pipeline with a recorded run: its run count and latest run (id, state, start), by name."""
    # Per name: its latest run and count from ix_runs_pipeline_started (index seeks), not a
    # GROUP BY over every run with a correlated lookup per group.
    return db.query(
        "WITH RECURSIVE n(name) AS (SELECT MIN(pipeline) FROM runs UNION ALL"
        " SELECT (SELECT MIN(pipeline) FROM runs WHERE pipeline > n.name) FROM n WHERE n.name IS NOT NULL)"
        " SELECT n.name, (SELECT COUNT(*) FROM runs c WHERE c.pipeline = n.name) AS runs,"
        " l.started AS last_started, l.id AS last_run, l.state AS last_state FROM n JOIN runs l"
        " ON l.id = (SELECT x.id FROM runs x WHERE x.pipeline = n.name ORDER BY x.started DESC LIMIT 1)"
        " ORDER BY n.name"
    )


def pipeline_graph(db: Database, name: str) -> dict[str, Any]:
    """The graph (``Graph.to_dict()``) recorded with the latest run of pipeline ``name``.

    Raises:
        RunNotFoundError: no run of ``name`` is recorded.
    """
    rows = db.query(
        "SELECT p.graph FROM runs r JOIN pipelines p ON p.id = r.pipeline_id"
        " WHERE r.pipeline = :name ORDER BY r.started DESC LIMIT 1",
        {"name": name},
    )
    if not rows:
        known = [r["name"] for r in list_pipelines(db)]
        raise RunNotFoundError(f"no run of pipeline {name!r} is recorded{did_you_mean(name, known)}.")
    return graphrecord.expand(json.loads(rows[0]["graph"]))


def run_states(db: Database, run_id: str) -> dict[str, Any]:
    """A run's state and each task's state and mapped-item counts: what a live view polls.

    Lighter than ``get_run`` (no graph, no attempts), so it can be read every fraction of a second.
    """
    run_id = resolve_run_id(db, run_id)
    run = db.query("SELECT id, state, started, ended, error FROM runs WHERE id = :id", {"id": run_id})[0]
    rows = db.query(
        "SELECT task_key, map_index, state, attempts, duration FROM task_runs WHERE run_id = :id ORDER BY id",
        {"id": run_id},
    )
    tasks = {r["task_key"]: {**r, "items": {}} for r in rows if r["map_index"] < 0}
    for r in rows:
        if r["map_index"] >= 0 and r["task_key"] in tasks:
            items = tasks[r["task_key"]]["items"]
            items[r["state"]] = items.get(r["state"], 0) + 1
    run["tasks"] = list(tasks.values())
    return run


def run_graph(db: Database, run_id: str) -> dict[str, Any]:
    """The graph (``Graph.to_dict()``) recorded with run ``run_id``; empty if none was."""
    rows = db.query(
        "SELECT p.graph FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = :id",
        {"id": resolve_run_id(db, run_id)},
    )
    return graphrecord.expand(json.loads(rows[0]["graph"])) if rows else {}
