"""The ``deliveries`` table: one row per notification sent (or tried) for a run, and the channels a
run was started with (``runs.notify``).

Why a table: a notification must go out at most once per (run, event, channel, target) whoever
tries to send it (the run's own process, the reaper in another one, a scheduler pass after a
restart), and a delivery that failed must be visible afterwards (``suiro show RUN``,
``suiro notifications``). ``claim`` is the only way to start a delivery: ``INSERT ... ON CONFLICT
DO NOTHING`` on ``UNIQUE (run_id, event, channel, target)``, so of two senders exactly one wins.
A hook that raised is recorded here too (channel ``hook``), so it is visible beside them.

Rows hold no secret: the caller gives a target that names a secret by reference
(``secret:NAME``) or the URL's host only, and an error already masked. Reads take any
``Database``, also a read-only one; each write is one transaction.
"""

from __future__ import annotations

import json
from typing import Any

from suiro import clock
from suiro.store.db import Database

#: Scheduled runs looked at by ``late_runs``: older ones were decided long ago.
LATE_WINDOW = 7 * 86400.0


def claim(db: Database, run_id: str, event: str, channel: str, target: str) -> bool:
    """Start the delivery of ``event`` for ``run_id`` to ``channel``/``target``; False if it was
    claimed before (sent, failed or being sent by someone else): then send nothing."""
    now = clock.now()
    with db.write() as tx:
        return bool(
            tx.execute(
                "INSERT INTO deliveries (run_id, event, channel, target, state, attempts, created, updated)"
                " VALUES (:run_id, :event, :channel, :target, 'sending', 0, :now, :now)"
                " ON CONFLICT (run_id, event, channel, target) DO NOTHING",
                {"run_id": run_id, "event": event, "channel": channel, "target": target, "now": now},
            )
        )


def finish(
    db: Database,
    run_id: str,
    event: str,
    channel: str,
    target: str,
    *,
    state: str,
    attempts: int,
    error: str | None = None,
) -> None:
    """Record how a claimed delivery ended: ``sent`` or ``failed`` (with ``error``), after ``attempts``."""
    with db.write() as tx:
        tx.execute(
            "UPDATE deliveries SET state = :state, attempts = :attempts, error = :error, updated = :now"
            " WHERE run_id = :run_id AND event = :event AND channel = :channel AND target = :target"
            " AND state = 'sending'",
            {
                "state": state,
                "attempts": attempts,
                "error": error,
                "now": clock.now(),
                "run_id": run_id,
                "event": event,
                "channel": channel,
                "target": target,
            },
        )


def record(
    db: Database, run_id: str, event: str, channel: str, target: str, *, state: str, error: str | None
) -> None:
    """Record an outcome that needs no claim (a hook that raised, a ``late`` notice with nowhere to
    go); a second record of the same (run, event, channel, target) is ignored."""
    now = clock.now()
    with db.write() as tx:
        tx.execute(
            "INSERT INTO deliveries (run_id, event, channel, target, state, attempts, error, created,"
            " updated) VALUES (:run_id, :event, :channel, :target, :state, 1, :error, :now, :now)"
            " ON CONFLICT (run_id, event, channel, target) DO NOTHING",
            {
                "run_id": run_id,
                "event": event,
                "channel": channel,
                "target": target,
                "state": state,
                "error": error,
                "now": now,
            },
        )


def of_run(db: Database, run_id: str) -> list[dict[str, Any]]:
    """Every delivery of one run, oldest first."""
    return db.query(
        "SELECT id, run_id, event, channel, target, state, attempts, error, created, updated"
        " FROM deliveries WHERE run_id = :run_id ORDER BY id",
        {"run_id": run_id},
    )


def recent(
    db: Database, *, run_id: str | None = None, state: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest deliveries, newest first, optionally of one run and/or in one state."""
    return db.query(
        "SELECT id, run_id, event, channel, target, state, attempts, error, created, updated"
        " FROM deliveries WHERE (CAST(:run_id AS TEXT) IS NULL OR run_id = :run_id)"
        " AND (CAST(:state AS TEXT) IS NULL OR state = :state) ORDER BY id DESC LIMIT :limit",
        {"run_id": run_id, "state": state, "limit": limit},
    )


def arm(db: Database, run_id: str, routes: dict[str, Any]) -> None:
    """Keep the channels a run started with in ``runs.notify``, for whoever announces its crash
    (its own process cannot: it is dead) or its gate (from a worker process)."""
    with db.write() as tx:
        tx.execute(
            "UPDATE runs SET notify = :notify WHERE id = :id",
            {"notify": json.dumps(routes, sort_keys=True), "id": run_id},
        )


def run_notice(db: Database, run_id: str) -> dict[str, Any] | None:
    """What a notification about ``run_id`` names: pipeline, state, error, deployment, logical time,
    the channels it started with (``notify``, decoded) and its deployment's (``deployment_notify``)."""
    rows = db.query(
        "SELECT r.id, r.pipeline, r.state, r.error, r.started, r.ended, r.deployment, r.logical_time,"
        " r.timezone, r.notify, d.notify AS deployment_notify, d.sla FROM runs r"
        " LEFT JOIN deployments d ON d.name = r.deployment WHERE r.id = :id",
        {"id": run_id},
    )
    if not rows:
        return None
    row = rows[0]
    for name in ("notify", "deployment_notify"):
        row[name] = json.loads(row[name]) if row[name] else None
    return row


def failed_task(db: Database, run_id: str) -> dict[str, Any] | None:
    """The task whose failure ended the run, or that was running when it died: the last failed
    attempt (``task_key``, ``map_index``, ``attempt``, ``error_type``, ``error_message``)."""
    rows = db.query(
        "SELECT task_key, map_index, attempt, error_type, error_message FROM attempts"
        " WHERE run_id = :id AND state = 'failed' ORDER BY ended DESC, id DESC LIMIT 1",
        {"id": run_id},
    )
    return rows[0] if rows else None


def late_runs(db: Database, now: float) -> list[dict[str, Any]]:
    """Ticks of deployments with an ``sla`` whose run had not finished ``sla`` seconds after its
    logical time (not started, still running, or ended after that), not yet announced ``late``; a
    backfilled tick's time runs from when the backfill queued it.

    Looks back ``LATE_WINDOW`` only, so a pass costs the same after a year of runs.
    """
    # A backfilled tick's logical time is past by design: its time runs from when it was queued.
    return db.query(
        'SELECT t.run_id, t.deployment, t.logical_time, t."trigger", d.sla, d.notify AS deployment_notify,'
        " d.pipeline AS deployment_pipeline, r.pipeline, r.state, r.ended, r.notify, r.timezone"
        " FROM ticks t JOIN deployments d ON d.name = t.deployment"
        " LEFT JOIN runs r ON r.id = t.run_id"
        " WHERE d.sla IS NOT NULL AND t.logical_time >= :since AND (CASE WHEN t.\"trigger\" = 'backfill'"
        " AND t.created > t.logical_time THEN t.created ELSE t.logical_time END) + d.sla <= :now"
        " AND (r.id IS NULL OR r.state IN ('running', 'queued') OR r.ended > (CASE WHEN"
        " t.\"trigger\" = 'backfill' AND t.created > t.logical_time THEN t.created ELSE t.logical_time"
        " END) + d.sla)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.run_id = t.run_id AND x.event = 'late')"
        " ORDER BY t.logical_time",
        {"now": now, "since": now - LATE_WINDOW},
    )
