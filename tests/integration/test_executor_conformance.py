"""The executor conformance suite: what every executor must do, the same way, to plug into suiro.

Each test runs once per executor named in ``suiro.executors.EXECUTORS`` (a new executor, such
as Dask's, is added there and must pass all of them). First the ``Executor`` protocol itself
(capabilities declared, every ending an ``Outcome``), then through real runs recorded in a tmp
home: the same pipelines give the same outputs and states; a task's error, a retry, a timeout,
a dead worker and a cancel end the same way; outputs, large ones too, reach their consumers and
are reused by the next run. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipelines import diamond, fanout, flaky, gate
from pipelines.observer import RecordingObserver
from pipelines.threads import new_threads_left, threads_running

import suiro
from suiro import RunState, TaskState, context, pipeline, task, unmapped
from suiro.context import routed_streams
from suiro.events import RunFinished
from suiro.executors import EXECUTORS, Executor, make_executor
from suiro.executors.base import Outcome, Work
from suiro.runinfo import RunInfo
from suiro.sensors import wait_for_file

TIMEOUT_ERROR = "suiro.errors.TaskTimeoutError"
CRASH_ERROR = "suiro.errors.WorkerCrashedError"
CANCELLED_ERROR = "suiro.errors.RunCancelledError"


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    """The name of the executor under test; ``dask`` runs on the session's cluster (``dask_address``)."""
    if request.param == "dask":
        request.getfixturevalue("dask_address")
    return request.param


def run(pipe: Any, rec: RecordingObserver | None = None, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("environ", {})
    kwargs.setdefault("workers", 2)
    return suiro.run(pipe, observers=[rec] if rec else [], **kwargs)


def recorded(home: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of the run records, read with plain sqlite3."""
    with sqlite3.connect(home / "suiro.db") as db:
        return db.execute(sql, params).fetchall()


# -- the protocol --------------------------------------------------------------------------------


def says(x: int) -> int:
    print(f"got {x}")
    return x + 1


def raises(x: int) -> int:
    raise ValueError(f"bad input {x}")


def work(fn: Any, *args: Any, **options: Any) -> Work:
    return Work(fn=fn, args=args, kwargs={}, run=RunInfo(run_id="r1"), task_key="t", attempt=1, **options)


@pytest.fixture
def made(executor: str) -> Iterator[Executor]:
    ex = make_executor(executor, 2)
    yield ex
    ex.shutdown()


def test_an_executor_has_its_name_workers_and_every_capability_declared(made, executor):
    assert made.name == executor
    assert isinstance(made.workers, int) and made.workers >= 1
    # The runner asks for these by name (no getattr): each executor has them, declared or inherited.
    assert isinstance(made.remote, bool) and isinstance(made.runs_inline, bool)
    here = made.run_here(work(says, 1))
    assert here is None or (isinstance(here, Outcome) and here.value == 2)
    assert callable(made.cancel)


def test_submit_resolves_every_ending_to_an_outcome_and_never_raises(made):
    with routed_streams():  # as suiro.run does: a task's prints go to its attempt, wherever it runs
        ok = made.submit(work(says, 1)).result(timeout=30)
        failed = made.submit(work(raises, 3, retry_on=(ConnectionError,))).result(timeout=30)

    assert (ok.ok, ok.value, ok.lines, ok.error) == (True, 2, ("got 1",), None)
    assert not failed.ok
    assert (failed.error.type, failed.error.message, failed.error.retryable) == (
        "ValueError",
        "bad input 3",
        False,
    )
    assert failed.error.traceback.rstrip().endswith("ValueError: bad input 3")
    assert not failed.error.infra


# -- the same pipelines, the same outputs and states ---------------------------------------------


S = TaskState.SUCCESS
CASES = {
    "diamond": (diamond.diamond, {}, diamond.EXPECTED, {"source": S, "double": S, "square": S, "combine": S}),
    "fanout": (
        fanout.fanout,
        {},
        fanout.EXPECTED,
        {"make_items": S, "score": S, "score_2": S, "score_3": S, "total": S},
    ),
    "gate-pass": (
        gate.gate,
        {"quality": 0.9},
        "registered model scoring 0.9",
        {"train": S, "check": S, "register": S, "alert": TaskState.SKIPPED, "end": S},
    ),
    "gate-fail": (
        gate.gate,
        {"quality": 0.5},
        "alert: model scoring 0.5 is below the bar",
        {"train": S, "check": S, "register": TaskState.SKIPPED, "alert": S, "end": S},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_every_executor_gives_the_same_outputs_and_states(executor, case):
    pipe, params, output, states = CASES[case]
    result = run(pipe, params=params, executor=executor)

    assert result.state is RunState.SUCCESS
    assert result.output == output
    assert {key: t.state for key, t in result.tasks.items()} == states
    for t in result.tasks.values():
        assert t.errors == []
        assert t.attempts == (0 if t.state is TaskState.SKIPPED else (t.map_size or 1))
        if t.map_size is not None:
            assert t.item_states == [TaskState.SUCCESS] * t.map_size
    if case == "fanout":
        sizes = {k: t.map_size for k, t in result.tasks.items() if t.map_size is not None}
        assert sizes == {"score": 5, "score_2": 2, "score_3": 3}


# -- errors and retries ----------------------------------------------------------------------------


@pipeline
def one_fails():
    failed = flaky.wrong(3)
    return {"after": flaky.steady(failed), "other": flaky.steady(7)}


def test_a_task_error_fails_the_task_once_and_only_what_depends_on_it(executor, suiro_home):
    rec = RecordingObserver()
    result = run(one_fails, rec, executor=executor)

    assert result.state is RunState.FAILED
    assert {k: t.state for k, t in result.tasks.items()} == {
        "wrong": TaskState.FAILED,
        "steady": TaskState.UPSTREAM_FAILED,
        "steady_2": TaskState.SUCCESS,
    }
    (error,) = result.tasks["wrong"].errors
    assert (error.type, error.message, error.retryable, error.infra) == (
        "ValueError",
        "bad input 3",
        False,
        False,
    )
    assert "in wrong" in error.traceback
    assert rec.states("wrong") == [TaskState.RUNNING, TaskState.FAILED]
    assert rec.changes("wrong", TaskState.FAILED)[0].error == error
    assert recorded(
        suiro_home, "SELECT attempt, state, error_type FROM attempts WHERE task_key = 'wrong'"
    ) == [(1, "failed", "ValueError")]


def test_retries_follow_the_policy_on_the_run_clock_and_an_item_retries_alone(executor, manual_clock):
    patient = flaky.flaky.with_options(retries=3, retry_delay=10.0, backoff=3.0)

    @pipeline
    def retried():
        return {"whole": patient(2), "items": flaky.flaky.map([0, 1, 0])}

    rec = RecordingObserver()
    result = run(retried, rec, executor=executor)

    assert result.state is RunState.SUCCESS
    assert result.output == {"whole": 3, "items": [1, 2, 1]}
    assert rec.states("flaky") == [TaskState.RUNNING, TaskState.RETRYING] * 2 + [
        TaskState.RUNNING,
        TaskState.SUCCESS,
    ]
    assert [e.delay for e in rec.changes("flaky", TaskState.RETRYING)] == [10.0, 30.0]
    assert [e.type for e in result.tasks["flaky"].errors] == ["ConnectionError"] * 2
    # The mapped item that failed once ran again alone; the others ran once.
    assert [len(rec.changes("flaky_2", TaskState.RUNNING, map_index=i)) for i in range(3)] == [1, 2, 1]
    assert result.tasks["flaky_2"].attempts == 4
    assert manual_clock.sleeps == [10.0, 30.0], "each delay waited once, on the run's clock"


# -- timeouts and dead workers ---------------------------------------------------------------------


def read_pids(folder: Path) -> dict[int, int]:
    return {int(p.stem.split("-")[1]): int(p.read_text()) for p in sorted(folder.glob("attempt-*.pid"))}


def is_gone(pid: int, grace: float = 5.0) -> bool:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def pid_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder


def test_a_task_past_its_timeout_is_stopped_and_retried_in_a_fresh_process(executor, pid_dir):
    retried = flaky.sleepy.with_options(retries=1)

    @pipeline
    def hangs_twice(folder: str):
        return retried(folder)

    rec = RecordingObserver()
    before = set(threading.enumerate())
    started = time.monotonic()
    result = run(hangs_twice, rec, params={"folder": str(pid_dir)}, executor=executor)

    assert time.monotonic() - started < 15, "the task sleeps 30 s: it was stopped, not waited for"
    task = result.tasks["sleepy"]
    assert (task.state, task.attempts) == (TaskState.FAILED, 2)
    assert [e.type for e in task.errors] == [TIMEOUT_ERROR, TIMEOUT_ERROR]
    assert "task sleepy ran past its timeout of 0.5 s" in task.errors[0].message
    assert rec.states("sleepy") == [
        TaskState.RUNNING,
        TaskState.RETRYING,
        TaskState.RUNNING,
        TaskState.FAILED,
    ]
    pids = read_pids(pid_dir)
    assert list(pids) == [1, 2] and os.getpid() not in pids.values() and pids[1] != pids[2]
    assert all(is_gone(pid) for pid in pids.values()), "a timed-out attempt's process outlived it"
    assert threads_running(flaky.sleepy.fn.__code__) == []
    assert new_threads_left(before) == []


def test_a_task_with_a_timeout_that_ends_in_time_returns_its_output_from_another_process(executor, pid_dir):
    in_time = flaky.sleepy.with_options(timeout=10.0)

    @pipeline
    def quick_enough(folder: str):
        return in_time(folder, 0.01)

    result = run(quick_enough, params={"folder": str(pid_dir)}, executor=executor)

    assert (result.state, result.output, result.tasks["sleepy"].attempts) == (RunState.SUCCESS, "woke up", 1)
    assert read_pids(pid_dir)[1] != os.getpid(), "README: a task with a timeout runs in a worker process"


def test_a_dead_worker_fails_only_its_attempt_and_spends_infra_retries(executor):
    # retries=0: the retry comes from infra_retries (default 1). The timeout runs the task apart on
    # every executor, so only that process dies.
    dies_once = flaky.crash_once.with_options(retries=0, timeout=30.0)

    @pipeline
    def crashing(parent_pid: int):
        crashed = dies_once(parent_pid)
        return {"crashed": crashed, "after": flaky.steady(crashed), "other": flaky.steady(5)}

    rec = RecordingObserver()
    result = run(crashing, rec, params={"parent_pid": os.getpid()}, executor=executor)

    assert result.state is RunState.SUCCESS
    task = result.tasks["crash_once"]
    assert (task.state, task.attempts) == (TaskState.SUCCESS, 2)
    (error,) = task.errors
    assert (error.type, error.infra) == (CRASH_ERROR, True)
    assert "task crash_once died (exit code 3)" in error.message
    assert [e.error for e in rec.changes("crash_once", TaskState.RETRYING)] == [error]
    assert result.output["crashed"] not in (os.getpid(), None)
    assert result.output["after"] == result.output["crashed"] and result.output["other"] == 5


# -- cancelling ------------------------------------------------------------------------------------


@task
def hold(index: int, marks: str, runner_pid: int) -> int:
    """Mark that item ``index`` started; item 0 then sends SIGINT to the runner's process, as a
    terminal's Ctrl-C would. Every item holds until the test releases it (at most 20 s)."""
    folder = Path(marks)
    (folder / f"tmp-{index}").write_text(str(os.getpid()))  # renamed whole: a killed worker leaves none
    os.replace(folder / f"tmp-{index}", folder / f"started-{index}")
    if index == 0:
        os.kill(runner_pid, signal.SIGINT)
    deadline = time.monotonic() + 20
    while not (folder / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return index


@pipeline
def held(marks: str, runner_pid: int):
    return flaky.steady(hold.map([0, 1, 2, 3], marks=unmapped(marks), runner_pid=unmapped(runner_pid)))


def test_ctrl_c_cancels_the_run_at_once_and_what_ran_ends_cancelled(executor, tmp_path, suiro_home):
    marks = tmp_path / "marks"
    marks.mkdir()
    rec = RecordingObserver()
    before = set(threading.enumerate())
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):  # suiro.run records the run, then raises it
            run(held, rec, params={"marks": str(marks), "runner_pid": os.getpid()}, executor=executor)
        elapsed = time.monotonic() - started
    finally:
        (marks / "release").touch()  # lets an abandoned thread end

    assert elapsed < 10, "the held tasks were stopped or abandoned, not waited for"
    (finished,) = rec.of(RunFinished)
    assert finished.state is RunState.CANCELLED and "SIGINT" in (finished.error or "")
    submitted = [i for i in range(4) if rec.states("hold", map_index=i)]
    ran = {int(p.name.split("-")[1]): int(p.read_text()) for p in marks.glob("started-*")}
    assert 0 in ran and set(ran) <= set(submitted), ran
    assert len(submitted) <= 2, "nothing started after the cancel, and never more than the workers"
    for index in submitted:  # it was running: it ends failed, as cancelled, and runs again on resume
        assert rec.states("hold", map_index=index) == [TaskState.RUNNING, TaskState.FAILED], index
        assert rec.changes("hold", TaskState.FAILED, map_index=index)[0].error.type == CANCELLED_ERROR
    assert rec.states("steady") == [], "what waited for the cancelled task never started"
    assert recorded(suiro_home, "SELECT state FROM runs") == [("cancelled",)]
    assert recorded(suiro_home, "SELECT COUNT(*) FROM attempts WHERE state = 'running'") == [(0,)]
    workers = [pid for pid in ran.values() if pid != os.getpid()]
    assert all(is_gone(pid) for pid in workers), "a worker process outlived the cancel"
    assert new_threads_left(before, grace=5.0) == []


# -- outputs ---------------------------------------------------------------------------------------


@task
def big(n: int) -> bytes:
    return bytes(range(256)) * (n // 256)


@task
def size_of(data: bytes) -> int:
    return len(data)


@pipeline
def large_and_small(n: int = 2 * 1024 * 1024):
    data = big(n)
    return {"size": size_of(data), "data": data, "small": flaky.steady(7)}


def test_outputs_large_ones_too_reach_their_consumers_and_the_next_run_reuses_them(executor):
    first = run(large_and_small, executor=executor)
    again = run(large_and_small, executor=executor)

    expected = bytes(range(256)) * (2 * 1024 * 1024 // 256)
    for result in (first, again):
        assert result.state is RunState.SUCCESS
        assert result.output["size"] == 2 * 1024 * 1024 and result.output["small"] == 7
        assert result.output["data"] == expected
    assert {t.state for t in first.tasks.values()} == {TaskState.SUCCESS}
    assert {t.state for t in again.tasks.values()} == {TaskState.CACHED}


def test_a_task_sees_its_own_context_wherever_it_runs(executor):
    @task
    def who() -> tuple[str, str, int]:
        ctx = context()
        return ctx.run_id, ctx.task_key, ctx.attempt

    @pipeline
    def asks():
        return who()

    result = run(asks, executor=executor)
    assert result.output == (result.run_id, "who", 1)


# -- async def tasks ---------------------------------------------------------------------------------


@task(retries=1)
async def fetch_async(x: int) -> dict[str, Any]:
    """Awaits, reads its context, fails its first attempt: an async task is a task like any other."""
    await asyncio.sleep(0.01)
    ctx = context()
    if ctx.attempt == 1:
        raise ConnectionError(f"attempt 1 of fetch_async({x}) failed on purpose")
    return {"x": x * 10, "task": ctx.task_key, "attempt": ctx.attempt}


@task
def after_async(fetched: dict[str, Any]) -> int:
    return fetched["x"] + 1


@task(timeout=0.5)
async def hangs_async() -> str:
    await asyncio.sleep(30)
    return "woke up"


def test_an_async_task_is_awaited_retried_and_its_output_reaches_downstream(executor):
    @pipeline
    def awaits():
        fetched = fetch_async(4)
        return {"fetched": fetched, "after": after_async(fetched), "items": fetch_async.map([1, 2])}

    rec = RecordingObserver()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited"
        result = run(awaits, rec, executor=executor)

    assert result.state is RunState.SUCCESS, result.error
    assert result.output == {
        "fetched": {"x": 40, "task": "fetch_async", "attempt": 2},
        "after": 41,
        "items": [
            {"x": 10, "task": "fetch_async_2", "attempt": 2},
            {"x": 20, "task": "fetch_async_2", "attempt": 2},
        ],
    }
    task_result = result.tasks["fetch_async"]
    assert task_result.attempts == 2
    assert [(e.type, e.message) for e in task_result.errors] == [
        ("ConnectionError", "attempt 1 of fetch_async(4) failed on purpose")
    ]


def test_an_async_task_past_its_timeout_is_stopped(executor):
    @pipeline
    def hangs():
        return hangs_async()

    started = time.monotonic()
    result = run(hangs, executor=executor)

    assert time.monotonic() - started < 15, "the coroutine sleeps 30 s: it was stopped, not waited for"
    task_result = result.tasks["hangs_async"]
    assert (result.state, task_result.state, task_result.attempts) == (RunState.FAILED, TaskState.FAILED, 1)
    assert [e.type for e in task_result.errors] == [TIMEOUT_ERROR]
    assert task_result.errors[0].message == (
        "task hangs_async ran past its timeout of 0.5 s and was stopped; "
        "raise timeout= or make the task faster."
    )


def test_an_async_task_called_outside_a_pipeline_is_a_plain_call_returning_the_coroutine():
    coroutine = hangs_async()
    try:
        assert asyncio.iscoroutine(coroutine)
    finally:
        coroutine.close()


def test_an_async_task_runs_when_the_run_is_started_inside_an_event_loop(executor):
    """As in a notebook, where the caller's thread already runs a loop (the sequential executor
    runs attempts in that thread)."""

    @task
    async def in_loop(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    @pipeline
    def nested():
        return in_loop(21)

    async def caller() -> suiro.RunResult:
        return run(nested, executor=executor)

    result = asyncio.run(caller())
    assert (result.state, result.output) == (RunState.SUCCESS, 42)


# -- sensors ---------------------------------------------------------------------------------------


@task
def make_file(folder: str, seconds: float) -> str:
    """Sleep, then make ``folder/made.txt`` (written whole: renamed into place)."""
    time.sleep(seconds)
    Path(folder, "made.tmp").write_text("made")
    os.replace(Path(folder, "made.tmp"), Path(folder, "made.txt"))
    return str(Path(folder, "made.txt"))


@pipeline
def waits_for_its_sibling(pattern: str, folder: str):
    return {"found": wait_for_file(pattern, poke_interval=0.05, timeout=20), "made": make_file(folder, 0.3)}


def test_a_waiting_sensor_holds_no_worker_between_pokes(executor, tmp_path):
    rec = RecordingObserver()
    started = time.monotonic()
    result = run(
        waits_for_its_sibling,
        rec,
        params={"pattern": str(tmp_path / "*.txt"), "folder": str(tmp_path)},
        executor=executor,
        workers=1,
    )

    assert time.monotonic() - started < 10, "with its one worker held, the file could never be made"
    assert result.state is RunState.SUCCESS, result.error
    assert result.output == {"found": [str(tmp_path / "made.txt")], "made": str(tmp_path / "made.txt")}
    first_wait = rec.first_time("wait_for_file", TaskState.RETRYING)
    assert rec.first_time("make_file", TaskState.RUNNING) >= first_wait
    assert result.tasks["wait_for_file"].attempts >= 2


def test_a_sensor_times_out_on_the_run_clock_wherever_it_pokes(executor, tmp_path, manual_clock):
    @pipeline
    def never(pattern: str):
        return wait_for_file(pattern, poke_interval=30, timeout=100, soft_fail=True)

    rec = RecordingObserver()
    result = run(never, rec, params={"pattern": str(tmp_path / "none-*")}, executor=executor)

    assert result.state is RunState.SUCCESS
    task_result = result.tasks["wait_for_file"]
    assert (task_result.state, task_result.attempts) == (TaskState.SKIPPED, 5)
    assert manual_clock.sleeps == [30.0, 30.0, 30.0, 10.0]
    assert rec.states("wait_for_file") == [TaskState.RUNNING, TaskState.RETRYING] * 4 + [
        TaskState.RUNNING,
        TaskState.SKIPPED,
    ]
