"""Sensors (``suiro.sensors``) on a real directory: pokes in reschedule mode, timeouts, ``soft_fail``,
no worker held between pokes, resume. Every executor runs the sensor cases of
``test_executor_conformance.py``; the CLI's view of pokes is in ``tests/e2e/test_cli_sensors.py``."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pipelines.observer import RecordingObserver

import suiro
from suiro import DefinitionError, RunState, TaskState, history, pipeline, task, unmapped
from suiro.sensors import wait_for_file, wait_until

SENSOR_TIMEOUT = "suiro.errors.SensorTimeoutError"


@pytest.fixture(autouse=True)
def store_checked(suiro_home):
    """Every run here leaves ``suiro check`` clean (attempt rows of pokes, a stopped run's tasks)."""
    yield
    if (suiro_home / "suiro.db").exists():
        assert history.check(home=suiro_home) == []


def run(pipe: Any, rec: RecordingObserver | None = None, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("environ", {})
    kwargs.setdefault("executor", "threads")
    return suiro.run(pipe, observers=[rec] if rec else [], **kwargs)


@task
def count_rows(paths: list[str]) -> int:
    return sum(len(Path(p).read_text().splitlines()) for p in paths)


@task(trigger_rule="all_done")
def report(rows: int | None) -> str:
    return f"rows: {rows}"


@pipeline
def ingest(pattern: str, poke_interval: float = 0.05, timeout: float = 30.0, soft_fail: bool = False):
    paths = wait_for_file(pattern, poke_interval=poke_interval, timeout=timeout, soft_fail=soft_fail)
    rows = count_rows(paths)
    return {"paths": paths, "rows": rows, "report": report(rows)}


def test_a_file_written_by_another_thread_mid_run_ends_the_wait_with_its_path(tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()

    rec = RecordingObserver()

    def deliver() -> None:  # once the sensor has waited twice, mid-run
        deadline = time.monotonic() + 20
        while len(rec.changes("wait_for_file", TaskState.RETRYING)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        (incoming / "part-1.csv.tmp").write_text("a\nb\nc\n")
        (incoming / "part-1.csv.tmp").rename(incoming / "part-1.csv")

    writer = threading.Thread(target=deliver)
    writer.start()
    try:
        result = run(ingest, rec, params={"pattern": str(incoming / "*.csv")})
    finally:
        writer.join()

    assert result.state is RunState.SUCCESS, result.error
    assert result.output == {"paths": [str(incoming / "part-1.csv")], "rows": 3, "report": "rows: 3"}
    sensor = result.tasks["wait_for_file"]
    assert sensor.attempts >= 3, "it poked, found nothing, and poked again"
    assert sensor.errors == [], "a poke that finds nothing is not an error"
    waits = rec.changes("wait_for_file", TaskState.RETRYING)
    assert len(waits) == sensor.attempts - 1
    assert {w.delay for w in waits} == {0.05}
    assert all(w.error is not None and w.error.poke is not None for w in waits)
    assert "no file matches" in waits[0].error.message and str(incoming) in waits[0].error.message


def test_a_sensor_times_out_from_its_first_poke_on_the_run_clock(tmp_path, manual_clock):
    rec = RecordingObserver()
    started = time.monotonic()
    result = run(
        ingest,
        rec,
        params={"pattern": str(tmp_path / "never" / "*.csv"), "poke_interval": 60, "timeout": 150},
    )

    assert time.monotonic() - started < 5, "the waits were slept on the injected clock"
    assert result.state is RunState.FAILED
    # Pokes at 0, 60, 120 and, last, at the timeout itself (150): never a poke past it.
    assert manual_clock.sleeps == [60.0, 60.0, 30.0]
    sensor = result.tasks["wait_for_file"]
    assert (sensor.state, sensor.attempts) == (TaskState.FAILED, 4)
    (error,) = sensor.errors
    assert error.type == SENSOR_TIMEOUT
    assert error.message.startswith("sensor wait_for_file waited 150 s (from its first poke) and ")
    assert "no file matches" in error.message
    assert result.error.task == "wait_for_file"
    assert result.tasks["count_rows"].state is TaskState.UPSTREAM_FAILED
    assert result.tasks["report"].state is TaskState.SUCCESS, "all_done still runs"


def test_soft_fail_skips_the_sensor_so_trigger_rules_decide_downstream(tmp_path, manual_clock, suiro_home):
    rec = RecordingObserver()
    result = run(
        ingest,
        rec,
        params={"pattern": str(tmp_path / "*.csv"), "poke_interval": 10, "timeout": 25, "soft_fail": True},
    )

    assert result.state is RunState.SUCCESS, "a skipped sensor does not fail the run"
    states = {k: t.state for k, t in result.tasks.items()}
    assert states == {
        "wait_for_file": TaskState.SKIPPED,
        "count_rows": TaskState.SKIPPED,  # all_success: a skipped upstream skips it
        "report": TaskState.SUCCESS,  # all_done: runs with what there is
    }
    assert rec.outputs()["report"] == "rows: None"
    assert rec.states("wait_for_file")[-1] is TaskState.SKIPPED
    (error,) = result.tasks["wait_for_file"].errors
    assert error.type == SENSOR_TIMEOUT and "soft_fail" in error.message
    assert manual_clock.sleeps == [10.0, 10.0, 5.0]
    with sqlite3.connect(suiro_home / "suiro.db") as db:
        rows = db.execute(
            "SELECT attempt, state, error_type FROM attempts"
            " WHERE task_key = 'wait_for_file' ORDER BY attempt"
        ).fetchall()
    assert rows == [
        (1, "retrying", "suiro.errors.SensorNotReady"),
        (2, "retrying", "suiro.errors.SensorNotReady"),
        (3, "retrying", "suiro.errors.SensorNotReady"),
        (4, "skipped", SENSOR_TIMEOUT),
    ], "one row per poke, the last closed as the sensor ended"


def test_pokes_do_not_spend_retries_but_an_error_in_the_check_does(manual_clock):
    calls = {"n": 0}

    def ready_on_the_fifth_call() -> dict[str, int] | None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("the service did not answer")
        return {"rows": 42} if calls["n"] >= 5 else None

    checked = wait_until.with_options(retries=1, retry_on=(ConnectionError,))

    @pipeline
    def polls():
        return checked(ready_on_the_fifth_call, poke_interval=5, timeout=100)

    rec = RecordingObserver()
    result = run(polls, rec)

    assert result.state is RunState.SUCCESS, result.error
    assert result.output == {"rows": 42}, "the check's truthy value is the sensor's output"
    sensor = result.tasks["wait_until"]
    assert sensor.attempts == 5
    assert [e.type for e in sensor.errors] == ["ConnectionError"], "only the error spent a retry"


def test_the_retry_budget_still_runs_out_for_errors_of_the_check(manual_clock):
    def broken() -> bool:
        raise ValueError("the check itself is wrong")

    @pipeline
    def polls():
        return wait_until(broken, poke_interval=5, timeout=100)

    result = run(polls)
    task_result = result.tasks["wait_until"]
    assert (task_result.state, task_result.attempts) == (TaskState.FAILED, 1)
    assert [e.type for e in task_result.errors] == ["ValueError"]


def test_a_resumed_run_pokes_again_and_goes_on_with_what_it_finds(tmp_path, manual_clock, suiro_home):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    params = {"pattern": str(incoming / "*.csv"), "poke_interval": 10, "timeout": 20}
    first = run(ingest, params=params)
    assert first.state is RunState.FAILED

    (incoming / "late.csv").write_text("x\ny\n")
    resumed = suiro.resume(first.run_id)

    assert resumed.state is RunState.SUCCESS, resumed.error
    assert resumed.output["rows"] == 2 and resumed.output["paths"] == [str(incoming / "late.csv")]
    assert resumed.tasks["wait_for_file"].attempts == 1
    with sqlite3.connect(suiro_home / "suiro.db") as db:
        states = db.execute(
            "SELECT state FROM attempts WHERE run_id = ? AND task_key = 'wait_for_file' ORDER BY attempt",
            (first.run_id,),
        ).fetchall()
    assert states == [("retrying",), ("retrying",), ("failed",)], "one attempt row per poke"


def test_a_sensor_is_never_a_cache_hit(tmp_path):
    (tmp_path / "a.csv").write_text("1\n")
    params = {"pattern": str(tmp_path / "*.csv")}
    run(ingest, params=params)
    (tmp_path / "b.csv").write_text("2\n")
    again = run(ingest, params=params)

    assert again.tasks["wait_for_file"].state is TaskState.SUCCESS
    assert again.output["paths"] == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]


def test_a_relative_pattern_is_matched_in_the_working_directory_and_returned_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path("data/in.csv").write_text("1\n")

    @pipeline
    def relative():
        return wait_for_file("data/*.csv", poke_interval=1, timeout=5)

    assert run(relative).output == [str(tmp_path / "data" / "in.csv")]


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (
            lambda: wait_for_file("x/*", poke_interval=0),
            "poke_interval must be a number > 0 (seconds) or a timedelta, got 0",
        ),
        (
            lambda: wait_for_file("x/*", timeout=-1),
            "timeout must be a number > 0 (seconds) or a timedelta, got -1",
        ),
        (lambda: wait_for_file("x/*", soft_fail="yes"), "soft_fail must be True or False, got 'yes'"),
        (lambda: wait_until("not callable"), "check_fn must be a function, got 'not callable'"),
    ],
)
def test_bad_sensor_settings_fail_at_the_line_that_wrote_them(call, problem):
    with pytest.raises(DefinitionError, match=r"test_sensors\.py:") as caught:

        @pipeline
        def bad():
            return call()

    assert problem in str(caught.value)


def test_a_misspelt_setting_is_named_as_for_any_task():
    with pytest.raises(DefinitionError, match=r"test_sensors\.py:") as caught:

        @pipeline
        def misspelt():
            return wait_for_file("x/*", poke_intervall=5)

    assert "poke_intervall" in str(caught.value) and "poke_interval" in str(caught.value)
    assert "tracing it raised" not in str(caught.value)


def test_outside_a_pipeline_a_sensor_is_one_poke():
    assert wait_until(lambda: 7, poke_interval=1, timeout=1) == 7
    with pytest.raises(suiro.errors.SensorNotReady, match=r"<lambda>\(\) returned None"):
        wait_until(lambda: None, poke_interval=1, timeout=1)


def test_a_cancel_while_a_sensor_waits_ends_it_cancelled_at_once(tmp_path, suiro_home):
    from suiro.cancel import Cancellation

    cancel = Cancellation()
    timer = threading.Timer(0.3, cancel.request, args=("test",))
    timer.start()
    started = time.monotonic()
    try:
        result = run(ingest, params={"pattern": str(tmp_path / "*.csv"), "poke_interval": 5.0}, cancel=cancel)
    finally:
        timer.cancel()

    assert time.monotonic() - started < 3, "the wait for the next poke ended at the cancel"
    assert result.state is RunState.CANCELLED
    sensor = result.tasks["wait_for_file"]
    assert sensor.state is TaskState.FAILED
    assert sensor.errors[-1].type == "suiro.errors.RunCancelledError"
    with sqlite3.connect(suiro_home / "suiro.db") as db:
        last = db.execute(
            "SELECT state, error_type FROM attempts WHERE task_key = 'wait_for_file' ORDER BY attempt DESC"
        ).fetchone()
    assert last == ("failed", "suiro.errors.RunCancelledError")


def test_a_mapped_sensor_waits_for_each_item_on_its_own(tmp_path, manual_clock):
    (tmp_path / "a.csv").write_text("1\n")

    @pipeline
    def each(patterns: list[str], soft_fail: bool):
        return wait_for_file.map(
            patterns, poke_interval=unmapped(10), timeout=unmapped(30), soft_fail=unmapped(soft_fail)
        )

    patterns = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    soft = run(each, params={"patterns": patterns, "soft_fail": True})
    hard = run(each, params={"patterns": patterns, "soft_fail": False})

    assert soft.tasks["wait_for_file"].item_states == [TaskState.SUCCESS, TaskState.SKIPPED]
    assert (soft.state, soft.tasks["wait_for_file"].state) == (RunState.SUCCESS, TaskState.SKIPPED)
    assert hard.tasks["wait_for_file"].item_states == [TaskState.SUCCESS, TaskState.FAILED]
    assert (hard.state, hard.tasks["wait_for_file"].state) == (RunState.FAILED, TaskState.FAILED)
    assert soft.tasks["wait_for_file"].attempts == 1 + 4, "one poke for a.csv, four for b.csv"


def test_on_retry_hooks_hear_of_retries_not_of_pokes(manual_clock):
    heard: list[tuple[str, str | None]] = []
    calls = {"n": 0}

    def ready_on_the_fourth_call() -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("the service did not answer")
        return calls["n"] >= 4

    checked = wait_until.with_options(retries=1, retry_on=(ConnectionError,))

    @pipeline(on_retry=lambda ctx: heard.append((ctx.task, ctx.error)))
    def polls():
        return checked(ready_on_the_fourth_call, poke_interval=5, timeout=100)

    result = run(polls, RecordingObserver())
    assert result.state is RunState.SUCCESS and result.tasks["wait_until"].attempts == 4
    assert heard == [("wait_until", "ConnectionError: the service did not answer")], "one retry, no poke"
