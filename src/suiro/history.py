"""The record read back, as a Python API: runs, tasks, logs, metrics, artifacts, gc.

Each function opens the store (the running task's run's home inside a task, else
``SUIRO_HOME`` / ``SUIRO_DB``, unless ``home`` is given) and returns plain data; the CLI
renders exactly these results, and the web UI will serve them. Every read goes through a
read-only connection (``Store.reader``); ``runs`` and ``show`` first reap dead runs
(``suiro.crashes``: recorded ``crashed``, announced once), so what they print is current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from suiro import crashes
from suiro.context import run_home, run_locations
from suiro.errors import StoreError
from suiro.store import deliveries, queries
from suiro.store.damage import screen
from suiro.store.db import with_password
from suiro.store.home import Store


def _store(home: str | Path | None, **options: Any) -> Store:
    home, url, artifacts = run_locations(home)
    return Store(home, with_password(url) if url else None, artifacts=artifacts, **options)


#: Unreferenced artifacts younger than this are kept by gc (``suiro.store.gc.MIN_AGE``).
GC_MIN_AGE = 600.0


def runs(
    *,
    pipeline: str | None = None,
    state: str | None = None,
    deployment: str | None = None,
    limit: int = 50,
    home: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Recent runs, newest first (dead runs are marked ``crashed`` first)."""
    store = _store(home)
    crashes.reap(store.db)
    return queries.list_runs(store.reader, pipeline=pipeline, state=state, deployment=deployment, limit=limit)


def show(run_id: str, *, home: str | Path | None = None) -> dict[str, Any]:
    """One run: parameters, state, and every task with its attempts, errors and cache hits.

    Dead runs are marked ``crashed`` first.
    """
    store = _store(home)
    crashes.reap(store.db)
    run = queries.get_run(store.reader, run_id)
    if isinstance(run.get("notify"), str):  # the routes it started with (runs.notify)
        run["notify"] = json.loads(run["notify"])
    run["deliveries"] = deliveries.of_run(store.reader, run["id"])
    return run


def notifications(
    *, run_id: str | None = None, state: str | None = None, limit: int = 50, home: str | Path | None = None
) -> list[dict[str, Any]]:
    """Recent notification deliveries (and hooks that raised), newest first: to whom, which event,
    ``sent`` or ``failed`` with why; of one run (id, unique prefix or ``last``) if given.

    Dead runs are reaped first, so their ``crashed`` notifications are among them.
    """
    store = _store(home)
    crashes.reap(store.db)
    if run_id is not None:
        run_id = queries.resolve_run_id(store.reader, run_id)
    return deliveries.recent(store.reader, run_id=run_id, state=state, limit=limit)


def dynamic_graph(pipeline: str, *, home: str | Path | None = None) -> tuple[str, dict[str, Any]] | None:
    """The graph a dynamic pipeline's latest run recorded (what it called), with that run's id;
    None before its first run. A dynamic pipeline's graph is known only after a run."""
    return queries.last_dynamic_graph(_store(home).reader, pipeline)


def errors(run_id: str, task: str, *, home: str | Path | None = None) -> list[dict[str, Any]]:
    """Every failed attempt of one task, with tracebacks."""
    return queries.task_errors(_store(home).reader, run_id, task)


def logs(
    run_id: str, task: str | None = None, *, attempt: int | None = None, home: str | Path | None = None
) -> list[dict[str, Any]]:
    """Captured stdout, stderr and logger lines per attempt (only attempt ``attempt`` if given).

    For one ``task`` that was a cache hit in the run (or mapped items of it that were), the
    attempts of the run that computed its output follow, each with ``run_id`` (that run),
    ``cached_in`` (this one) and ``cached_as`` (-1, or the reused item's index): a reused output
    has no log of its own (see ``suiro.store.reuse``).
    """
    db = _store(home).reader
    rows = queries.logs(db, run_id, task, attempt)
    if task is None:
        return rows
    from suiro.store.reuse import cached_logs

    followed = cached_logs(db, queries.resolve_run_id(db, run_id), task, attempt)
    return sorted(rows + followed, key=lambda row: row["map_index"]) if followed else rows


def metrics(run_id: str, *, home: str | Path | None = None) -> list[dict[str, Any]]:
    """Metrics logged with ``suiro.log_metric`` in a run."""
    return queries.metrics(_store(home).reader, run_id)


def artifacts(run_id: str, *, home: str | Path | None = None) -> list[dict[str, Any]]:
    """The stored outputs of a run's tasks."""
    return queries.artifacts(_store(home).reader, run_id)


def explain(run_id: str, task: str, *, home: str | Path | None = None) -> dict[str, Any]:
    """Why ``task`` was or was not a cache hit in ``run_id``: what changed since its last run."""
    return queries.explain(_store(home).reader, run_id, task)


def gc(
    *, dry_run: bool = False, min_age: float = GC_MIN_AGE, home: str | Path | None = None
) -> dict[str, Any]:
    """Remove stored artifacts no task run or model refers to, and leftover temporary files.

    Objects younger than ``min_age`` seconds are kept, and so is every object stored since the
    start of a run still in progress, even with ``min_age=0``: a running task may be about to
    record it. See ``suiro.store.gc`` for the rule that keeps every recorded output. A damaged
    database is refused whatever its size: what it cannot show would look unreferenced. Dead
    runs are reaped first, so a crashed run does not hold gc back.
    """
    from suiro.store.gc import collect

    store = _store(home, quick_check=False)
    if store.db.read_only_because and not dry_run:  # refuse before deleting, not between deletes
        raise StoreError(
            f"suiro gc cannot remove anything: the suiro database can only be read now "
            f"({store.db.read_only_because}); free some space another way, then retry "
            "(`suiro gc --dry-run` lists what it would remove)."
        )
    if store.db.path is not None:
        screen(store.db.path, always=True, immutable=store.db.read_only_because is not None)
    crashes.reap(store.db)
    return collect(store, min_age=min_age, dry_run=dry_run)


def verify_artifacts(*, home: str | Path | None = None) -> list[dict[str, str]]:
    """Every stored output, object and model version whose bytes are missing or do not hash right."""
    from suiro.store.check import check as check_store

    return [problem.to_dict() for problem in check_store(_store(home), artifacts_only=True)]


def check(*, home: str | Path | None = None) -> list[dict[str, str]]:
    """Every broken invariant of the store, read-only: see ``suiro.store.check``.

    An empty list means every successful task's output is present and hash-valid, no task run
    has two successes, no run is left running without a live process, every stored object
    hashes to its name, SQLite's integrity and foreign-key checks pass, and the records are
    there (not a missing or empty database beside stored outputs). A damaged database is a
    list of ``integrity`` problems, not an exception.
    """
    from suiro.store.check import check_home

    return [problem.to_dict() for problem in check_home(run_home(home))]


def backup(dest: str | Path | None = None, *, home: str | Path | None = None) -> dict[str, Any]:
    """Copy the database consistently, even while runs write: see ``suiro.store.backup``.

    Returns ``path``, ``source``, ``runs``, ``size`` (bytes) and ``seconds``. To restore it, stop
    every suiro process, move ``suiro.db``, ``suiro.db-wal`` and ``suiro.db-shm`` aside, and copy
    the backup to ``suiro.db``.
    """
    from suiro.store.backup import backup as backup_database
    from suiro.store.db import database_url, home_dir

    home = run_home(home)
    folder = Path(home) if home is not None else home_dir()
    made = backup_database(database_url(folder), folder, Path(dest) if dest is not None else None)
    return made.to_dict()
