"""The crash reaper: finds ``running`` runs whose process died and records them ``crashed``.

A run's process cannot record its own death (SIGKILL, power loss, ``os._exit``), so whoever
looks next does: a run whose pid is gone (on this host) or whose heartbeat stopped is marked
``crashed`` with a compare-and-set on ``state = 'running'``, so a live run is never overwritten
and of two reapers exactly one wins each verdict. ``reap`` returns the verdicts it won; the
caller that reaps (``suiro runs``/``show`` before printing, ``resume``, gc, later the scheduler)
sends the crash alert for each (G8), so the alert goes out once, from the winner.

Reads ``/proc`` to tell a live process from a dead or stopped one. Sends nothing, imports no
alerting: reads of the record (``queries``) never reap.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suiro import clock
from suiro.errors import StoreError, WorkerCrashedError
from suiro.labels import task_label, type_name
from suiro.store import cache_index
from suiro.store.db import Database, this_host

#: A running run whose heartbeat is older than this is taken as dead.
STALE_AFTER = 60.0
_CRASHED = "the run's process died while this attempt was running (the run crashed); resume it to rerun"
#: Executors that run a task in the runner's own process (unless it has a timeout).
_IN_PROCESS = ("sequential", "threads")
#: Running attempts named in a crash verdict; more are counted.
_NAMED = 5


@dataclass(frozen=True, slots=True)
class Crash:
    """A verdict this reaper recorded: run ``run_id`` of ``pipeline`` crashed, for ``reason``."""

    run_id: str
    pipeline: str
    reason: str


def reap(db: Database, *, now: float | None = None, quiet: bool = False) -> list[Crash]:
    """Mark ``crashed`` every running run whose process is gone; return the verdicts this call won.

    Each verdict is a compare-and-set, so of two readers reaping at once exactly one wins it,
    and only the winner's list holds it: announce what is returned, nothing else. A verdict
    that cannot be written (disk full, read-only home) is logged (``quiet``: not, for a caller
    whose own write is about to say so) and left for a later reaper.
    """
    now = now or clock.now()
    won = []
    for run in db.query(
        "SELECT id, pipeline, host, pid, heartbeat, started, executor FROM runs WHERE state = 'running'"
    ):
        why = death_of(run, now)
        if why is None:
            continue
        why = _while_running(db, run, why)  # the process is gone: nothing changes these rows now
        try:
            recorded = _record_crash(db, run, why)
        except StoreError as exc:
            logging.getLogger("suiro.reaper").log(
                logging.DEBUG if quiet else logging.WARNING,
                "run %s looks dead but was left as is: %s",
                run["id"],
                exc,
            )
            continue
        if recorded:
            won.append(Crash(run["id"], run["pipeline"], why))
    return won


def _record_crash(db: Database, run: dict[str, Any], why: str) -> bool:
    """Compare-and-set ``running`` -> ``crashed`` for the run and its unfinished tasks; whether it won."""
    beat = run["heartbeat"] or run["started"]
    params = {"id": run["id"], "ended": beat, "type": type_name(WorkerCrashedError), "message": _CRASHED}
    with db.write() as tx:
        won = tx.execute(
            "UPDATE runs SET state = 'crashed', ended = :ended, error = :why"
            " WHERE id = :id AND state = 'running'",
            {**params, "why": why},
        )
        if not won:
            return False
        fail_unfinished(tx, params)
        # Its recorder died with the entries it had not listed yet: list them all, so a rerun's
        # cache finds everything the run finished.
        cache_index.list_run(tx, run["id"])
    return True


def fail_unfinished(tx: Any, params: dict[str, Any]) -> None:
    """End a run's task runs and attempts left open (its process died, or a forced stop):
    they fail with ``params["type"]`` and ``params["message"]`` at ``params["ended"]``, so
    ``suiro resume`` runs them again. Inside the caller's write transaction."""
    tx.execute(
        "UPDATE task_runs SET state = 'failed', ended = :ended WHERE run_id = :id"
        " AND state IN ('running', 'retrying')",
        params,
    )
    tx.execute(
        "UPDATE attempts SET state = 'failed', ended = :ended, error_type = :type,"
        " error_message = :message WHERE run_id = :id AND state = 'running'",
        params,
    )


def _while_running(db: Database, run: dict[str, Any], why: str) -> str:
    """``why`` completed with the attempts recorded as running when the process died.

    On the sequential and threads executors such a task ran inside the runner's process, so it
    may have ended it itself (``os._exit``, a crash in native code) — or something else killed the
    process: the verdict says how to keep the run alive if it was the task, without claiming it was.
    It stays short enough for an alert's one line (``notify.first_line``, 300 characters).
    Records are group-committed, so an attempt that ended the process within moments of starting
    may not be recorded as running; then the verdict says that.
    """
    running = db.query(
        "SELECT task_key, map_index, attempt FROM attempts WHERE run_id = :id AND state = 'running'"
        " ORDER BY id",
        {"id": run["id"]},
    )
    if not running:
        return f"{why}; no task was recorded as running at that moment"
    names = [
        f"{task_label(r['task_key'], r['map_index'])} (attempt {r['attempt']})" for r in running[:_NAMED]
    ]
    if len(running) > _NAMED:
        names.append(f"{len(running) - _NAMED} more")
    task = "task " + names[0] if len(names) == 1 else "tasks " + ", ".join(names)
    verb = "was" if len(names) == 1 else "were"
    why = f"{why} while {task} {verb} running"
    if run["executor"] in _IN_PROCESS:
        which = "that task" if len(running) == 1 else "one of them"
        why += (
            f"; if {which} ended the process itself (os._exit, a crash in native code), give it a timeout="
            f" or use --executor processes: on the {run['executor']} executor it runs inside the runner"
        )
    return why


def death_of(run: dict[str, Any], now: float) -> str | None:
    """Why a ``running`` run's process is dead, or None while it may be alive.

    On this host the process decides: gone, or stopped (SIGSTOP, Ctrl-Z) with no heartbeat
    for ``STALE_AFTER`` — a live, running process keeps its run even when a task holds
    the interpreter so long that the heartbeat lags. For a run on another host, the
    heartbeat alone. A process declared dead that comes back is fenced (see the recorder).
    """
    alive = owner_alive(run)
    if alive is False:
        return f"its process {run['pid']} is gone"
    beat = run["heartbeat"] or run["started"]
    if now - beat <= STALE_AFTER:
        return None
    if alive is None:
        return f"no heartbeat for {now - beat:.0f} s"
    if _process_stopped(run["pid"]):
        return f"its process {run['pid']} is stopped and sent no heartbeat for {now - beat:.0f} s"
    return None


def owner_alive(run: dict[str, Any]) -> bool | None:
    """Whether the process that runs ``run`` is alive: None when it cannot be told from here.

    A pid alive but started after the run began belongs to another process (pid reuse).
    """
    if run["host"] != this_host() or run["pid"] is None:
        return None
    if not _pid_alive(run["pid"]):
        return False
    started = _process_start(run["pid"])
    return started is None or started <= run["started"] + 1.0


def _process_stopped(pid: int) -> bool:
    """Whether a process is stopped by a signal or a tracer (state T or t in /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("T", "t")


def _process_start(pid: int) -> float | None:
    """When a process started (epoch seconds), from /proc; None where /proc is missing."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        stat = Path("/proc/stat").read_text().splitlines()
        boot = next(int(line.split()[1]) for line in stat if line.startswith("btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
