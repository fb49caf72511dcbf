"""The ``deployments`` table: named, parameterised, scheduled configurations of a pipeline.

Holds every SQL statement on ``deployments``; ``suiro.deployments`` (the public API) validates a
deployment (its pipeline loads, its parameters fit, its schedule parses) before it calls ``save``,
so a row here is always one the scheduler can act on. JSON columns (``params``, ``schedule``,
``notify``, ``triggers``) are stored as text and given back decoded. Reads take any ``Database``,
also a read-only one; each write is one transaction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from suiro import clock
from suiro.errors import UnknownDeploymentError, did_you_mean
from suiro.store.db import Database, Tx

_JSON = ("params", "schedule", "notify", "triggers")


@dataclass(frozen=True, kw_only=True)
class DeploymentRow:
    """One row of ``deployments``, its JSON columns decoded.

    Attributes:
        name: unique name (``nightly``).
        target: how to load the pipeline (``train.py:training``, ``module:name``), as ``runs.target``.
        pipeline: the pipeline's name.
        params: parameter values every run of it gets (above the pipeline's defaults).
        schedule: ``suiro.schedules.Schedule.to_json()`` (None: runs only when triggered).
        catchup: ``latest``, ``all`` or ``none``: what to run for ticks missed while down.
        max_catchup_runs: with ``catchup="all"``, at most this many of the missed ticks (the latest).
        max_active_runs: at most this many of its runs at once (None: no limit).
        executor: the executor its runs use (None: the pipeline's own choice).
        notify: a ``suiro.notify.Notify`` as JSON (None: the pipeline's and project's only).
        triggers: ``[{"kind": "file", ...}, {"kind": "after", ...}]``.
        sla: seconds after its logical time by which a run should have finished ("late" otherwise).
        paused: a paused deployment gets no new ticks (its queued ones wait).
        source: where it was declared: ``python``, ``project`` (suiro.yaml) or ``cli``.
        cursor: the scheduler's mark: every tick at or before it has been decided.
    """

    name: str
    target: str
    pipeline: str
    params: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] | None = None
    catchup: str = "latest"
    max_catchup_runs: int | None = None
    max_active_runs: int | None = None
    executor: str | None = None
    notify: dict[str, Any] | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    sla: float | None = None
    paused: bool = False
    source: str = "cli"
    cursor: float | None = None
    created: float | None = None
    updated: float | None = None


def _decode(row: dict[str, Any]) -> DeploymentRow:
    for name in _JSON:
        if row.get(name) is not None:
            row[name] = json.loads(row[name])
    row.pop("id", None)
    row["paused"] = bool(row["paused"])
    return DeploymentRow(**row)


def get(db: Database, name: str) -> DeploymentRow | None:
    """The deployment called ``name``, or None."""
    rows = db.query("SELECT * FROM deployments WHERE name = :name", {"name": name})
    return _decode(rows[0]) if rows else None


def require(db: Database, name: str) -> DeploymentRow:
    """The deployment called ``name``.

    Raises:
        UnknownDeploymentError: there is none (the closest names offered, or how to make one).
    """
    row = get(db, name)
    if row is None:
        known = names(db)
        raise UnknownDeploymentError(
            f"no deployment named {name!r}{did_you_mean(name, known)}; "
            + ("see them with `suiro deployments`." if known else "deploy one with `suiro deploy`."),
            deployment=name,
        )
    return row


def all_deployments(db: Database) -> list[DeploymentRow]:
    """Every deployment, by name."""
    return [_decode(r) for r in db.query("SELECT * FROM deployments ORDER BY name")]


def names(db: Database) -> list[str]:
    """Every deployment's name, sorted."""
    return [r["name"] for r in db.query("SELECT name FROM deployments ORDER BY name")]


def last_change(db: Database) -> tuple[int, float]:
    """How many deployments there are and when the latest changed: a cheap test of "anything new?"."""
    row = db.query("SELECT count(*) AS n, max(updated) AS t FROM deployments")[0]
    return int(row["n"]), float(row["t"] or 0.0)


def save(db: Database, row: DeploymentRow) -> bool:
    """Create or replace the deployment ``row.name``; True if it is new.

    Replacing keeps its ``cursor``, ``paused`` flag and ``created`` time: redeploying a changed
    schedule does not replay the ticks already decided, nor resume a paused deployment.
    """
    return save_all(db, [row])[0]


def save_all(db: Database, rows: list[DeploymentRow]) -> list[bool]:
    """``save`` each of ``rows`` in one transaction (a project file is deployed whole or not at all)."""
    now = clock.now()
    with db.write() as tx:
        return [_upsert(tx, row, now) for row in rows]


def _upsert(tx: Tx, row: DeploymentRow, now: float) -> bool:
    values = asdict(row)
    for name in _JSON:
        values[name] = None if values[name] is None else json.dumps(values[name], sort_keys=True)
    values.update(paused=int(row.paused), created=now, updated=now)
    existed = tx.query("SELECT 1 AS x FROM deployments WHERE name = :name", {"name": row.name})
    tx.execute(
        "INSERT INTO deployments (name, target, pipeline, params, schedule, catchup, max_catchup_runs,"
        " max_active_runs, executor, notify, triggers, sla, paused, source, cursor, created, updated)"
        " VALUES (:name, :target, :pipeline, :params, :schedule, :catchup, :max_catchup_runs,"
        " :max_active_runs, :executor, :notify, :triggers, :sla, :paused, :source, :cursor, :created,"
        " :updated) ON CONFLICT (name) DO UPDATE SET target = excluded.target,"
        " pipeline = excluded.pipeline, params = excluded.params, schedule = excluded.schedule,"
        " catchup = excluded.catchup, max_catchup_runs = excluded.max_catchup_runs,"
        " max_active_runs = excluded.max_active_runs, executor = excluded.executor,"
        " notify = excluded.notify, triggers = excluded.triggers, sla = excluded.sla,"
        " source = excluded.source, updated = excluded.updated",
        values,
    )
    return not existed


def set_paused(db: Database, name: str, paused: bool) -> bool:
    """Pause or resume ``name``; False if there is no such deployment."""
    with db.write() as tx:
        changed = tx.execute(
            "UPDATE deployments SET paused = :paused, updated = :now WHERE name = :name",
            {"paused": int(paused), "now": clock.now(), "name": name},
        )
    return bool(changed)


def delete(db: Database, name: str) -> bool:
    """Delete the deployment ``name`` (its runs and ticks stay in the record); False if none."""
    with db.write() as tx:
        return bool(tx.execute("DELETE FROM deployments WHERE name = :name", {"name": name}))


# -- what deployments did: reads for `suiro deployments` and the triggers ---------------------------


def last_runs(db: Database, name: str, limit: int = 5) -> list[dict[str, Any]]:
    """The latest ``limit`` runs of deployment ``name``, newest first."""
    return db.query(
        'SELECT id, state, started, ended, logical_time, interval_start, interval_end, "trigger", timezone,'
        " error FROM runs WHERE deployment = :name ORDER BY started DESC LIMIT :limit",
        {"name": name, "limit": limit},
    )


def latest_states(db: Database) -> dict[str, dict[str, Any]]:
    """Each deployment's latest run (``id``, ``state``, ``started``), by deployment name."""
    rows = db.query(
        "SELECT r.deployment, r.id, r.state, r.started FROM runs r WHERE r.deployment IS NOT NULL"
        " AND r.started = (SELECT max(started) FROM runs WHERE deployment = r.deployment)"
    )
    return {row.pop("deployment"): row for row in rows}


def queued_ticks(db: Database, name: str, *, backfill: bool = False) -> int:
    """How many runs of ``name`` are decided but not started yet (ticks still ``queued``): those the
    scheduler starts, or (``backfill``) those queued by a backfill, which only it starts."""
    rows = db.query(
        "SELECT count(*) AS n FROM ticks WHERE state = 'queued' AND deployment = :name"
        " AND (\"trigger\" = 'backfill') = :backfill",
        {"name": name, "backfill": backfill},
    )
    return int(rows[0]["n"])


def event_keys(db: Database, name: str, prefix: str) -> set[str]:
    """The event keys recorded for ``name`` that start with ``prefix`` (``file:`` or ``after:``:
    constants without LIKE wildcards)."""
    rows = db.query(
        "SELECT event_key FROM ticks WHERE deployment = :name AND event_key LIKE :pattern",
        {"name": name, "pattern": prefix + "%"},
    )
    return {row["event_key"] for row in rows}


def taken_times(db: Database, name: str, low: float, high: float) -> set[float]:
    """The logical times in ``[low, high]`` that ``name`` already has a tick for (each is unique)."""
    rows = db.query(
        "SELECT logical_time FROM ticks WHERE deployment = :name AND logical_time BETWEEN :low AND :high",
        {"name": name, "low": low, "high": high},
    )
    return {row["logical_time"] for row in rows}


def ended_runs(
    db: Database, name: str, state: str | None, since: float, limit: int = 1000
) -> list[dict[str, Any]]:
    """Runs of deployment ``name`` that ended at or after ``since`` in ``state`` (None: any), oldest first."""
    values = {"name": name, "since": since, "state": state, "limit": limit}
    if state is None:
        return db.query(
            'SELECT id, state, started, ended, logical_time, interval_start, interval_end, "trigger", error'
            " FROM runs WHERE deployment = :name AND ended >= :since ORDER BY ended LIMIT :limit",
            values,
        )
    return db.query(
        'SELECT id, state, started, ended, logical_time, interval_start, interval_end, "trigger", error'
        " FROM runs WHERE deployment = :name AND ended >= :since AND state = :state"
        " ORDER BY ended LIMIT :limit",
        values,
    )
