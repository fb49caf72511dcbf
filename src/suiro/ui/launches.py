"""Runs started from the web UI: a deployment's run, a pipeline's run, a re-run, a resume.

The UI must make a run happen whether or not a scheduler is running. A deployment's run is
queued as ``suiro trigger`` queues it (``scheduler.manual.trigger``: parameters validated
first, one tick); then, if a scheduler holds the lease, the scheduler starts it (within its
``max_active_runs``); if none does, the UI claims the tick (compare-and-set, so a scheduler that
starts meanwhile cannot run it too) and starts it in a child process exactly as a scheduler
would (``scheduler.launch``); a paused deployment's run waits until it is resumed. A pipeline's
run, a re-run and a resume get a run id chosen here and run in a child process
(``python -m suiro.ui.child``), so the run's page can be shown at once and follow it live.

Children run in sessions of their own: stopping the UI leaves them to finish. The UI keeps
their handles to collect them when they exit (no zombies) and to tell, on a run's page, a run
still starting from one that could not start (the last lines of its output, kept in
``<home>/logs/<run id>/``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro import clock

if TYPE_CHECKING:
    from suiro.registry import Registry

#: The file, in a run's log folder, that receives the output of the UI's child process.
OUTPUT = "ui-child.log"
#: A run's page shows this many last lines of the output of a child that could not start it.
TAIL = 5
#: Exited children remembered (so a run that could not start still says why on its page).
KEEP = 100

_children: dict[str, subprocess.Popen[bytes]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Started:
    """A run asked for: its id, and why it does not start at once (None: it is starting)."""

    run_id: str
    waiting: str | None = None


def trigger_deployment(
    registry: Registry, name: str, overrides: list[str], *, overrides_from: str = "the form"
) -> Started:
    """Queue a run of deployment ``name`` with ``--set`` style ``overrides`` (typed in
    ``overrides_from``, as messages name it); start it here when no scheduler runs (see the
    module docstring).

    Raises:
        UnknownDeploymentError, PipelineNotFoundError, ParameterError: as ``suiro trigger``.
    """
    from suiro.scheduler import manual
    from suiro.scheduler.launch import launch
    from suiro.store import ticks

    store = registry.store
    run_id = manual.trigger(store, name, overrides, overrides_from=overrides_from)
    if manual.deployment(store.db, name).paused:
        return Started(run_id, f"deployment {name} is paused: the run waits until it is resumed")
    if manual.why_waiting(store, name) is None:
        return Started(run_id, "queued: the scheduler starts it")
    if ticks.claim(store.db, run_id, pid=os.getpid(), now=clock.now()):
        _keep(run_id, launch(store.home, run_id, launcher=os.getpid()))
    return Started(run_id)


def run_pipeline(
    registry: Registry,
    target: str,
    *,
    params: dict[str, Any],
    overrides: list[str],
    executor: str | None = None,
) -> Started:
    """Run the pipeline ``target`` in a child process (values validated by the caller first)."""
    from suiro.runinfo import new_run_id

    run_id = new_run_id()
    spec = {
        "run_id": run_id,
        "target": target,
        "params": params,
        "overrides": overrides,
        "executor": executor,
    }
    _start(registry, run_id, spec)
    return Started(run_id)


def resume(registry: Registry, run_id: str) -> Started:
    """Resume the failed, crashed or cancelled run ``run_id`` in a child process, as a new run.

    Raises:
        RunNotFoundError, ResumeConflictError, SuiroError: as ``suiro resume`` (checked here first).
    """
    from suiro import api
    from suiro.runinfo import new_run_id

    run = api.run_to_resume(run_id, store=registry.store)
    new = new_run_id()
    _start(registry, new, {"run_id": new, "resume": run["id"]})
    return Started(new)


def status(registry: Registry, run_id: str) -> dict[str, Any] | None:
    """What a run that has no record yet is doing: ``{"state": "queued"|"starting"|"could not start",
    "note": ...}``; None when nothing is known of it (no child of ours, no tick)."""
    from suiro.scheduler import manual
    from suiro.store import ticks

    with _lock:
        child = _children.get(run_id)
    if child is not None:
        if child.poll() is None:
            return {"state": "starting", "note": "its process is starting"}
        return {"state": "could not start", "note": _tail(registry, run_id, OUTPUT)}
    tick = ticks.get(registry.reader, run_id)
    if tick is None:
        return None
    if tick.state == "queued":
        note = manual.why_waiting(registry.store, tick.deployment) or "the scheduler starts it"
        return {"state": "queued", "note": note, "deployment": tick.deployment}
    if tick.state == "failed":
        from suiro.scheduler.launch import OUTPUT as SCHEDULED

        return {"state": "could not start", "note": _tail(registry, run_id, SCHEDULED)}
    return {"state": "starting", "note": "its process is starting", "deployment": tick.deployment}


def collect() -> None:
    """Collect the children that have exited (no zombies); forget the oldest beyond ``KEEP``."""
    with _lock:
        exited = [run_id for run_id, proc in _children.items() if proc.poll() is not None]
        for run_id in exited[: max(0, len(exited) - KEEP)]:
            del _children[run_id]


def _start(registry: Registry, run_id: str, spec: dict[str, Any]) -> None:
    home = registry.store.home
    folder = Path(home) / "logs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / OUTPUT, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "suiro.ui.child", json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SUIRO_HOME": str(home)},
            start_new_session=True,
        )
    _keep(run_id, proc)


def _keep(run_id: str, proc: subprocess.Popen[bytes]) -> None:
    collect()
    with _lock:
        _children[run_id] = proc


def _tail(registry: Registry, run_id: str, name: str) -> str:
    """The last lines of a child's output file (the run id was checked: it stays in the home)."""
    path = Path(registry.store.home) / "logs" / run_id / name
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "its process ended without a word"
    return "\n".join(lines[-TAIL:]) or "its process ended without a word"
