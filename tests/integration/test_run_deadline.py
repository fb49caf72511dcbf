"""``@pipeline(timeout=...)``: a run past its deadline is stopped and recorded ``failed`` with the reason.

Running tasks are killed where they run in a process (processes executor; every attempt of the
sequential executor under a deadline), abandoned on threads as at a cancel; nothing new starts, and
the deadline is counted on the run's clock, so retry delays on an injected clock reach it
at once. The CLI's exit is in ``tests/e2e/test_cli_sensors.py``.
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pipelines import flaky
from pipelines.observer import RecordingObserver
from pipelines.threads import new_threads_left, threads_running

import suiro
from suiro import DefinitionError, RunState, TaskState, history, pipeline, task

DEADLINE_ERROR = "suiro.errors.RunTimeoutError"


@pytest.fixture(autouse=True)
def store_checked(suiro_home):
    """Every run here leaves ``suiro check`` clean (attempt rows of pokes, a stopped run's tasks)."""
    yield
    if (suiro_home / "suiro.db").exists():
        assert history.check(home=suiro_home) == []


def run(pipe: Any, rec: RecordingObserver | None = None, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, observers=[rec] if rec else [], **kwargs)


def is_gone(pid: int, grace: float = 5.0) -> bool:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@task
def hangs(folder: str) -> int:
    """Hold for 30 s, or until the test releases it (a thread that was abandoned ends then)."""
    Path(folder, "pid").write_text(str(os.getpid()))
    deadline = time.monotonic() + 30
    while not Path(folder, "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return 1


@task
def quick(x: int) -> int:
    return x


def too_slow(timeout: float) -> suiro.Pipeline:
    @pipeline(timeout=timeout)
    def too_slow(folder: str):
        slow = hangs(folder)
        first = quick(1)  # beside it: on two workers it ends in time; on one (sequential) it never starts
        return {"first": first, "after": quick(slow)}

    return too_slow


#: The deadline per executor: processes start their workers within it (on a loaded 2-core machine
#: that took over 0.5 s once, and ``quick`` then ended past the deadline).
DEADLINES = {"threads": 0.5, "processes": 2.0, "sequential": 0.5}


@pytest.mark.parametrize("executor", ["threads", "processes", "sequential"])
def test_a_run_past_its_timeout_is_stopped_and_recorded_failed(executor, tmp_path, suiro_home):
    timeout = DEADLINES[executor]
    rec = RecordingObserver()
    before = set(threading.enumerate())
    started = time.monotonic()
    try:
        pipe = too_slow(timeout)
        result = run(pipe, rec, params={"folder": str(tmp_path)}, executor=executor, workers=2)
        elapsed = time.monotonic() - started
        hang_threads = threads_running(hangs.fn.__code__)
    finally:
        (tmp_path / "release").touch()

    assert timeout - 0.05 < elapsed < timeout + 10, (
        "the hanging task was killed at the deadline, not waited for"
    )
    assert result.state is RunState.FAILED
    assert result.error == f"run exceeded its timeout of {timeout:g} s"
    assert result.error.type == DEADLINE_ERROR and result.error.task is None
    if executor == "sequential":
        assert rec.states("quick") == [], "nothing new starts after the deadline"
    else:
        assert result.tasks["quick"].state is TaskState.SUCCESS, "what ended in time keeps its success"
    slow = result.tasks["hangs"]
    assert slow.state is TaskState.FAILED
    assert slow.errors[-1].type == DEADLINE_ERROR
    assert slow.errors[-1].message == (
        f"task hangs was stopped: run exceeded its timeout of {timeout:g} s; raise the pipeline's timeout= "
        "or make the run faster, then resume it."
    )
    assert rec.states("quick_2") == [], "nothing new starts after the deadline"
    pid = int((tmp_path / "pid").read_text())
    if executor == "threads":  # a thread cannot be killed: it was abandoned, as at a cancel
        assert pid == os.getpid() and len(hang_threads) == 1
        assert new_threads_left(before, grace=5.0) == [], "released, the abandoned thread ended"
    else:  # in a process (the sequential executor's attempts too, under a deadline), killed
        assert pid != os.getpid() and is_gone(pid), "the task's process outlived the deadline"
        assert hang_threads == []
    with sqlite3.connect(suiro_home / "suiro.db") as db:
        assert db.execute("SELECT state, error FROM runs").fetchall() == [
            ("failed", f"run exceeded its timeout of {timeout:g} s")
        ]
        assert db.execute("SELECT COUNT(*) FROM attempts WHERE state = 'running'").fetchone() == (0,)


def test_the_deadline_counts_on_the_run_clock_so_retry_delays_reach_it(manual_clock):
    patient = flaky.flaky.with_options(retries=5, retry_delay=60.0)

    @pipeline(timeout=100)
    def retried():
        return patient(10)

    rec = RecordingObserver()
    started = time.monotonic()
    result = run(retried, rec, executor="threads")

    assert time.monotonic() - started < 5
    assert result.state is RunState.FAILED and result.error == "run exceeded its timeout of 100 s"
    # Attempts at 0 and 60; the retry due at 120 waits only until the deadline at 100.
    assert manual_clock.sleeps == [60.0, 40.0]
    task_result = result.tasks["flaky"]
    assert (task_result.state, task_result.attempts) == (TaskState.FAILED, 2)
    assert task_result.errors[-1].type == "suiro.errors.RunTimeoutError"

    resumed = suiro.resume(result.run_id, pipeline=retried)  # a deadline of its own, as long
    assert resumed.error == "run exceeded its timeout of 100 s"
    assert manual_clock.sleeps == [60.0, 40.0, 60.0, 40.0]


def test_a_run_that_ends_in_time_is_not_touched_and_tasks_run_as_usual(tmp_path):
    @pipeline(timeout=datetime.timedelta(minutes=5))
    def in_time():
        return quick(3)

    assert in_time.timeout == 300.0
    result = run(in_time, executor="threads")
    assert (result.state, result.output, result.error) == (RunState.SUCCESS, 3, None)


MUST = "timeout must be a number of seconds > 0, a timedelta or a duration such as '2h'"


@pytest.mark.parametrize(
    ("timeout", "problem"),
    [
        (0, "timeout must be a number of seconds > 0, a timedelta or a duration such as '2h', got 0"),
        (
            "soon",
            "timeout must be a number of seconds > 0, a timedelta or a duration such as '2h', got 'soon'",
        ),
        (True, "timeout must be a number of seconds > 0, a timedelta or a duration such as '2h', got True"),
        ("0m", "timeout must be a number of seconds > 0, a timedelta or a duration such as '2h', got '0m'"),
    ],
)
def test_a_bad_run_timeout_fails_at_the_pipeline_definition(timeout, problem):
    with pytest.raises(DefinitionError, match=r"test_run_deadline\.py:") as caught:

        @pipeline(timeout=timeout)
        def bad():
            return quick(1)

    assert "pipeline bad at " in str(caught.value) and problem in str(caught.value)


def test_a_run_timeout_and_an_sla_read_durations_as_text():
    @pipeline(timeout="1h30m", sla="2h")
    def nightly():
        return quick(1)

    assert (nightly.timeout, nightly.sla) == (5400.0, 7200.0)
    with pytest.raises(DefinitionError, match="sla must be a number of seconds > 0"):

        @pipeline(sla=-5)
        def bad():
            return quick(1)


def test_a_dynamic_pipeline_has_its_deadline_too_and_its_sensors_wait_in_it(tmp_path, manual_clock):
    from suiro.sensors import wait_for_file

    (tmp_path / "ready.csv").write_text("1\n")
    patient = flaky.flaky.with_options(retries=5, retry_delay=60.0)

    @pipeline(dynamic=True, timeout=100)
    def body(pattern: str):
        found = wait_for_file(pattern, poke_interval=30, timeout=60)
        return patient(10) if found else None

    result = run(body, params={"pattern": str(tmp_path / "*.csv")}, executor="threads")

    assert result.tasks["wait_for_file"].state is TaskState.SUCCESS
    assert result.state is RunState.FAILED and result.error == "run exceeded its timeout of 100 s"
    assert manual_clock.sleeps == [60.0, 40.0]
