"""The notifications suiro gives about runs: a run's routes, its end, its crash, its gate, lateness.

Each function finds what a message names (``suiro.delivery.About``) and the routes it goes to,
then hands both to ``suiro.delivery.deliver``; none raises (a notification never changes a run)
except ``routes_for_run``, which runs before a run starts, so a broken ``SUIRO_NOTIFY_*`` is
one sentence then instead of a silent failure at 2 a.m. The callers: ``suiro.api`` (routes and
end of a run), ``suiro.crashes`` (a verdict the reaper won), the built-in pipeline's ``alert``
task, the scheduler's pass (``check_late``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro import notify
from suiro.delivery import About, Delivery, deliver, message, project
from suiro.errors import StoreError, SuiroError
from suiro.notify import Notify, NotifyError, Routes
from suiro.states import RunState

if TYPE_CHECKING:
    from suiro.results import RunResult
    from suiro.runinfo import Scheduled
    from suiro.store.db import Database
    from suiro.store.reaper import Crash

_log = logging.getLogger("suiro.notify")


def routes_for_run(pipe_notify: Notify | None, scheduled: Scheduled | None, db: Database | None) -> Routes:
    """The routes of a run about to start: its pipeline's, its deployment's and the project's.

    Raises:
        NotifyError: the project's ``SUIRO_NOTIFY_*`` settings cannot work.
    """
    deployment = None
    if scheduled is not None and db is not None:
        from suiro.store import deployments

        try:
            row = deployments.get(db, scheduled.deployment)
            deployment = _parse(row.notify if row else None, scheduled.deployment)
        except StoreError as exc:
            _log.warning("deployment %s: notification settings not read: %s", scheduled.deployment, exc)
    found = notify.routes(pipe_notify, deployment, notify.project_layer(_yaml()[0]))
    if any(r.channel == "email" for r in found.routes):
        from suiro import mail

        try:  # a typo in SUIRO_SMTP_* is said now, not found in a failed delivery at 2 a.m.
            mail.config(_yaml()[1])
        except mail.MailError as exc:
            raise NotifyError(str(exc)) from None
    return found


def _yaml() -> tuple[Any, Any]:
    from suiro.delivery import project_settings

    return project_settings()


def _parse(value: Any, deployment: str | None) -> Notify | None:
    try:
        return Notify.parse(value, where=f"deployment {deployment} notify")
    except SuiroError as exc:
        _log.error("%s", exc)
        return None


def run_ended(
    result: RunResult, *, pipeline: str, routes: Routes, db: Database | None, scheduled: Scheduled | None
) -> list[Delivery]:
    """Notify the end of a run in its own process: ``failed`` (and ``success`` for who asked)."""
    event = {RunState.FAILED: "failed", RunState.SUCCESS: "success"}.get(result.state)
    if event is None or not routes.for_event(event):
        return []
    error = result.error
    text = None
    if error is not None:
        text = (
            f"{error.type.rsplit('.', 1)[-1]}: {error.message}" if error.task and error.type else str(error)
        )
    about = About(
        run_id=result.run_id,
        pipeline=pipeline,
        deployment=scheduled.deployment if scheduled else None,
        logical_time=scheduled.logical_time if scheduled else None,
        timezone=scheduled.timezone if scheduled else None,
        task=error.task if error is not None else None,
        error=text,
    )
    return _safely(lambda: deliver(message(event, about), routes, db=db))


def could_not_start(
    run_id: str, pipeline: str, error: str, *, scheduled: Scheduled, db: Database
) -> list[Delivery]:
    """The ``failed`` notification of a scheduled run that could not start (its pipeline no longer
    loads, a parameter no longer fits), to its deployment's and the project's routes."""

    def send() -> list[Delivery]:
        routes = routes_for_run(None, scheduled, db)
        about = About(
            run_id=run_id,
            pipeline=pipeline,
            deployment=scheduled.deployment,
            logical_time=scheduled.logical_time,
            timezone=scheduled.timezone,
            task=None,
            error=error,
        )
        return deliver(message("failed", about), routes, db=db)

    return _safely(send)


def announce_crash(crash: Crash, db: Database) -> list[Delivery]:
    """The ``crashed`` notification of a verdict the reaper won, to the routes the run started with."""

    def send() -> list[Delivery]:
        from suiro.store import deliveries

        row = deliveries.run_notice(db, crash.run_id) or {}
        routes = notify.routes(
            Routes.from_json(row.get("notify")),
            _parse(row.get("deployment_notify"), row.get("deployment")),
            project(),
        )
        task = deliveries.failed_task(db, crash.run_id)
        about = About(
            run_id=crash.run_id,
            pipeline=crash.pipeline,
            deployment=row.get("deployment"),
            logical_time=row.get("logical_time"),
            timezone=row.get("timezone"),
            task=task["task_key"] if task else None,
        )
        found = message("crashed", about, detail=crash.reason, extra={"reason": crash.reason})
        _log.error("%s", found.text)
        return deliver(found, routes, db=db)

    return _safely(send)


def gate_failed(text: str, details: dict[str, Any], *, webhook: str | None = None) -> list[Delivery]:
    """From inside a task: the built-in pipeline's gate refused the model; tell the run's routes
    (and ``webhook``, the pipeline's own parameter). The task's log has the message either way."""
    from suiro.context import current_context, get_logger

    ctx = current_context()
    get_logger().warning("%s", text)

    def send() -> list[Delivery]:
        from suiro.store import deliveries

        db, row = None, {}
        if ctx is not None and ctx.home is not None:
            from suiro.store.db import Database, database_url

            db = Database.open(database_url(Path(ctx.home)))
            row = deliveries.run_notice(db, ctx.run_id) or {}
        extra = (
            Notify(on=["gate_failed"], webhook=[webhook], where="the webhook parameter") if webhook else None
        )
        routes = notify.routes(Routes.from_json(row.get("notify")), extra, project())
        about = About(
            run_id=ctx.run_id if ctx else "-",
            pipeline=row.get("pipeline") or "training",
            deployment=row.get("deployment"),
            logical_time=row.get("logical_time"),
            timezone=row.get("timezone"),
            task=ctx.task_key if ctx else None,
        )
        return deliver(message("gate_failed", about, detail=text, extra=details), routes, db=db)

    return _safely(send)


def check_late(db: Database, now: float) -> int:
    """Send one ``late`` notification for each scheduled run not finished ``sla`` seconds after its
    logical time (its deployment's ``sla``); how many runs were found late. For the scheduler's pass.

    A late run with nowhere to send is recorded (channel ``log``) and logged, once.
    """
    from suiro.store import deliveries

    count = 0
    for row in _safely(lambda: deliveries.late_runs(db, now)):
        routes = notify.routes(
            Routes.from_json(_json(row["notify"])),
            _parse(_json(row["deployment_notify"]), row["deployment"]),
            project(),
        )
        about = About(
            run_id=row["run_id"],
            pipeline=row["pipeline"] or row["deployment_pipeline"],
            deployment=row["deployment"],
            logical_time=row["logical_time"],
            timezone=row["timezone"],
        )
        state = row["state"] or "not started"
        since = "it was queued by a backfill" if row["trigger"] == "backfill" else "its logical time"
        detail = f"not finished {row['sla']:g} s after {since} (it is {state})"
        found = message("late", about, detail=detail, extra={"sla": row["sla"]})
        sent = _safely(lambda f=found, r=routes: deliver(f, r, db=db))
        if not sent:
            _log.warning("%s", found.text)
            _safely(
                lambda r=row: deliveries.record(
                    db, r["run_id"], "late", "log", "-", state="logged", error=None
                )
            )
        count += 1
    return count


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) and value else value


def _safely(action: Any) -> Any:
    """``action()``, or ``[]`` when it fails: a notification never raises into what it is about."""
    try:
        return action()
    except Exception as exc:  # the run's outcome is what matters; the failure is logged
        _log.error("notification not sent: %s: %s", type(exc).__name__, exc)
        return []
