"""Runs asked for by a person: ``suiro trigger`` (one run now) and ``suiro backfill`` (a range).

Both record ticks like the scheduler does (``store.ticks``, so UNIQUE keeps each once) and launch
them through the same compare-and-set claim and child process, so a scheduler running at the
same time can never start one of them a second time. A trigger's parameters are validated
before its tick is queued (a typo is one sentence now, not a failed run later). A backfill is
idempotent (a second one over the same range creates nothing new) and resumable (run it again
and it launches what is still queued, relaunches what died before starting, and waits for
what runs); the scheduler leaves backfill ticks to it, so ``--max-active`` holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from suiro import clock
from suiro.errors import ParameterError, SuiroError
from suiro.wallclock import local_text

if TYPE_CHECKING:
    from suiro.scheduler.launch import Launcher
    from suiro.schedules import Schedule
    from suiro.store.db import Database
    from suiro.store.deployments import DeploymentRow
    from suiro.store.home import Store

#: Run states that end a run.
ENDED = ("success", "failed", "cancelled", "crashed")


def deployment(db: Database, name: str) -> DeploymentRow:
    """The deployment ``name``.

    Raises:
        UnknownDeploymentError: there is none (with the close names, if any).
    """
    from suiro.store import deployments

    return deployments.require(db, name)


def trigger(
    store: Store,
    name: str,
    overrides: Sequence[str] = (),
    *,
    now: float | None = None,
    overrides_from: str = "--set",
) -> str:
    """Queue one run of deployment ``name`` now, with ``--set`` style ``overrides`` (typed in
    ``overrides_from``, for messages); its run id.

    The pipeline is loaded and every parameter resolved and validated first, exactly as the run
    will; nothing is queued if anything is wrong. The overridden values are kept with the tick.

    Raises:
        UnknownDeploymentError: no such deployment.
        PipelineNotFoundError: its pipeline no longer loads.
        ParameterError: an override names an unknown parameter or does not fit it.
    """
    from suiro import api
    from suiro.config import parse_override, resolve_params
    from suiro.runinfo import Tick
    from suiro.store import ticks

    row = deployment(store.db, name)
    pipe = api.load_pipeline(row.target)
    values = resolve_params(
        pipe.params,
        pipeline=pipe.name,
        environ={},  # as the run will resolve them (scheduler.child)
        values=row.params,
        overrides=overrides,
        overrides_from=overrides_from,
    )
    given = {parse_override(item)[0][0] for item in overrides}
    params = {key: values[key] for key in given}
    try:
        json.dumps(params)
    except TypeError as exc:
        raise ParameterError(
            f"deployment {name}: a --set value cannot be kept with a queued run ({exc}); give plain "
            "values (text, numbers, lists, mappings)."
        ) from None
    now = clock.now() if now is None else now
    schedule = _schedule(row)  # its data interval: [the latest tick before now, now)
    start = schedule.interval(now)[0] if schedule is not None else None
    while True:  # two triggers in the same microsecond: the second one a microsecond later
        tick = Tick(logical_time=now, interval_start=start, interval_end=now, trigger="manual", params=params)
        made = ticks.create(store.db, name, [tick], now=now)
        if made:
            return made[0]
        now += 1e-6


def why_waiting(store: Store, name: str, *, now: float | None = None) -> str | None:
    """Why a run queued for ``name`` would not start soon: the deployment is paused, or no
    scheduler holds a live lease; None when a scheduler will pick it up within a second or so."""
    from suiro.store import leases

    if deployment(store.db, name).paused:
        return f"deployment {name} is paused: the run waits until it is resumed"
    lease = leases.current(store.db)
    if lease is None or lease.expires < (clock.now() if now is None else now):
        return "no scheduler is running: the run waits until one starts (suiro scheduler)"
    return None


def run_now(store: Store, run_id: str) -> bool:
    """Run the queued tick ``run_id`` in this process (``suiro trigger --wait``); whether it succeeded.

    Claimed like any launch, so a scheduler cannot start it too.

    Raises:
        SuiroError: it was launched already by someone else, or could not start.
    """
    from suiro.scheduler.child import run_claimed
    from suiro.store import ticks

    if not ticks.claim(store.db, run_id, pid=os.getpid(), now=clock.now()):
        raise SuiroError(
            f"run {run_id} was launched by a scheduler already; follow it with: suiro show {run_id}"
        )
    return run_claimed(store, run_id) == 0


def _schedule(row: DeploymentRow) -> Schedule | None:
    from suiro.schedules import Schedule

    return Schedule.from_json(row.schedule) if row.schedule is not None else None


# -- backfill ------------------------------------------------------------------------------------


@dataclass
class Backfill:
    """A backfill's ticks and where they are: counts by outcome, run ids that did not succeed."""

    name: str
    start: float
    end: float
    total: int = 0
    created: int = 0
    succeeded: int = 0
    #: (run id, state, logical time as text) of each tick whose run did not succeed.
    unsuccessful: list[tuple[str, str, str]] = field(default_factory=list)
    #: When the range asked for ended in the future: the time it was cut at (ticks after it are
    #: left to the schedule).
    cut_at: float | None = None

    @property
    def ended(self) -> int:
        return self.succeeded + len(self.unsuccessful)


def plan_backfill(store: Store, name: str, start: Any, end: Any, *, now: float | None = None) -> Backfill:
    """Record one tick (trigger ``backfill``) per schedule tick of ``name`` in ``[start, end]``.

    ``start``/``end``: epoch seconds, datetimes or ISO text (naive ones in the schedule's zone); an
    end given as a date alone (``2026-11-07``) includes that whole day.
    Idempotent: ticks the deployment has already (a backfill before, the schedule itself) are
    not created again. One transaction for all of them.

    Raises:
        UnknownDeploymentError: no such deployment.
        ScheduleError: ``start``/``end`` are not times, or ``start`` is after ``end``; or the
            deployment has no schedule to backfill.
    """
    from suiro.errors import ScheduleError
    from suiro.schedules import to_epoch
    from suiro.store import ticks

    row = deployment(store.db, name)
    schedule = _schedule(row)
    if schedule is None:
        raise ScheduleError(
            f"deployment {name} has no schedule, so it has no ticks to backfill; give it a cron or an "
            "interval (suiro deploy ... --cron), or start single runs with suiro trigger."
        )
    first = to_epoch(start, schedule.timezone, "backfill --start")
    last = to_epoch(_day_after(end) or end, schedule.timezone, "backfill --end")
    if _day_after(end) is not None:
        last -= 1e-6  # a day's date as the end: that whole day, as Airflow's backfill -e
    if first > last:
        raise ScheduleError(f"backfill of {name}: --start is after --end; give the earlier time first.")
    moment = clock.now() if now is None else now
    if first > moment:
        raise ScheduleError(
            f"backfill of {name}: --start {start} is in the future; a backfill runs ticks that are due, "
            "and the schedule runs later ones when their time comes: give a start in the past."
        )
    # A tick stands for the interval ending at it: one after now would process data that does not
    # exist yet, and the scheduler, finding it done, would never run it in its time.
    cut = last > moment
    wanted = list(schedule.tick_range(first - 1e-6, min(last, moment), trigger="backfill"))
    made = ticks.create(store.db, name, wanted, now=moment)
    return Backfill(
        name=name,
        start=first,
        end=min(last, moment),
        total=len(wanted),
        created=len(made),
        cut_at=moment if cut else None,
    )


def _day_after(end: Any) -> str | None:
    """The next day's date when ``end`` is a date alone (text ``YYYY-MM-DD`` or a ``date``), else None."""
    import datetime as dt

    if isinstance(end, str) and len(end.strip()) == 10:
        try:
            end = dt.date.fromisoformat(end.strip())
        except ValueError:
            return None
    if isinstance(end, dt.date) and not isinstance(end, dt.datetime):
        return (end + dt.timedelta(days=1)).isoformat()
    return None


def run_backfill(
    store: Store,
    plan: Backfill,
    *,
    max_active: int = 2,
    on_progress: Callable[[Backfill], None] | None = None,
    every: float = 0.5,
) -> Backfill:
    """Launch the backfill's queued ticks, at most ``max_active`` at once, until every tick in its
    range has ended; return the final counts (runs that did not succeed are listed).

    A tick launched by a process that died before its run started is relaunched; a run left
    ``running`` by a dead process is reaped. Interrupting this (Ctrl-C) leaves started runs to
    finish; running the backfill again resumes it.
    """
    from suiro.scheduler.launch import Launcher

    launcher = Launcher(store.home)
    try:
        return _drive(store, plan, launcher, max_active=max_active, on_progress=on_progress, every=every)
    finally:
        launcher.close()


def _drive(
    store: Store,
    plan: Backfill,
    launcher: Launcher,
    *,
    max_active: int,
    on_progress: Callable[[Backfill], None] | None,
    every: float,
) -> Backfill:
    from suiro import crashes
    from suiro.store import ticks

    children: dict[str, subprocess.Popen[bytes]] = {}
    while True:
        children = {run_id: proc for run_id, proc in children.items() if proc.poll() is None}
        crashes.reap(store.db)
        rows = ticks.between(store.db, plan.name, plan.start, plan.end)
        _count(plan, rows)
        if on_progress is not None:
            on_progress(plan)
        waiting = [r for r in rows if r["state"] == "queued"]
        if not waiting and all(_has_ended(r) for r in rows):
            return plan
        now = clock.now()
        for orphan in ticks.orphans(store.db):
            ours = orphan.deployment == plan.name and plan.start <= orphan.logical_time <= plan.end
            if ours and ticks.relaunch(store.db, orphan, pid=os.getpid(), now=now):
                children[orphan.run_id] = launcher.launch(orphan.run_id, launcher=os.getpid())
        for row in waiting:
            if len(children) >= max_active:
                break
            if ticks.claim(store.db, row["run_id"], pid=os.getpid(), now=now):
                children[row["run_id"]] = launcher.launch(row["run_id"], launcher=os.getpid())
        time.sleep(every)


def _has_ended(row: dict[str, Any]) -> bool:
    return row["state"] in ("done", "failed") or row["run_state"] in ENDED


def _count(plan: Backfill, rows: list[dict[str, Any]]) -> None:
    """Counts by outcome: a tick whose run failed but was resumed to success has succeeded (it
    said "failed" for ever, and a rerun of the backfill exited 1)."""
    plan.total = len(rows)
    plan.succeeded = sum(1 for r in rows if r["run_state"] == "success" or r["resumed"])
    plan.unsuccessful = [
        (r["run_id"], r["run_state"] or "could not start", local_text(r["logical_time"], r["timezone"]))
        for r in rows
        if _has_ended(r) and r["run_state"] != "success" and not r["resumed"]
    ]
