"""A run's deadline (``@pipeline(timeout=...)``): how much of it is left, on the run's clock.

The runner asks it before starting anything and bounds every wait by it, so it is awake at the
deadline to stop the run; an attempt that would run in the runner's own thread (sequential) gets a
timeout no longer than what is left (``cap``), so it runs in a process killed at the deadline.
Counted on the run's clock (``suiro.clock``), so retry delays slept on a test's ``ManualClock``
reach it at once.

Must not stop, kill or report anything itself: the runner does, when ``passed``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from suiro import clock as clocks
from suiro.events import ErrorInfo

#: The error type of a run stopped at its deadline.
RUN_TIMEOUT = "suiro.errors.RunTimeoutError"
#: The shortest timeout an attempt is given under a deadline (seconds): an OS wait of 0 would not wait.
_SHORTEST = 0.001


class Deadline:
    """The end of a run that may take at most ``seconds``, counted from now on ``clock``."""

    def __init__(self, seconds: float, clock: clocks.Clock):
        self.seconds = seconds
        self._clock = clock
        self._end = clock.monotonic() + seconds
        #: The deadline was reached (seen passed, or an attempt was stopped by it).
        self.reached = False

    @property
    def message(self) -> str:
        """The run's recorded error once the deadline stopped it."""
        return f"run exceeded its timeout of {self.seconds:g} s"

    def error(self, label: str) -> ErrorInfo:
        """The error of task ``label``, stopped (or never run again) because the deadline passed."""
        message = (
            f"task {label} was stopped: {self.message}; raise the pipeline's timeout= or make "
            "the run faster, then resume it."
        )
        return ErrorInfo(type=RUN_TIMEOUT, message=message, traceback="", retryable=False)

    def left(self) -> float:
        """Seconds until the deadline (0 once it passed)."""
        return max(self._end - self._clock.monotonic(), 0.0)

    def passed(self) -> bool:
        """Whether the deadline was reached (it stays reached)."""
        if not self.reached and self._clock.monotonic() >= self._end:
            self.reached = True
        return self.reached

    def cap(self, timeout: float | None) -> tuple[float, bool]:
        """An attempt's timeout under the deadline, and whether the deadline set it (not ``timeout``)."""
        left = max(self.left(), _SHORTEST)
        if timeout is not None and timeout <= left:
            return timeout, False
        return left, True


def leave_if_stopped(result: Any, code: int) -> None:
    """Exit this process at once with ``code`` if ``result`` is a run stopped at its deadline.

    Its record is complete by then, and a task abandoned on a thread (it cannot be killed) would
    otherwise hold the interpreter's exit until the task returns. For a process whose job was the
    run: ``suiro run``, the scheduler's child.
    """
    if getattr(result.error, "type", None) == RUN_TIMEOUT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
