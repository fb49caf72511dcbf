"""Who a run is: its ``RunInfo``, and the one place a run id is minted.

``RunInfo`` is fixed before a run starts: the API builds it, the runner and each attempt carry
it whole, and the path of every attempt's log file is derived from it here (the runner puts
that path in the attempt's events; the recorder only copies it).

Imports only ``suiro.labels``, so the executors and the store can use it too. Does no I/O
(``RunInfo.log_path`` only joins names).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from suiro.labels import log_name


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """A run's identity and where it records, fixed before it starts.

    Attributes:
        run_id: the run's id.
        parent_run_id: the run this one resumes (None for a first run).
        root_run_id: the first run of the resume chain (None: this run is the first); tasks
            build idempotency keys from it (``TaskContext.task_run_key``).
        target: how to load the pipeline again (``file.py:name``), recorded for resume.
        home: the suiro home the run records into, told to tasks (None: kept in memory).
        db_url: the database the run records into, without its password, told to tasks, so that
            one using the registry uses the run's own on any machine it runs on.
        artifacts: where the run's outputs are stored (a folder or object-store URL), likewise.
        log_dir: the folder of the run's per-attempt log files (None: lines are not written).
        scheduled: the deployment and logical time of a run the scheduler, a backfill, a trigger
            or ``suiro trigger`` started (None: a run started by hand).
    """

    run_id: str
    parent_run_id: str | None = None
    root_run_id: str | None = None
    target: str | None = None
    home: str | None = None
    db_url: str | None = None
    artifacts: str | None = None
    log_dir: str | None = None
    scheduled: Scheduled | None = None

    def log_path(self, task_key: str, map_index: int, attempt: int) -> str | None:
        """Where the lines of one attempt go; None without a log folder or before any attempt."""
        if self.log_dir is None or attempt < 1:
            return None
        return os.path.join(self.log_dir, log_name(task_key, map_index, attempt))


@dataclass(frozen=True, slots=True, kw_only=True)
class Scheduled:
    """Which deployment started a run, for which logical time, covering which data interval.

    Times are epoch seconds (UTC), as every time in the records; ``timezone`` is the
    deployment's IANA zone, in which a task sees them (``suiro.context().logical_time``). The data
    interval is Airflow's: a run fired at a tick covers ``[previous tick, tick)``.

    Attributes:
        deployment: the deployment's name.
        logical_time: the tick the run is for (a manual trigger: the time it was asked).
        interval_start: start of the data interval (None: the tick has no previous tick).
        interval_end: end of the data interval (the tick itself for a schedule).
        trigger: what made the run: ``schedule``, ``backfill``, ``manual``, ``file`` or ``after``.
        timezone: the deployment's time zone.
    """

    deployment: str
    logical_time: float
    interval_start: float | None = None
    interval_end: float | None = None
    trigger: str = "schedule"
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """One run a deployment should get: what decides that (a schedule, a backfill, a file, a
    person) hands these to ``suiro.store.ticks``, which records each at most once.

    Attributes:
        logical_time: the instant the run stands for (epoch seconds); unique per deployment.
        interval_start: start of its data interval (None: none before it).
        interval_end: end of its data interval.
        trigger: ``schedule``, ``backfill``, ``manual``, ``file`` or ``after``.
        event_key: what made it, unique per deployment (``file:/abs/path@mtime_ns``,
            ``after:<run id>``); None for schedule, backfill and manual ticks.
        params: parameter values for this run only (a file trigger's path), above the deployment's.
    """

    logical_time: float
    interval_start: float | None = None
    interval_end: float | None = None
    trigger: str = "schedule"
    event_key: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def new_run_id() -> str:
    """A short, sortable-enough, unique run id: ``YYYYMMDD-HHMMSS-xxxxxx``.

    Six random hex digits, as ``uuid4().hex[:6]`` gave, read from ``os.urandom`` directly: importing
    ``uuid`` (and the ``platform`` module it loads) cost a fresh process ~2 ms on every run. Drawn
    again when this process already minted it in the same second: a backfill starting 1,000 runs
    in one second would otherwise repeat one about once in 30 backfills (the birthday bound of 24
    bits); across processes the records' primary key refuses a repeat.
    """
    global _minted_in
    with _minting:
        stamp = time.strftime("%Y%m%d-%H%M%S-")
        if _minted_in[0] != stamp:
            _minted_in = (stamp, set())
        while (run_id := stamp + os.urandom(3).hex()) in _minted_in[1]:
            pass
        _minted_in[1].add(run_id)
        return run_id


_minting = threading.Lock()
#: The second ``new_run_id`` last minted in, and the ids it minted then.
_minted_in: tuple[str, set[str]] = ("", set())
