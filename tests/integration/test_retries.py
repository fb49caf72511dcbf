"""Retries with backoff (on the injectable clock), non-retryable errors, retries of mapped items and
fail-fast, on real executors. Timeouts, crashes and retries on every executor are in
``test_executor_conformance.py``."""

from __future__ import annotations

import itertools
from typing import Any

from pipelines import flaky
from pipelines.observer import RecordingObserver

import suiro
from suiro import RunState, TaskState, pipeline
from suiro.events import TaskStateChanged


def run(pipe: Any, recorder: RecordingObserver | None = None, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("executor", "threads")
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, observers=[recorder] if recorder else [], **kwargs)


# -- retries ------------------------------------------------------------------------------


def test_a_flaky_task_is_retried_until_it_succeeds():
    rec = RecordingObserver()
    result = run(flaky.flaky_pipeline, rec, params={"fail_times": 2})

    assert result.state is RunState.SUCCESS
    assert result.output == {"flaky": 3, "steady": 3, "other": 7}
    assert result.tasks["flaky"].state is TaskState.SUCCESS
    assert result.tasks["flaky"].attempts == 3
    assert len(result.tasks["flaky"].errors) == 2
    assert [e.state for e in rec.changes("flaky")] == [
        TaskState.RUNNING,
        TaskState.RETRYING,
        TaskState.RUNNING,
        TaskState.RETRYING,
        TaskState.RUNNING,
        TaskState.SUCCESS,
    ]
    assert [e.attempt for e in rec.changes("flaky", TaskState.RUNNING)] == [1, 2, 3]
    assert result.tasks["steady"].attempts == 1


def test_retries_run_out_and_the_task_fails_with_every_attempt_error_kept():
    rec = RecordingObserver()
    result = run(flaky.flaky_pipeline, rec, params={"fail_times": 5})

    assert result.state is RunState.FAILED
    task = result.tasks["flaky"]
    assert task.state is TaskState.FAILED
    assert task.attempts == 3  # retries=2: the first attempt and two more
    assert [e.message for e in task.errors] == [f"attempt {n} of flaky failed on purpose" for n in (1, 2, 3)]
    for n, error in enumerate(task.errors, start=1):
        assert error.type == "ConnectionError"
        assert error.retryable
        assert error.traceback.startswith("Traceback (most recent call last)")
        assert "in flaky" in error.traceback
        assert error.traceback.rstrip().endswith(f"ConnectionError: attempt {n} of flaky failed on purpose")
    retrying = rec.changes("flaky", TaskState.RETRYING)
    assert [e.error for e in retrying] == task.errors[:2]
    (failed,) = rec.changes("flaky", TaskState.FAILED)
    assert failed.error == task.errors[-1]
    assert failed.attempt == 3
    assert result.tasks["steady"].state is TaskState.UPSTREAM_FAILED
    assert result.tasks["steady_2"].state is TaskState.SUCCESS


def test_an_error_not_in_retry_on_fails_after_one_attempt():
    @pipeline
    def wrong_input():
        return flaky.wrong(1)

    rec = RecordingObserver()
    result = run(wrong_input, rec)

    task = result.tasks["wrong"]
    assert task.state is TaskState.FAILED
    assert task.attempts == 1
    (error,) = task.errors
    assert (error.type, error.message, error.retryable) == ("ValueError", "bad input 1", False)
    assert rec.changes("wrong", TaskState.RETRYING) == []


def test_retry_delays_follow_backoff_capped_by_max_delay(manual_clock):
    patient = flaky.flaky.with_options(retries=4, retry_delay=30.0, backoff=2.0, max_delay=90.0)

    @pipeline
    def backing_off():
        return patient(4)

    rec = RecordingObserver()
    result = run(backing_off, rec)

    assert result.output == 5
    expected = [30.0, 60.0, 90.0, 90.0]  # 30 * 2 ** (n - 1), capped at 90
    assert [e.delay for e in rec.changes("flaky", TaskState.RETRYING)] == expected
    assert manual_clock.sleeps == expected, "each delay waited once, on the run's clock"
    starts = [e.time for e in rec.changes("flaky", TaskState.RUNNING)]
    assert [later - earlier for earlier, later in itertools.pairwise(starts)] == expected


def test_a_map_item_is_retried_on_its_own():
    @pipeline
    def items():
        return flaky.flaky.map([0, 2, 0])

    rec = RecordingObserver()
    result = run(items, rec)

    assert result.output == [1, 3, 1]
    assert result.tasks["flaky"].item_states == [TaskState.SUCCESS] * 3
    assert result.tasks["flaky"].attempts == 5
    item_runs = [
        (e.map_index, e.attempt)
        for e in rec.events
        if isinstance(e, TaskStateChanged) and e.state is TaskState.RUNNING and e.map_index >= 0
    ]
    assert sorted(item_runs) == [(0, 1), (1, 1), (1, 2), (1, 3), (2, 1)]


def test_a_task_waiting_for_its_retry_does_not_hold_a_worker(manual_clock):
    waits = flaky.flaky.with_options(name="waits", retries=1, retry_delay=60.0)

    @pipeline
    def sharing():
        first = waits(1)
        return {"waits": first, "pause": flaky.pause(0.1), "steady": flaky.steady(2)}

    rec = RecordingObserver()
    result = run(sharing, rec, workers=1)

    assert result.output == {"waits": 2, "pause": 0.1, "steady": 2}
    (retrying,) = rec.changes("waits", TaskState.RETRYING)
    second_start = rec.changes("waits", TaskState.RUNNING)[1]
    assert second_start.time - retrying.time == 60.0
    assert manual_clock.sleeps == [60.0], "the delay was waited only once the other tasks were done"
    order = rec.events.index
    for other in ("pause", "steady"):
        (start,) = rec.changes(other, TaskState.RUNNING)
        (end,) = rec.changes(other, TaskState.SUCCESS)
        # With one worker, both ran while the retry waited, before its delay passed: it held no worker.
        assert order(retrying) < order(start) < order(end) < order(second_start), other
        assert start.time < retrying.time + 60.0, other


def test_fail_fast_ends_a_task_waiting_for_its_retry_as_failed_without_waiting(manual_clock):
    waits = flaky.flaky.with_options(name="waits", retries=3, retry_delay=5.0)
    fails_later = flaky.wrong.with_options(retries=0)

    @pipeline
    def stops_early():
        waits(9)
        flaky.pause(0.1) >> fails_later(1)

    result = run(stops_early, workers=2, fail_fast=True)

    assert manual_clock.sleeps == [], "the retry's delay was never waited for"
    assert result.state is RunState.FAILED
    assert result.tasks["wrong"].state is TaskState.FAILED
    assert (result.tasks["waits"].state, result.tasks["waits"].attempts) == (TaskState.FAILED, 1)
