"""How a run stops before its end: ``--fail-fast``, a cancel, or its deadline.

Owns the rules of stopping: whether anything new may start, which failure stops the run, the
run's deadline (a ``suiro.deadline.Deadline``), the timeout of an attempt the deadline could not
otherwise stop, the error each unit a stop cuts short ends with, and the state and error of a run
that stopped for good. Must not end a task, run or report anything: the runner ends the units a
stop cuts short (``Runner._stop``, ``Runner._halt``) with what this module says.

Fail-fast (``fail_fast=True``): after the first failure its task does not tolerate, nothing new
starts; queued units stay ``pending``, units waiting for a retry end ``failed`` with their own
last error, and attempts already running end as they end (without another attempt).

Cancelling (a ``Cancellation`` requested by SIGINT/SIGTERM, or a ``KeyboardInterrupt``):
nothing new starts, the executor kills its workers, retries that were waiting are dropped,
attempts that were running end ``failed`` with ``RunCancelledError`` (their task runs again
on resume), outcomes that had already arrived are kept (a success stays a success), and the
run ends ``cancelled`` with the reason. Attempts on threads cannot be stopped: they are
abandoned at once, and what they return later is not recorded.

A run's deadline (``timeout``, from ``@pipeline(timeout=...)``) ends it the same way, but
``failed`` with ``run exceeded its timeout of N s``: every wait is bounded by it, nothing starts
once it passed, and the executor's ``cancel`` kills what runs in processes (threads are
abandoned). An executor that runs attempts in this thread (sequential) could not be woken: there
each attempt gets a timeout no longer than what is left, so it runs in a process killed at the
deadline (``suiro.deadline``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from suiro.deadline import RUN_TIMEOUT, Deadline
from suiro.events import ErrorInfo
from suiro.executors.base import cancelled_error
from suiro.labels import task_label
from suiro.results import RunError
from suiro.states import RunState

if TYPE_CHECKING:
    from suiro.attempts import Attempts, Unit
    from suiro.cancel import Cancellation
    from suiro.clock import Clock
    from suiro.retry import RetrySchedule

_CANCELLED = "suiro.errors.RunCancelledError"

_TASK_TIMEOUT = "suiro.errors.TaskTimeoutError"

#: The error a unit cut short by a stop ends with, from its label (``task`` or ``task[i]``).
Why = Callable[[str], ErrorInfo]


@dataclass(frozen=True, slots=True)
class Halt:
    """How a run that stopped for good (a cancel, or its deadline) ends."""

    #: The run's state: ``cancelled``, or ``failed`` at its deadline.
    state: RunState
    #: The run's recorded error (the cancel's reason, or the deadline's sentence).
    error: RunError
    #: The error of each attempt the stop cut short (and of each unit waiting for another, see
    #: ``keep_own``).
    why: Why
    #: Units waiting for a retry end with their own last error (a cancel), not ``why``'s; a
    #: sensor waiting for its next poke ends with ``why``'s either way.
    keep_own: bool


class Stopping:
    """When one run stops starting anything, and what that means for what it cut short.

    Args:
        cancellation: the run's stop request.
        clock: the run's clock, on which the deadline counts.
        fail_fast: stop starting tasks after the first failure its task does not tolerate.
        timeout: seconds the run may take, from ``begin`` (None: no limit).
    """

    def __init__(self, cancellation: Cancellation, clock: Clock, *, fail_fast: bool, timeout: float | None):
        self.cancellation = cancellation
        self.fail_fast = fail_fast
        self._clock = clock
        self._timeout = timeout
        #: The run's deadline once it started (None: it has none).
        self.deadline: Deadline | None = None
        #: Nothing new starts: a failure with fail-fast, the deadline or a cancel stopped the run.
        self.stopped = False

    def begin(self) -> None:
        """The run starts: its deadline, if it has one, counts from now."""
        if self._timeout is not None:
            self.deadline = Deadline(self._timeout, self._clock)

    def interrupted(self) -> bool:
        """A ``KeyboardInterrupt`` reached the runner's thread: a cancel request, if it is the first.

        Returns False when a stop was asked for already: this is the second, whose forced stop
        records the run (``Cancellation.on_force``).
        """
        if self.cancellation.requested:
            return False
        self.cancellation.request(
            "KeyboardInterrupt", f"cancelled by KeyboardInterrupt in process {os.getpid()}"
        )
        return True

    def stop(self) -> bool:
        """Start nothing new from now on; True only the first time (that stop ends what waits)."""
        if self.stopped:
            return False
        self.stopped = True
        return True

    def fails_fast(self, tolerated: bool) -> bool:
        """Whether a task's failure stops the run: under fail-fast, unless its task tolerates it."""
        return self.fail_fast and not tolerated

    def overdue(self, attempts: Attempts, retries: RetrySchedule) -> bool:
        """Whether the deadline has passed with something left to run or wait for.

        Then the run stops (``deadline_error`` for what waits) and its loop ends; a run whose
        every task ended in time is not failed by a deadline that passes as it ends.
        """
        if self.deadline is None or not (attempts.inflight or retries or attempts.ready):
            return False
        return self.deadline.passed()

    def left(self) -> float | None:
        """Seconds until the deadline, which bounds every wait (None: the run has none)."""
        return self.deadline.left() if self.deadline is not None else None

    def bound(self, wait: float | None) -> float | None:
        """A wait of ``wait`` seconds (None: no limit) cut to what is left before the deadline."""
        if self.deadline is None:
            return wait
        left = self.deadline.left()
        return left if wait is None else min(wait, left)

    def timeout_of(self, unit: Unit, timeout: float | None, *, inline: bool) -> float | None:
        """The timeout of the unit's next attempt: its task's ``timeout``, or less under a deadline.

        An attempt run in the runner's own thread (``inline``) could not be stopped at the
        deadline: its timeout is cut to what is left, so it runs in a process killed then
        (``unit.capped`` says the deadline set it). Elsewhere the loop wakes at the deadline.
        """
        if self.deadline is None or not inline:
            return timeout
        timeout, unit.capped = self.deadline.cap(timeout)
        return timeout

    def overran(self, unit: Unit, error: ErrorInfo) -> ErrorInfo | None:
        """The error of an attempt the run's deadline stopped, not its own timeout; None otherwise.

        That is an attempt whose timeout the deadline cut (``timeout_of``) and that timed out:
        the deadline is then reached, and the run stops.
        """
        if not unit.capped or error.type != _TASK_TIMEOUT or self.deadline is None:
            return None
        self.deadline.reached = True
        return self.deadline.error(task_label(unit.key, unit.map_index))

    def deadline_error(self, label: str) -> ErrorInfo:
        """The error of task ``label``, stopped (or never run again) because the deadline passed."""
        assert self.deadline is not None
        return self.deadline.error(label)

    @staticmethod
    def error_of(unit: Unit, why: Why | None, *, keep_own: bool) -> ErrorInfo | None:
        """The error of a unit that waited for another attempt when the run stopped.

        ``why``'s, or None: it ends with its own last error (no ``why``, or ``keep_own`` and the
        unit waited for a retry, not for a sensor's next poke, which has no error of its own).
        """
        if why is None or (keep_own and not unit.poked):
            return None
        return why(task_label(unit.key, unit.map_index))

    def halt(self, run_id: str) -> Halt | None:
        """How the run ends, once nothing more runs, if it stopped for good; else None.

        A cancel ends it ``cancelled`` (resume runs its tasks again); its deadline ``failed``.
        Fail-fast only stops new starts: that run ends by its tasks' states.
        """
        if self.cancellation.requested:
            error = cancelled_error(
                f"run {run_id} was cancelled ({self.cancellation.reason}) while this attempt ran; "
                f"resume it to run the task again: suiro resume {run_id}"
            )
            reason = RunError(self.cancellation.detail, type=_CANCELLED)
            return Halt(RunState.CANCELLED, reason, lambda label: error, keep_own=True)
        if self.deadline is not None and self.deadline.reached:
            reason = RunError(self.deadline.message, type=RUN_TIMEOUT)
            return Halt(RunState.FAILED, reason, self.deadline.error, keep_own=False)
        return None
