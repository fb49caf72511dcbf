"""Triggers on deployments: a new file, or another deployment's finished run, starts a run.

``on_file(pattern, param="path")`` and ``after(deployment, state="success")`` declare them (in
Python; ``suiro.yaml`` writes the same as ``{on_file: ..., param: ...}`` / ``{after: ...,
state: ...}``). ``scan`` is what the scheduler calls for each deployment on every pass: it reads
the files and the record and returns one ``Tick`` per event not yet recorded. It only reads; the
scheduler records the ticks, and ``UNIQUE (deployment, event_key)`` makes each event one run,
also across scheduler restarts and when two passes see the same file.

- A file trigger's event is ``file:<absolute path>@<mtime_ns>``: each new matching file is one
  run, with its path as parameter ``param``; a file written again (a new modification time) is new
  data and one run more. Write a file elsewhere and move it in (a rename is atomic), or a run may
  start on a half-written file. The run's logical time is when the scheduler saw the file.
- An after trigger's event is ``after:<upstream run id>``: each run of the upstream deployment that
  ends in ``state`` (``success``, ``failed``, ``crashed``, ``cancelled``, or ``finished`` for any)
  *after this deployment was first deployed* is one run; the downstream run gets the upstream
  run's logical time and data interval, so a nightly chain processes the same day's data.

A logical time is unique per deployment: a trigger's tick never takes one that is already
recorded, or that is a fire instant of the deployment's own schedule; it moves on by microseconds.

Must not write, start runs or import the scheduler.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from suiro.project import AFTER_STATES, AfterTrigger, FileTrigger
from suiro.runinfo import Tick
from suiro.store import deployments as rows
from suiro.store.db import Database
from suiro.store.deployments import DeploymentRow

__all__ = ["AFTER_STATES", "after", "on_file", "scan"]

#: How far (seconds) a trigger's logical time may move on to find one not taken.
_STEP = 1e-6


def on_file(pattern: str, param: str = "path") -> FileTrigger:
    """Start one run per new file matching the glob ``pattern`` (``**`` for sub-folders), its
    absolute path given as parameter ``param``; a relative pattern starts at the deploying folder."""
    return FileTrigger(on_file=pattern, param=param)


def after(deployment: str, state: str = "success") -> AfterTrigger:
    """Start a run each time a run of ``deployment`` ends in ``state`` (``finished``: any end)."""
    return AfterTrigger(after=deployment, state=state)


def scan(db: Database, row: DeploymentRow, now: float) -> list[Tick]:
    """The runs ``row``'s triggers ask for that are not recorded yet: one ``Tick`` per event.

    Costs nothing (no read at all) for a deployment without triggers.

    Args:
        db: the database, read only.
        row: the deployment.
        now: the current instant (epoch seconds, from ``suiro.clock``).
    """
    if not row.triggers:
        return []
    times = _Times(db, row)
    found: list[Tick] = []
    for spec in row.triggers:
        if spec.get("kind") == "file":
            found += _files(db, row, spec, now, times)
        elif spec.get("kind") == "after":
            found += _after(db, row, spec, times)
    return found


def _files(db: Database, row: DeploymentRow, spec: dict[str, Any], now: float, times: _Times) -> list[Tick]:
    seen = rows.event_keys(db, row.name, "file:")
    found = []
    for path in sorted(glob.glob(spec["pattern"], recursive=True)):
        try:
            stat = os.stat(path)
        except OSError:  # gone since the listing
            continue
        if not os.path.isfile(path):
            continue
        full = os.path.abspath(path)
        key = f"file:{full}@{stat.st_mtime_ns}"
        if key in seen:
            continue
        at = times.free(now)
        found.append(
            Tick(
                logical_time=at,
                interval_end=at,
                trigger="file",
                event_key=key,
                params={spec.get("param", "path"): full},
            )
        )
    return found


def _after(db: Database, row: DeploymentRow, spec: dict[str, Any], times: _Times) -> list[Tick]:
    seen = rows.event_keys(db, row.name, "after:")
    state = spec.get("state", "success")
    ended = rows.ended_runs(
        db, spec["deployment"], None if state == "finished" else state, row.created or 0.0
    )
    found = []
    for run in ended:
        key = f"after:{run['id']}"
        if key in seen:
            continue
        at = times.free(run["logical_time"] if run["logical_time"] is not None else run["ended"])
        end = run["interval_end"] if run["interval_end"] is not None else at
        found.append(
            Tick(
                logical_time=at,
                interval_start=run["interval_start"],
                interval_end=end,
                trigger="after",
                event_key=key,
            )
        )
    return found


class _Times:
    """Logical times of one deployment already taken: recorded, given in this scan, or a schedule's."""

    def __init__(self, db: Database, row: DeploymentRow):
        self._db, self._name = db, row.name
        self._taken: set[float] = set()
        self._looked: set[float] = set()  # the instants whose neighbourhood was read
        self._schedule = None
        if row.schedule:
            from suiro.errors import ScheduleError
            from suiro.schedules import Schedule

            try:
                self._schedule = Schedule.from_json(row.schedule)
            except ScheduleError:  # e.g. its zone left the tz database: it cannot fire, nor collide
                self._schedule = None

    def free(self, t: float) -> float:
        """``t``, or the first instant after it (by microsteps) that is neither taken nor a fire instant."""
        if t not in self._looked:
            self._looked.add(t)
            self._taken |= rows.taken_times(self._db, self._name, t, t + 1.0)
        while t in self._taken or (self._schedule is not None and self._schedule.previous(t) == t):
            t += _STEP
        self._taken.add(t)
        return t
