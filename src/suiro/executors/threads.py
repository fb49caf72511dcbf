"""Run attempts on a pool of threads: cheap, good for I/O and GIL-releasing libraries."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

from suiro.executors.base import Outcome, Work, execute
from suiro.executors.child import run_in_child


class ThreadExecutor:
    """Runs attempts on ``workers`` threads.

    An attempt with a timeout runs in a killable child process instead, so a
    timed-out task never leaves a runaway thread behind.
    """

    name = "threads"

    def __init__(self, workers: int | None = None):
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="suiro-task")

    def submit(self, work: Work) -> Future[Outcome]:
        if work.timeout is not None:
            return run_in_child(work)
        return self._pool.submit(execute, work)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
