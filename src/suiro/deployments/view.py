"""Deployments read back: what ``suiro deployments`` and ``suiro schedule preview`` show, and
pausing, resuming and deleting one.

Every function returns plain data (the CLI renders it); reads go through the store's read-only
connection, after the reaper marked dead runs (so a latest run's state is current).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro import clock
from suiro.deployments.declare import next_times, store_for
from suiro.errors import DeploymentError, ScheduleError, did_you_mean
from suiro.store import deployments as rows
from suiro.store.deployments import DeploymentRow
from suiro.wallclock import local_text

if TYPE_CHECKING:
    from suiro.schedules import Schedule

__all__ = [
    "delete",
    "described",
    "describe_trigger",
    "details",
    "fire_time",
    "get",
    "listing",
    "preview",
    "set_paused",
    "summaries",
]


def get(name: str, *, home: str | Path | None = None) -> DeploymentRow:
    """The deployment ``name``.

    Raises:
        DeploymentError: there is none of that name (the closest one is offered).
    """
    return _get(store_for(home).reader, name)


def _get(db: Any, name: str) -> DeploymentRow:
    return rows.require(db, name)


def listing(*, home: str | Path | None = None, count: int = 3) -> list[dict[str, Any]]:
    """Every deployment with its schedule described, next ``count`` fire times and latest run."""
    from suiro import crashes

    store = store_for(home)
    crashes.reap(store.db)  # so a dead run's deployment shows it crashed, not running
    return summaries(store.reader, count=count)


def summaries(db: Any, *, count: int = 3) -> list[dict[str, Any]]:
    """``listing`` on the database ``db`` without reaping first (the web UI's reads never write)."""
    latest = rows.latest_states(db)
    now = clock.now()
    return [_summary(row, now, count, latest.get(row.name)) for row in rows.all_deployments(db)]


def details(name: str, *, home: str | Path | None = None, runs: int = 10) -> dict[str, Any]:
    """One deployment: everything it is (parameters, schedule, triggers, notify) and its latest runs."""
    from suiro import crashes

    store = store_for(home)
    crashes.reap(store.db)
    return described(store.reader, name, runs=runs)


def described(db: Any, name: str, *, runs: int = 10) -> dict[str, Any]:
    """``details`` on the database ``db`` without reaping first (the web UI's reads never write).

    Raises:
        DeploymentError: no such deployment.
    """
    row = _get(db, name)
    last = [
        {**run, "logical": _zoned(run["logical_time"], run["timezone"])}
        for run in rows.last_runs(db, name, runs)
    ]
    found = _summary(row, clock.now(), 5, last[0] if last else None)
    found.update(
        params=row.params,
        catchup=row.catchup,
        max_catchup_runs=row.max_catchup_runs,
        max_active_runs=row.max_active_runs,
        executor=row.executor,
        sla=row.sla,
        notify=row.notify,
        trigger_specs=row.triggers,
        cursor=row.cursor,
        created=row.created,
        updated=row.updated,
        queued=rows.queued_ticks(db, name),
        queued_backfill=rows.queued_ticks(db, name, backfill=True),
        runs=last,
    )
    return found


def set_paused(name: str, paused: bool, *, home: str | Path | None = None) -> DeploymentRow:
    """Pause (no new runs are decided for it; queued ones wait) or resume ``name``.

    Raises:
        DeploymentError: no such deployment.
    """
    store = store_for(home)
    if not rows.set_paused(store.db, name, paused):
        _get(store.reader, name)
    return _get(store.reader, name)


def delete(name: str, *, home: str | Path | None = None) -> DeploymentRow:
    """Delete ``name`` (its runs stay in the record) and return what it was.

    Raises:
        DeploymentError: no such deployment.
    """
    store = store_for(home)
    row = _get(store.reader, name)
    rows.delete(store.db, name)
    return row


def preview(
    what: str, *, count: int = 10, timezone: str | None = None, home: str | Path | None = None
) -> dict[str, Any]:
    """The next ``count`` fire times of a deployment, or of a schedule expression before deploying it.

    Args:
        what: a deployment's name, or an expression (``"0 2 * * *"``, ``"@daily"``, ``"every 6h"``).
        count: how many fire times.
        timezone: the zone an expression is read in (not for a deployment: it has its own).

    Raises:
        DeploymentError: no such deployment and not a valid expression either, a deployment
            without a schedule, or ``count`` below 1.
    """
    from suiro.schedules import Schedule

    if count < 1:
        raise DeploymentError(f"--next must be 1 or more, got {count}; ask for at least one fire time.")
    store = store_for(home)
    row = rows.get(store.reader, what)
    if row is not None:
        if timezone is not None:
            zone = (row.schedule or {}).get("timezone", "UTC")
            raise DeploymentError(
                f"deployment {what} runs in its own zone ({zone}); --tz is for checking an expression "
                "before deploying it."
            )
        if row.schedule is None:
            raise DeploymentError(f"deployment {what} has no schedule; it runs only when triggered.")
        schedule = Schedule.from_json(row.schedule)
    else:
        try:
            schedule = Schedule.parse(what, timezone=timezone)
        except ScheduleError as exc:
            raise _not_found_or(what, exc, rows.names(store.reader)) from None
    now = clock.now()
    times = [fire_time(schedule, t) for t in next_times(schedule, now, count)]
    return {
        "deployment": row.name if row else None,
        "schedule": schedule.describe(),
        "timezone": schedule.timezone,
        "times": times,
    }


def _not_found_or(what: str, exc: ScheduleError, known: list[str]) -> DeploymentError:
    """A word that is no deployment and no schedule is most likely a misspelt deployment."""
    if " " not in what.strip() and not what.startswith("@"):
        return DeploymentError(
            f"no deployment named {what!r}{did_you_mean(what, known)}, and it is not a schedule either; "
            "give a deployment (see `suiro deployments`) or an expression such as '0 2 * * *'.",
            deployment=what,
        )
    return DeploymentError(f"{str(exc).removesuffix('.')}.")


def _summary(row: DeploymentRow, now: float, count: int, last: dict[str, Any] | None) -> dict[str, Any]:
    from suiro.schedules import Schedule

    schedule, problem = None, None
    try:
        schedule = Schedule.from_json(row.schedule) if row.schedule else None
    except ScheduleError as exc:  # e.g. its zone left the tz database since it was deployed
        problem = str(exc)
    described = schedule.describe() if schedule else problem or "none (runs only when triggered)"
    return {
        "name": row.name,
        "pipeline": row.pipeline,
        "target": row.target,
        "schedule": described,
        "timezone": schedule.timezone if schedule else None,
        # A paused deployment fires at none of them (they were listed as if it would)
        "next": [fire_time(schedule, t) for t in next_times(schedule, now, count)]
        if schedule and not row.paused
        else [],
        "paused": row.paused,
        "triggers": [describe_trigger(t) for t in row.triggers],
        "source": row.source,
        "last_run": last,
    }


def fire_time(schedule: Schedule, t: float) -> dict[str, Any]:
    """A fire instant as epoch seconds, in the schedule's zone and in UTC (people check DST so)."""
    return {"at": t, "local": local_text(t, schedule.timezone), "utc": local_text(t, "UTC")}


def _zoned(t: float | None, zone: str | None) -> str | None:
    """A run's logical time in its deployment's zone: ``2026-11-30 02:00 JST``."""
    return None if t is None else local_text(t, zone)


def describe_trigger(spec: Mapping[str, Any]) -> str:
    """``on file /data/in/*.csv (as path)`` or ``after etl succeeds``, for people."""
    if spec.get("kind") == "file":
        return f"on file {spec['pattern']} (as {spec.get('param', 'path')})"
    state = spec.get("state", "success")
    verb = {"success": "succeeds", "finished": "finishes"}.get(state, f"ends {state}")
    return f"after {spec.get('deployment')} {verb}"
