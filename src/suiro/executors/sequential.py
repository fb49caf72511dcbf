"""Run attempts one at a time in the calling thread: deterministic, for debugging."""

from __future__ import annotations

from concurrent.futures import Future

from suiro.executors.base import Executor, Outcome, Work, done_future, execute
from suiro.executors.child import Children, run_in_child


class SequentialExecutor(Executor):
    """Runs each attempt to completion inside ``submit``, in submission order.

    An attempt with a timeout runs in a killable child process (and ``submit``
    waits for it), so a timeout stops the work instead of abandoning a thread.
    """

    name = "sequential"
    #: ``submit`` runs the attempt in the caller's thread: a cancel interrupts it there.
    runs_inline = True

    def __init__(self, workers: int | None = None):
        self.workers = 1
        self._children = Children()

    def submit(self, work: Work) -> Future[Outcome]:
        if work.timeout is not None:
            future = run_in_child(work, self._children)
            future.result()
            return future
        return done_future(execute(work))

    def cancel(self) -> None:
        """Kill the child process of an attempt with a timeout; an attempt running in ``submit``
        is stopped by the runner itself (it raises ``Interrupted`` into it)."""
        self._children.kill_all()

    def shutdown(self) -> None:
        """Nothing to stop: no threads or processes outlive ``submit``."""
