"""Run attempts in worker processes: real parallelism for CPU-bound tasks.

Each of ``workers`` threads owns one worker interpreter and hands it one attempt
at a time, so a timeout kills only that worker (it is restarted for the next
attempt) and a worker that dies fails only its own attempt.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from suiro.executors.base import Outcome, Work
from suiro.executors.child import WorkerProcess


class ProcessExecutor:
    """Runs attempts on ``workers`` processes (default: one per core)."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._local = threading.local()
        self._all: list[WorkerProcess] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="suiro-proc")
        self._warm = threading.Barrier(self.workers)
        for _ in range(self.workers):  # start every worker now, in parallel, before tasks are ready
            self._pool.submit(self._start_worker)

    def _start_worker(self) -> None:
        try:
            self._worker().ensure_started()
        except Exception:  # reported by the first task this worker takes
            pass
        try:  # hold this thread until all have their worker, so each thread owns one
            self._warm.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass

    def _worker(self) -> WorkerProcess:
        worker = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._local.worker = WorkerProcess(preload=True)
            with self._lock:
                self._all.append(worker)
        return worker

    def submit(self, work: Work) -> Future[Outcome]:
        return self._pool.submit(lambda: self._worker().call(work))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()
