"""The stopping rules: the deadline on the run's clock, what each unit cut short ends with, and how
a halted run ends. The runs themselves are in tests/integration/test_run_deadline.py and
tests/reliability/test_rel_cancel.py."""

from __future__ import annotations

import random

from suiro.attempts import Attempts, Unit
from suiro.cancel import Cancellation
from suiro.clock import ManualClock
from suiro.events import ErrorInfo
from suiro.executors.sequential import SequentialExecutor
from suiro.retry import RetrySchedule
from suiro.states import RunState
from suiro.stopping import Stopping

TIMED_OUT = ErrorInfo(type="suiro.errors.TaskTimeoutError", message="", traceback="", retryable=False)


def why(label: str) -> ErrorInfo:
    return ErrorInfo(type="Stopped", message=f"{label} stopped", traceback="")


def started(clock: ManualClock, *, timeout: float | None = 10.0, fail_fast: bool = False) -> Stopping:
    stops = Stopping(Cancellation(), clock, fail_fast=fail_fast, timeout=timeout)
    stops.begin()
    return stops


def test_the_deadline_bounds_waits_and_is_overdue_only_with_something_left():
    clock = ManualClock()
    stops = started(clock)
    attempts = Attempts(SequentialExecutor(), stops.cancellation, {})
    retries = RetrySchedule(clock, random.Random(0))

    assert (stops.left(), stops.bound(None), stops.bound(3.0), stops.bound(30.0)) == (10.0, 10.0, 3.0, 10.0)
    clock.advance(11)
    assert stops.left() == 0.0
    assert not stops.overdue(attempts, retries)  # everything ended in time: not failed by it
    attempts.ready.append(Unit("t", -1, (), {}))
    assert stops.overdue(attempts, retries)
    no_deadline = started(clock, timeout=None)
    assert (no_deadline.left(), no_deadline.bound(None), no_deadline.bound(3.0)) == (None, None, 3.0)


def test_an_attempt_in_the_runner_s_thread_gets_what_is_left_and_timing_out_then_reaches_the_deadline():
    clock = ManualClock()
    stops = started(clock)
    unit = Unit("t", 2, (), {})

    assert stops.timeout_of(unit, 30.0, inline=False) == 30.0 and not unit.capped  # the loop wakes
    assert stops.timeout_of(unit, 5.0, inline=True) == 5.0 and not unit.capped  # its own is shorter
    assert stops.overran(unit, TIMED_OUT) is None  # its own timeout: an ordinary failure
    clock.advance(4)
    assert stops.timeout_of(unit, 30.0, inline=True) == 6.0 and unit.capped
    error = stops.overran(unit, TIMED_OUT)
    assert error is not None and error.type == "suiro.errors.RunTimeoutError"
    assert "task t[2] was stopped: run exceeded its timeout of 10 s" in error.message
    halt = stops.halt("r1")
    assert halt is not None and (halt.state, halt.error.type, halt.keep_own) == (
        RunState.FAILED,
        "suiro.errors.RunTimeoutError",
        False,
    )


def test_a_unit_waiting_for_a_retry_keeps_its_own_error_under_a_cancel_and_a_waiting_sensor_does_not():
    retrying, sensor = Unit("r", -1, (), {}), Unit("s", 1, (), {})
    sensor.poked = True

    assert Stopping.error_of(retrying, None, keep_own=False) is None  # fail-fast: its own last error
    assert Stopping.error_of(retrying, why, keep_own=True) is None
    assert Stopping.error_of(sensor, why, keep_own=True) == why("s[1]")
    assert Stopping.error_of(retrying, why, keep_own=False) == why("r")


def test_only_the_first_stop_counts_and_fail_fast_spares_a_tolerated_failure():
    stops = started(ManualClock(), timeout=None, fail_fast=True)

    assert stops.fails_fast(tolerated=False) and not stops.fails_fast(tolerated=True)
    assert started(ManualClock()).fails_fast(tolerated=False) is False
    assert (stops.stop(), stops.stop(), stops.stopped) == (True, False, True)
    assert stops.halt("r1") is None  # fail-fast only stops new starts: the run ends by its tasks


def test_a_cancelled_run_halts_cancelled_with_its_reason_and_a_second_interrupt_is_not_a_new_request():
    stops = started(ManualClock(), timeout=None)

    assert stops.interrupted()
    assert not stops.interrupted()  # asked twice: the forced stop records the run
    halt = stops.halt("r1")
    assert halt is not None and halt.state is RunState.CANCELLED and halt.keep_own
    assert halt.error.startswith("cancelled by KeyboardInterrupt in process ")
    assert "suiro resume r1" in halt.why("t").message
