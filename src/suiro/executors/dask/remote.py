"""What runs inside a Dask worker: each attempt in a suiro worker process of the Dask worker's thread.

A Dask worker runs tasks on threads, which cannot be stopped; so each of its threads hands its
attempts to a suiro worker process of its own (``WorkerProcess``, as the processes executor does),
kept for the next attempt. That process is what a timeout kills (and replaces), what a task that
crashes takes down (only its own attempt ends: an infra failure), and what a cancel kills
(``stop_run``). It writes the attempt's output to the artifact store itself, so only the digest,
and a small value, travel back through Dask. A Dask worker that dies takes its suiro processes
with it (they exit when their parent goes).

A worker on another machine has no folder at the attempt's log path (it is in the runner's home):
there the lines are kept in memory only and travel back with the outcome, and the runner writes
the log file (``DaskExecutor``).

Imported on the workers; must not import anything of the runner's side.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

from suiro.executors.base import Outcome, cancelled_outcome
from suiro.executors.child import WorkerProcess

_local = threading.local()
_lock = threading.Lock()
#: The suiro worker processes running an attempt now, by run id.
_running: dict[str, set[WorkerProcess]] = {}
#: Runs cancelled: their attempts still queued on this worker are not started.
_stopped: set[str] = set()


def run_attempt(payload: bytes, run_id: str) -> Outcome:
    """Run the pickled attempt ``payload`` (of run ``run_id``) in this thread's suiro worker process.

    Never raises: every ending is an ``Outcome``, as on every executor.
    """
    import cloudpickle

    work = cloudpickle.loads(payload)
    if work.log_path is not None and not os.path.isdir(os.path.dirname(work.log_path)):
        work = replace(work, log_path=None)  # the runner's home is not on this machine
        payload = cloudpickle.dumps(work)
    with _lock:
        if run_id in _stopped:
            return cancelled_outcome(work)
        worker = getattr(_local, "worker", None)
        if worker is None or worker.killed:
            worker = _local.worker = WorkerProcess()
        _running.setdefault(run_id, set()).add(worker)
    try:
        return worker.call(work, payload)
    finally:
        with _lock:
            live = _running.get(run_id)
            if live is not None:
                live.discard(worker)
                if not live:
                    del _running[run_id]
        if worker.killed:
            worker.close()
            _local.worker = None


def stop_run(run_id: str) -> int:
    """Kill this Dask worker's suiro processes that run attempts of ``run_id``; start no more of them.

    Called on every worker by the executor's ``cancel`` (``Client.run``). Returns how many it killed.
    """
    with _lock:
        _stopped.add(run_id)
        workers = list(_running.get(run_id, ()))
    for worker in workers:
        worker.kill()
    return len(workers)
