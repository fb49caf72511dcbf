"""Retries with backoff, non-retryable errors, and timeouts that really stop the work, on real executors."""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pipelines import flaky

import suiro
from suiro import RunState, TaskState, pipeline
from suiro.events import Event, TaskStateChanged

EXECUTORS = ["sequential", "threads", "processes"]
TIMEOUT_ERROR = "suiro.errors.TaskTimeoutError"


class Recorder:
    """A run observer that keeps every event it is sent."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def notify(self, event: Event) -> None:
        self.events.append(event)

    def changes(self, key: str, state: TaskState | None = None) -> list[TaskStateChanged]:
        return [
            e
            for e in self.events
            if isinstance(e, TaskStateChanged)
            and e.task_key == key
            and e.map_index < 0
            and (state is None or e.state is state)
        ]


def run(pipe: Any, recorder: Recorder | None = None, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("executor", "threads")
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, observers=[recorder] if recorder else [], **kwargs)


# -- retries ------------------------------------------------------------------------------


def test_a_flaky_task_is_retried_until_it_succeeds():
    rec = Recorder()
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
    rec = Recorder()
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

    rec = Recorder()
    result = run(wrong_input, rec)

    task = result.tasks["wrong"]
    assert task.state is TaskState.FAILED
    assert task.attempts == 1
    (error,) = task.errors
    assert (error.type, error.message, error.retryable) == ("ValueError", "bad input 1", False)
    assert rec.changes("wrong", TaskState.RETRYING) == []


def test_retry_delays_follow_backoff_capped_by_max_delay():
    patient = flaky.flaky.with_options(retries=4, retry_delay=0.05, backoff=2.0, max_delay=0.15)

    @pipeline
    def backing_off():
        return patient(4)

    rec = Recorder()
    result = run(backing_off, rec)

    assert result.output == 5
    expected = [0.05, 0.1, 0.15, 0.15]  # 0.05 * 2 ** (n - 1), capped at 0.15
    assert [e.delay for e in rec.changes("flaky", TaskState.RETRYING)] == pytest.approx(expected)
    starts = [e.time for e in rec.changes("flaky", TaskState.RUNNING)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    for gap, delay in zip(gaps, expected, strict=True):
        # Never early; the upper bound only rules out a stuck runner (CI machines are loaded).
        assert delay - 0.01 <= gap <= delay + 2.0, (gaps, expected)


def test_a_map_item_is_retried_on_its_own():
    @pipeline
    def items():
        return flaky.flaky.map([0, 2, 0])

    rec = Recorder()
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


def test_a_task_waiting_for_its_retry_does_not_hold_a_worker():
    waits = flaky.flaky.with_options(name="waits", retries=1, retry_delay=0.5)

    @pipeline
    def sharing():
        first = waits(1)
        return {"waits": first, "pause": flaky.pause(0.1), "steady": flaky.steady(2)}

    rec = Recorder()
    result = run(sharing, rec, workers=1)

    assert result.output == {"waits": 2, "pause": 0.1, "steady": 2}
    (retrying,) = rec.changes("waits", TaskState.RETRYING)
    second_start = rec.changes("waits", TaskState.RUNNING)[1].time
    assert second_start - retrying.time >= 0.5 - 0.01
    for other in ("pause", "steady"):
        (start,) = rec.changes(other, TaskState.RUNNING)
        (end,) = rec.changes(other, TaskState.SUCCESS)
        assert retrying.time <= start.time < end.time <= second_start, other


def test_fail_fast_ends_a_task_waiting_for_its_retry_as_failed_without_waiting():
    waits = flaky.flaky.with_options(name="waits", retries=3, retry_delay=5.0)
    fails_later = flaky.wrong.with_options(retries=0)

    @pipeline
    def stops_early():
        waits(9)
        flaky.pause(0.1) >> fails_later(1)

    started = time.monotonic()
    result = run(stops_early, workers=2, fail_fast=True)

    assert time.monotonic() - started < 8.0  # far below the 9 s the stopped task would have taken
    assert result.state is RunState.FAILED
    assert result.tasks["wrong"].state is TaskState.FAILED
    assert (result.tasks["waits"].state, result.tasks["waits"].attempts) == (TaskState.FAILED, 1)


# -- timeouts -----------------------------------------------------------------------------


def threads_running(code: Any) -> list[threading.Thread]:
    """Threads of this process whose stack is inside ``code`` right now."""
    frames = sys._current_frames()
    found = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        while frame is not None:
            if frame.f_code is code:
                found.append(thread)
                break
            frame = frame.f_back
    return found


def new_threads_left(before: set[threading.Thread], grace: float = 2.0) -> list[threading.Thread]:
    """Threads started since ``before`` that are still alive after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def read_pids(folder: Path) -> dict[int, int]:
    return {int(p.stem.split("-")[1]): int(p.read_text()) for p in sorted(folder.glob("attempt-*.pid"))}


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.fixture
def pid_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_task_past_its_timeout_is_stopped_and_its_process_is_gone(executor, pid_dir):
    @pipeline
    def hangs(folder: str):
        return flaky.sleepy(folder)

    rec = Recorder()
    before = set(threading.enumerate())
    started = time.monotonic()
    result = run(hangs, rec, params={"folder": str(pid_dir)}, executor=executor, workers=2)
    elapsed = time.monotonic() - started

    assert elapsed < 15  # the task sleeps 30 s: it was stopped, not waited for
    assert result.state is RunState.FAILED
    task = result.tasks["sleepy"]
    assert (task.state, task.attempts) == (TaskState.FAILED, 1)
    (error,) = task.errors
    assert error.type == TIMEOUT_ERROR
    assert "task sleepy ran past its timeout of 0.5 s" in error.message
    (failed,) = rec.changes("sleepy", TaskState.FAILED)
    assert failed.error == error
    pids = read_pids(pid_dir)
    assert list(pids) == [1]
    assert pids[1] != os.getpid()
    assert_gone(pids[1])
    assert threads_running(flaky.sleepy.fn.__code__) == []
    assert new_threads_left(before) == []


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_timed_out_task_is_retried_in_a_fresh_process(executor, pid_dir):
    retried = flaky.sleepy.with_options(retries=1)

    @pipeline
    def hangs_twice(folder: str):
        return retried(folder)

    rec = Recorder()
    result = run(hangs_twice, rec, params={"folder": str(pid_dir)}, executor=executor, workers=2)

    task = result.tasks["sleepy"]
    assert (task.state, task.attempts) == (TaskState.FAILED, 2)
    assert [e.type for e in task.errors] == [TIMEOUT_ERROR, TIMEOUT_ERROR]
    assert [e.state for e in rec.changes("sleepy")] == [
        TaskState.RUNNING,
        TaskState.RETRYING,
        TaskState.RUNNING,
        TaskState.FAILED,
    ]
    pids = read_pids(pid_dir)
    assert list(pids) == [1, 2]
    assert pids[1] != pids[2]
    for pid in pids.values():
        assert_gone(pid)
    assert threads_running(flaky.sleepy.fn.__code__) == []


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_task_with_a_timeout_that_finishes_in_time_returns_its_output_from_a_worker_process(
    executor, pid_dir
):
    in_time = flaky.sleepy.with_options(timeout=10.0)

    @pipeline
    def quick_enough(folder: str):
        return in_time(folder, 0.01)

    result = run(quick_enough, params={"folder": str(pid_dir)}, executor=executor)

    assert result.state is RunState.SUCCESS
    assert result.output == "woke up"
    assert result.tasks["sleepy"].attempts == 1
    # README: a task with a timeout runs in a worker process on every executor.
    assert read_pids(pid_dir)[1] != os.getpid()
