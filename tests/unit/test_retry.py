"""The retry schedule: each kind of failure spends its own budget; delays on the given clock."""

from __future__ import annotations

import random

from suiro.attempts import Unit
from suiro.clock import ManualClock
from suiro.events import ErrorInfo
from suiro.retry import RetrySchedule
from suiro.task import TaskOptions

RAISED = ErrorInfo(type="ConnectionError", message="", traceback="")
DIED = ErrorInfo(type="suiro.errors.WorkerCrashedError", message="", traceback="", infra=True)
NOT_RETRYABLE = ErrorInfo(type="ValueError", message="", traceback="", retryable=False)


def failed(unit: Unit) -> Unit:
    unit.attempt += 1
    return unit


def test_the_task_s_exceptions_spend_retries_and_a_dead_worker_spends_infra_retries():
    opts = TaskOptions(name="t", retries=1, infra_retries=1)
    schedule = RetrySchedule(ManualClock(), random.Random(0))
    unit = Unit("t", -1, (), {})

    assert schedule.after_failure(failed(unit), DIED, opts) == 0.0  # attempt 1: a crash, infra budget
    assert schedule.after_failure(failed(unit), RAISED, opts) == 0.0  # attempt 2: retries budget
    assert schedule.after_failure(failed(unit), RAISED, opts) is None  # attempt 3: retries spent
    assert unit.infra_failures == 1
    assert schedule.after_failure(failed(Unit("u", -1, (), {})), NOT_RETRYABLE, opts) is None


def test_units_fall_due_in_order_of_their_delays_on_the_clock_and_drain_empties_the_schedule():
    clock = ManualClock()
    schedule = RetrySchedule(clock, random.Random(0))
    late, soon = Unit("late", -1, (), {}), Unit("soon", -1, (), {})
    schedule.after_failure(failed(late), RAISED, TaskOptions(name="late", retries=1, retry_delay=20.0))
    schedule.after_failure(failed(soon), RAISED, TaskOptions(name="soon", retries=1, retry_delay=5.0))

    assert schedule.due() == [] and schedule.wait_time() == 5.0
    schedule.sleep(lambda seconds: None)  # an injected clock moves itself
    assert clock.sleeps == [5.0] and schedule.due() == [soon]
    clock.advance(15.0)
    assert schedule.due() == [late] and not schedule and schedule.wait_time() is None
    schedule.after_failure(failed(soon), RAISED, TaskOptions(name="soon", retries=5, retry_delay=1.0))
    assert schedule.drain() == [soon] and not schedule
