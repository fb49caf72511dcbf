"""``python -m suiro.scheduler.child RUN_ID LAUNCHER_PID`` (or ``--warm``, the pair read from stdin):
run one launched tick, then exit.

First the child takes the tick over from its launcher (compare-and-set on the launcher's pid:
if a relauncher replaced that launcher meanwhile, this child exits without running anything).
Then it runs the deployment's pipeline with the deployment's parameters (and the tick's own,
above them) under the tick's run id and scheduled part. A problem found before the run starts
(the pipeline no longer loads, a parameter no longer fits, the deployment was deleted) marks the
tick ``failed`` with the reason printed to this child's output file; exit codes: 0 the run
succeeded (or another child has the tick), 1 it did not, 2 it could not start.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from suiro import clock
from suiro.errors import SuiroError
from suiro.runinfo import Scheduled

if TYPE_CHECKING:
    from suiro.store.deployments import DeploymentRow
    from suiro.store.home import Store
    from suiro.store.ticks import TickRow


def main(argv: list[str]) -> int:
    """Run the tick ``argv[0]`` launched by pid ``argv[1]``; the exit code.

    With ``--warm``: import everything a run needs first, then read ``RUN_ID LAUNCHER_PID`` from
    stdin (end-of-file: exit, nothing done) and send stdout and stderr to the run's output file.
    """
    from suiro.store import ticks
    from suiro.store.home import Store

    if argv == ["--warm"]:
        argv = _wait_for_work()
        if not argv:
            return 0
    run_id, launcher = argv[0], int(argv[1])
    store = Store()
    try:
        if not ticks.start(store.db, run_id, launcher=launcher, pid=os.getpid(), now=clock.now()):
            print(f"tick {run_id} was taken over by another launcher; nothing to do.", file=sys.stderr)
            return 0
        return run_claimed(store, run_id)
    finally:
        store.close()


def _wait_for_work() -> list[str]:
    """The warm child's wait: imports done, then the run id and launcher pid from stdin (or [])."""
    from pathlib import Path

    import suiro.api  # imported now, before the tick is due (the point of a warm child)
    import suiro.store.home  # noqa: F401
    from suiro.scheduler.launch import output_file

    words = sys.stdin.readline().split()
    if len(words) != 2:
        return []
    out = os.open(
        output_file(Path(os.environ["SUIRO_HOME"]), words[0]), os.O_WRONLY | os.O_APPEND | os.O_CREAT
    )
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    return words


def run_claimed(store: Store, run_id: str) -> int:
    """Run the tick ``run_id`` this process holds (its pid is the tick's); the exit code.

    A problem before the run row exists marks the tick ``failed`` (printed, exit 2); after it,
    the run itself records what happened.
    """
    from suiro.store import ticks

    try:
        return _run(store, run_id)
    except SuiroError as exc:
        if ticks.run_exists(store.db, run_id):
            raise
        print(f"error: run {run_id} could not start: {exc}", file=sys.stderr, flush=True)
        _could_not_start(store, run_id, f"could not start: {exc}")
        return 2


def _could_not_start(store: Store, run_id: str, error: str) -> None:
    """Record the tick's run as ``failed`` with ``error`` and tell the deployment's and the project's
    addresses (``failed``), as a run that failed in its first task would be."""
    from suiro import notices
    from suiro.store import deployments, ticks

    tick = ticks.get(store.db, run_id)
    assert tick is not None  # this process holds it
    row = deployments.get(store.db, tick.deployment)  # None: the deployment was deleted
    run = {
        "pipeline": row.pipeline if row is not None else tick.deployment,
        "target": row.target if row is not None else None,
        "params": {**(row.params if row is not None else {}), **tick.params},
        "timezone": (row.schedule or {}).get("timezone", "UTC") if row is not None else "UTC",
        "error": error,
        "now": clock.now(),
    }
    if ticks.fail(store.db, run_id, pid=os.getpid(), run=run) and row is not None:
        notices.could_not_start(run_id, run["pipeline"], error, scheduled=_scheduled(tick, row), db=store.db)


def _scheduled(tick: TickRow, row: DeploymentRow) -> Scheduled:
    """The scheduled part of the tick's run: its deployment, logical time, interval and zone."""
    return Scheduled(
        deployment=row.name,
        logical_time=tick.logical_time,
        interval_start=tick.interval_start,
        interval_end=tick.interval_end,
        trigger=tick.trigger,
        timezone=(row.schedule or {}).get("timezone", "UTC"),
    )


def _run(store: Store, run_id: str) -> int:
    from suiro import api
    from suiro.store import deployments, ticks

    tick = ticks.get(store.db, run_id)
    assert tick is not None
    row = deployments.get(store.db, tick.deployment)
    if row is None:
        raise SuiroError(f"deployment {tick.deployment!r} was deleted; nothing was run.")
    scheduled = _scheduled(tick, row)
    print(f"run {run_id} of deployment {row.name} ({tick.trigger}) starting", file=sys.stderr, flush=True)
    result = api.run(
        row.target,
        params={**row.params, **tick.params},
        environ={},  # as deploy checked them: the scheduler's SUIRO_PARAM_* are not the deployment's
        run_id=run_id,
        executor=row.executor,
        home=store.home,
        scheduled=scheduled,
    )
    print(f"run {run_id} {result.state.value}", file=sys.stderr, flush=True)
    from suiro.deadline import leave_if_stopped

    leave_if_stopped(result, 1)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
