"""Attempts in flight, on real executors: concurrency limits, where an attempt runs, a cancel."""

from __future__ import annotations

import threading

from suiro.attempts import Attempts, Unit
from suiro.cancel import Cancellation
from suiro.executors.base import Work
from suiro.executors.sequential import SequentialExecutor
from suiro.executors.threads import ThreadExecutor
from suiro.runinfo import RunInfo


def thread_name() -> str:
    return threading.current_thread().name


def fails() -> None:
    raise ValueError("no")


def work(unit: Unit, fn: object = thread_name) -> Work:
    unit.attempt += 1
    return Work(fn=fn, args=(), kwargs={}, run=RunInfo(run_id="r"), task_key=unit.key, attempt=unit.attempt)


def test_a_task_at_its_limit_waits_and_comes_first_when_one_of_its_attempts_ends():
    executor = ThreadExecutor(4, inline=False)
    attempts = Attempts(executor, Cancellation(), {"t": 1})
    first, second, other = Unit("t", 0, (), {}), Unit("t", 1, (), {}), Unit("u", -1, (), {})
    attempts.ready.extend([first, second, other])
    try:
        assert attempts.next() is first
        attempts.start(first, work(first), alone=False)
        assert attempts.next() is other, "the second item of t waits: t runs one at a time"
        assert attempts.next() is None
        ended = [unit for unit, _ in attempts.take(timeout=10)]
        assert ended == [first] and attempts.inflight == 0
        assert attempts.next() is second, "freed by its task's attempt ending"
    finally:
        executor.shutdown()


def test_a_lone_attempt_runs_in_this_thread_only_when_nothing_else_could_happen():
    executor = ThreadExecutor(2)
    attempts = Attempts(executor, Cancellation(), {})
    here, queued = Unit("a", -1, (), {}), Unit("b", -1, (), {})
    try:
        attempts.start(here, work(here), alone=True)
        ((_, outcome),) = attempts.take(timeout=10)
        assert outcome.value == threading.current_thread().name
        attempts.ready.append(queued)  # something else is ready: a worker runs it
        attempts.start(here, work(here), alone=True)
        ((_, outcome),) = attempts.take(timeout=10)
        assert outcome.value.startswith("suiro-task")
        attempts.start(queued, work(queued), alone=False)  # a retry waits: a worker runs it
        ((_, outcome),) = attempts.take(timeout=10)
        assert outcome.value.startswith("suiro-task")
    finally:
        executor.shutdown()


def test_after_a_cancel_successes_that_arrived_are_taken_and_failures_stay_in_flight():
    cancel = Cancellation()
    attempts = Attempts(SequentialExecutor(), cancel, {})
    ok, bad = Unit("ok", -1, (), {}), Unit("bad", -1, (), {})
    attempts.start(ok, work(ok), alone=True)
    attempts.start(bad, work(bad, fails), alone=True)
    cancel.request("SIGINT", "cancelled by a test")

    assert list(attempts.take(timeout=0)) == [], "nothing is taken once the run is cancelled"
    assert [unit for unit, _ in attempts.ended_ok()] == [ok]
    assert attempts.abandon() == [bad], "the cancel may have caused the failure: it ends cancelled"
