"""Run attempts on a pool of threads: cheap, good for I/O and GIL-releasing libraries."""

from __future__ import annotations

import contextvars
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor

from suiro.executors.base import Executor, Outcome, Work, execute
from suiro.executors.child import Children, run_in_child


class ThreadExecutor(Executor):
    """Runs attempts on ``workers`` threads.

    An attempt with a timeout runs in a killable child process instead, so a
    timed-out task never leaves a runaway thread behind. A thread cannot be stopped: on
    ``cancel`` the attempts running on threads are abandoned (they run on, unrecorded, until
    they return or the process exits).

    Args:
        workers: threads in the pool (default: cores + 4, at most 32).
        inline: let ``run_here`` run a lone attempt in the runner's thread.
    """

    name = "threads"

    def __init__(self, workers: int | None = None, *, inline: bool = True):
        self.workers = workers or min(32, (os.cpu_count() or 1) + 4)
        self.inline = inline
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="suiro-task")
        self._children = Children()
        self._cancelled = False

    def submit(self, work: Work) -> Future[Outcome]:
        if work.timeout is not None:
            return run_in_child(work, self._children)
        # A fresh context per attempt: what a task sets (decimal precision, its own variables)
        # never reaches the next task this thread runs, nor the caller's.
        return self._pool.submit(contextvars.Context().run, execute, work)

    def run_here(self, work: Work) -> Outcome | None:
        """Run ``work`` in the calling thread, or return None: then it must be submitted.

        The runner asks only when this attempt is all there is to do (nothing else running,
        ready or waiting for a retry), so a worker would add nothing but two thread
        hand-offs, which cost more than a short task (W1, a chain, went from ~0.3 ms per
        task on the sequential executor to ~0.9 ms here). The attempt runs as it would on a
        worker: in a fresh, empty ``contextvars`` context, its output captured per attempt.

        Declined: an attempt with a timeout (only a child process can be stopped), and any
        attempt while this thread runs an asyncio event loop (a notebook, an async caller),
        where a task calling ``asyncio.run`` would fail although it works on a worker.
        """
        if not self.inline or work.timeout is not None or _in_event_loop():
            return None
        return contextvars.Context().run(execute, work)

    def cancel(self) -> None:
        """Drop queued attempts, kill timeout children; running threads are abandoned, not awaited."""
        self._cancelled = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._children.kill_all()

    def shutdown(self) -> None:
        # After a cancel, waiting would wait for the abandoned attempts to return.
        self._pool.shutdown(wait=not self._cancelled, cancel_futures=True)


def _in_event_loop() -> bool:
    """Whether this thread is running an asyncio loop (without importing asyncio if unused)."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio._get_running_loop() is not None
