"""Sending notifications: once each, bounded in time, retried with backoff, recorded (R16, G8).

Who sends what: the run's own process when the run ends (``run_ended``: ``failed``, or
``success`` for those who asked), whoever reaps a dead run (``announce_crash``: ``crashed``; its
process cannot), the built-in pipeline's gate from its task (``gate_failed``), the scheduler's
pass (``check_late``: ``late``). Each goes to the run's routes (``suiro.notify.routes``: pipeline,
deployment and project layers; the ones a run started with are kept in ``runs.notify`` for the
senders in other processes).

What a delivery promises: a (run, event, channel, target) is claimed in ``deliveries`` before
anything is sent, so it goes out at most once whoever tries; every address is tried in its own
thread, retried with exponential backoff, and all of it ends within the routes' ``timeout`` (each
network wait is bounded by what is left); the outcome (sent, or failed with why) is recorded and
shown by ``suiro show RUN`` and ``suiro notifications``. Nothing here raises to its caller and
nothing changes a run's record: a notification is about a run, never part of it. Messages and
rows are masked: no secret appears in either.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from suiro import clock, mail, notify
from suiro.errors import StoreError, SuiroError
from suiro.notify import Notify, Route, Routes
from suiro.secrets import mask, mask_values

if TYPE_CHECKING:
    from suiro.store.db import Database

_log = logging.getLogger("suiro.notify")
#: Real seconds a run's end waits past the timeout for a sending thread to give up by itself.
_SLACK = 1.0


@dataclass(frozen=True)
class Message:
    """One notification, in the forms its channels need: a subject and body (e-mail), a line
    and details (webhook JSON)."""

    event: str
    run_id: str
    subject: str
    body: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)
    level: str = "error"

    @property
    def key(self) -> str:
        """The webhook's ``Idempotency-Key``: the same on every retry and every sender."""
        return f"suiro-run-{self.run_id}-{self.event}"


@dataclass(frozen=True)
class Delivery:
    """How the delivery of one message to one address ended."""

    channel: str
    target: str
    state: str  # sent, failed, or skipped (delivered or claimed before)
    attempts: int = 0
    error: str | None = None


class _PermanentError(Exception):
    """Retrying cannot help (a refused recipient, a 4xx answer, no SMTP settings)."""


# -- settings seams: the project's suiro.yaml is wired here at merge (part B owns its parsing) --


#: ``suiro.project.FILENAME``, looked for before that module is imported.
PROJECT_FILE = "suiro.yaml"


def project_settings() -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """suiro.yaml's ``notify:`` and ``smtp:`` mappings of the current project (None: none).

    Read where the run is (the scheduler's working directory for a scheduled run). Most runs have
    no project file: they are told so without importing the project module (pydantic, YAML).
    """
    if not os.path.isfile(PROJECT_FILE):
        return None, None
    from suiro import project

    return project.settings()


def project() -> Notify | None:
    try:
        return notify.project_layer(project_settings()[0])
    except SuiroError as exc:
        _log.error("project notification settings ignored: %s", exc)
        return None


# -- sending -------------------------------------------------------------------------------


def deliver(message: Message, routes: Routes, *, db: Database | None = None) -> list[Delivery]:
    """Send ``message`` to every route that wants its event, at most once each; never raises.

    Returns within ``routes.timeout`` seconds (plus a second's slack), however the addresses
    behave; each outcome is recorded in ``db`` (None: sent without a record or deduplication).
    """
    wanted = routes.for_event(message.event)
    if not wanted:
        return []
    outcomes: dict[Route, Delivery] = {}
    claimed = [r for r in wanted if _claim(db, message, r, outcomes)]
    if not claimed:
        return list(outcomes.values())
    smtp = _smtp() if any(r.channel == "email" for r in claimed) else None
    deadline = clock.get().monotonic() + routes.timeout
    results: dict[Route, tuple[str, int, str | None]] = {}
    threads = []
    for route in claimed:
        thread = threading.Thread(
            target=lambda r=route: results.__setitem__(r, _send(r, message, routes, deadline, smtp)),
            name=f"suiro-notify-{route.channel}",
            daemon=True,  # a server that never answers cannot keep the process alive
        )
        thread.start()
        threads.append(thread)
    give_up = time.monotonic() + routes.timeout + _SLACK
    for thread in threads:
        thread.join(max(0.0, give_up - time.monotonic()))
    for route in claimed:
        state, attempts, error = results.get(
            route, ("failed", 0, f"no answer within the timeout of {routes.timeout:g} s")
        )
        outcomes[route] = Delivery(route.channel, route.target, state, attempts, error and mask(error))
        _finish(db, message, outcomes[route])
    return [outcomes[r] for r in wanted if r in outcomes]


def _claim(db: Database | None, message: Message, route: Route, outcomes: dict[Route, Delivery]) -> bool:
    from suiro.store import deliveries

    if db is None:
        return True
    try:
        if deliveries.claim(db, message.run_id, message.event, route.channel, route.target):
            return True
    except StoreError as exc:  # a read-only or full home: send anyway, unrecorded
        _log.warning(
            "notification %s of run %s sent without a record: %s", message.event, message.run_id, exc
        )
        return True
    outcomes[route] = Delivery(route.channel, route.target, "skipped")
    return False


def _finish(db: Database | None, message: Message, outcome: Delivery) -> None:
    from suiro.store import deliveries

    what = f"the {message.event!r} notification of run {message.run_id} to {outcome.channel} {outcome.target}"
    if outcome.state == "sent":
        _log.info("%s sent", what)
    else:
        _log.warning("%s failed after %d attempt(s): %s", what, outcome.attempts, outcome.error)
    if db is None:
        return
    try:
        deliveries.finish(
            db,
            message.run_id,
            message.event,
            outcome.channel,
            outcome.target,
            state=outcome.state,
            attempts=outcome.attempts,
            error=outcome.error,
        )
    except StoreError as exc:
        _log.warning("%s: outcome not recorded: %s", what, exc)


def _smtp() -> mail.SmtpConfig | Exception | None:
    try:
        return mail.config(project_settings()[1])
    except SuiroError as exc:
        return exc


def _send(
    route: Route, message: Message, routes: Routes, deadline: float, smtp: Any
) -> tuple[str, int, str | None]:
    """Try one address until it takes the message, refuses it for good, or time is up."""
    clk = clock.get()
    attempts, last = 0, "not tried"
    while True:
        left = deadline - clk.monotonic()
        if left <= 0:
            return "failed", attempts, f"gave up at the timeout of {routes.timeout:g} s: {last}"
        attempts += 1
        try:
            _send_once(route, message, min(left, routes.timeout), smtp)
            return "sent", attempts, None
        except _PermanentError as exc:
            return "failed", attempts, str(exc)
        except Exception as exc:  # a transient failure: retried while budget and time allow
            last = str(exc) or type(exc).__name__
        if attempts > routes.retries:
            return "failed", attempts, last
        delay = routes.retry_delay * 2 ** (attempts - 1)
        if delay >= deadline - clk.monotonic():
            return "failed", attempts, f"{last} (no time left for a retry within {routes.timeout:g} s)"
        clk.sleep(delay)


def _send_once(route: Route, message: Message, timeout: float, smtp: Any) -> None:
    try:
        address = notify.resolve(route.address)
    except SuiroError as exc:
        raise _PermanentError(str(exc)) from None
    if route.channel == "email":
        if isinstance(smtp, Exception):
            raise _PermanentError(str(smtp))
        if smtp is None:
            raise _PermanentError("no SMTP server is set; set SUIRO_SMTP_HOST (or smtp: in suiro.yaml)")
        try:
            mail.send(smtp, address, message.subject, message.body, timeout=timeout)
        except mail.MailError as exc:
            raise (_PermanentError(str(exc)) if exc.permanent else exc) from None
        return
    from suiro.alerts import post_json

    payload = {"text": mask(message.text), "suiro": {"level": message.level, **mask_values(message.details)}}
    status, why = post_json(address, payload, key=message.key, timeout=timeout)
    if status is not None and status < 300:
        return
    if status is not None and 400 <= status < 500 and status != 429:
        raise _PermanentError(why)
    raise ConnectionError(why)


# -- what is said ----------------------------------------------------------------------------

_HEADLINES = {
    "failed": "failed",
    "crashed": "crashed",
    "gate_failed": "did not pass its quality gate",
    "late": "is late",
    "success": "succeeded",
}


@dataclass(frozen=True, kw_only=True)
class About:
    """The run a message is about: what every message names."""

    run_id: str
    pipeline: str
    deployment: str | None = None
    logical_time: float | None = None
    timezone: str | None = None
    task: str | None = None
    error: str | None = None


def message(
    event: str, about: About, *, detail: str | None = None, extra: Mapping[str, Any] | None = None
) -> Message:
    """The message of ``event`` about a run: pipeline, deployment, run id, the failed task, the
    error's first line and the exact ``suiro logs`` command; ``detail`` replaces the error line
    (a crash's reason, a gate's reasons, how late)."""
    run, error = about.run_id, notify.first_line(detail or about.error)
    logs = notify.logs_command(run, about.task)
    who = f"{about.deployment} ({about.pipeline})" if about.deployment else about.pipeline
    headline = f"suiro run {run} of {who} {_HEADLINES[event]}"
    text = f"{headline}: {error}" if error else headline
    text += f"; resume it with: suiro resume {run}" if event == "crashed" else f"; logs: {logs}"
    details = {
        "event": event,
        "run_id": run,
        "pipeline": about.pipeline,
        "deployment": about.deployment,
        "state": "crashed" if event == "crashed" else "failed" if event == "failed" else event,
        "task": about.task,
        "error": error,
        "logs": logs,
        **(extra or {}),
    }
    level = "info" if event == "success" else "warning" if event in ("gate_failed", "late") else "error"
    subject = f"[suiro] run {run} of {who} {_HEADLINES[event]}"
    body = mask("\n".join(_body(event, about, headline, error, logs))) + "\n"
    return Message(event, run, subject, body, text, details, level)


def _body(event: str, about: About, headline: str, error: str | None, logs: str) -> list[str]:
    """The e-mail's lines: one fact a line, aligned, so a phone shows them as a table."""
    lines = [
        headline + ".",
        "",
        f"pipeline:    {about.pipeline}",
        f"deployment:  {_deployment(about)}",
        f"run:         {about.run_id}",
    ]
    if about.task:
        lines.append(f"{'failed task:' if event in ('failed', 'crashed') else 'task:':<13}{about.task}")
    if error:
        lines.append(f"{'error:' if event == 'failed' else 'reason:':<13}{error}")
    lines.append(f"logs:        {logs}")
    if event in ("failed", "crashed"):
        lines.append(f"resume:      suiro resume {about.run_id}")
    return lines


def _deployment(about: About) -> str:
    if not about.deployment:
        return "none (started by hand)"
    if about.logical_time is None:
        return about.deployment
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(about.timezone or "UTC")
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo("UTC")
    when = datetime.fromtimestamp(about.logical_time, zone).isoformat(sep=" ", timespec="minutes")
    return f"{about.deployment} (logical time {when} {zone.key})"
