"""Run attempts in worker processes: real parallelism for CPU-bound tasks.

Each of ``workers`` threads owns one worker process and hands it one attempt at a
time, so a timeout kills only that worker (it is replaced for the next attempt) and
a worker that dies fails only its own attempt.
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from suiro.executors.base import Executor, Outcome, Work, cancelled_outcome
from suiro.executors.child import WorkerProcess


class ProcessExecutor(Executor):
    """Runs attempts on ``workers`` processes (default: one per core).

    The workers are made now, from the calling thread: forked from this process when it
    is single-threaded (they start in milliseconds, with every library already loaded
    here), else started as fresh interpreters. A worker killed at a timeout or lost to a
    crash is replaced by a fresh interpreter. ``cancel`` kills every worker at once.
    """

    name = "processes"
    #: Attempts run in other processes: stored inputs are loaded there (``Deferred``), and a
    #: large output stays in the worker that stored it (``worker.kept``).
    remote = True

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._ready: queue.SimpleQueue[WorkerProcess] = queue.SimpleQueue()
        self._all = [WorkerProcess(fork=True) for _ in range(self.workers)]
        for worker in self._all:
            self._ready.put(worker)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="suiro-proc")
        self._cancelled = False

    def _worker(self) -> WorkerProcess | None:
        """This thread's worker: one made at start-up, or a new one; None once cancelled."""
        worker = getattr(self._local, "worker", None)
        if worker is None:
            try:
                worker = self._ready.get_nowait()
            except queue.Empty:
                worker = WorkerProcess()
            with self._lock:  # under the lock: a cancel kills every worker it lists, and no later one runs
                if self._cancelled:
                    return None
                if worker not in self._all:
                    self._all.append(worker)
            self._local.worker = worker
        return worker

    def _call(self, work: Work) -> Outcome:
        worker = None if self._cancelled else self._worker()
        return cancelled_outcome(work) if worker is None else worker.call(work)

    def submit(self, work: Work) -> Future[Outcome]:
        return self._pool.submit(self._call, work)

    def cancel(self) -> None:
        """Kill every worker now and drop queued attempts; the threads waiting on them return at once."""
        with self._lock:
            self._cancelled = True
            workers = list(self._all)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.kill()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()
