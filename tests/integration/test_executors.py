"""What one executor does that the others do not: the processes executor's other processes,
functions from a pipeline file shipped by value, and workers that die; the threads executor's
lone task in the runner's thread. What every executor must do alike is in
``test_executor_conformance.py``."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pipelines import fanout, flaky
from pipelines.observer import RecordingObserver

import suiro
from suiro import RunState, TaskState, pipeline, task
from suiro.events import TaskLogged, TaskStateChanged
from suiro.executors.threads import ThreadExecutor

CRASH_ERROR = "suiro.errors.WorkerCrashedError"


def run(pipe: Any, recorder: RecordingObserver | None = None, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, observers=[recorder] if recorder else [], **kwargs)


# -- processes ----------------------------------------------------------------------------


def test_cpu_bound_tasks_run_in_other_processes_at_the_same_time():
    result = run(fanout.cpu_fanout, executor="processes", workers=2)

    assert result.state is RunState.SUCCESS
    reports = result.output
    assert len(reports) == 4
    pids = {r["pid"] for r in reports}
    assert os.getpid() not in pids
    assert len(pids) == 2  # one worker process per worker slot, reused
    overlapping = [
        (a, b)
        for a in reports
        for b in reports
        if a["pid"] != b["pid"] and a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert overlapping, "two workers should have burned CPU at the same time"


PIPELINE_FILE = """
import os

from suiro import get_logger, pipeline, task

OFFSET = 100


def helper(x):
    return x * x + OFFSET


class Report:
    def __init__(self, values, pids):
        self.values = values
        self.pids = pids


@task
def compute(x: int) -> dict:
    get_logger().info("computing %d", x)
    return {"value": helper(x), "pid": os.getpid()}


@task
def gather(items: list) -> Report:
    print("gathering", len(items))
    return Report([i["value"] for i in items], sorted({i["pid"] for i in items}))


@pipeline
def from_file(xs: list[int] = [1, 2, 3]):
    return gather(compute.map(x=xs))
"""


def test_a_pipeline_loaded_from_a_file_runs_its_own_functions_on_the_processes_executor(tmp_path: Path):
    path = tmp_path / "flow_in_file.py"
    path.write_text(PIPELINE_FILE)
    pipe = suiro.load_pipeline(str(path))

    result = run(pipe, params={"xs": [1, 2, 3, 4]}, executor="processes", workers=2)

    assert result.state is RunState.SUCCESS, [e for t in result.tasks.values() for e in t.errors]
    assert result.output.values == [101, 104, 109, 116]
    assert os.getpid() not in result.output.pids
    # Items run concurrently, so their lines arrive in the order the items end.
    assert sorted(result.tasks["compute"].lines) == [f"INFO computing {x}" for x in (1, 2, 3, 4)]
    assert result.tasks["gather"].lines == ["gathering 4"]
    assert suiro.load_pipeline(f"{path}:from_file").name == "from_file"


def test_task_lines_from_worker_processes_are_captured(tmp_path: Path):
    rec = RecordingObserver()
    path = tmp_path / "flow_in_file.py"
    path.write_text(PIPELINE_FILE)

    result = run(suiro.load_pipeline(str(path)), rec, params={"xs": [5]}, executor="processes", workers=1)

    logged = [(e.task_key, e.map_index, e.lines) for e in rec.events if isinstance(e, TaskLogged)]
    assert logged == [("compute", 0, ("INFO computing 5",)), ("gather", -1, ("gathering 1",))]
    assert result.output.values == [125]


@pipeline
def crashing(parent_pid: int):
    crashed = flaky.crash_once(parent_pid)
    return {"crashed": crashed, "after": flaky.steady(crashed), "other": flaky.steady(5)}


def test_a_worker_that_dies_fails_only_that_attempt_and_the_task_is_retried():
    rec = RecordingObserver()
    result = run(crashing, rec, params={"parent_pid": os.getpid()}, executor="processes", workers=1)

    assert result.state is RunState.SUCCESS
    task = result.tasks["crash_once"]
    assert (task.state, task.attempts) == (TaskState.SUCCESS, 2)
    (error,) = task.errors
    assert error.type == CRASH_ERROR
    assert "task crash_once died (exit code 3)" in error.message
    retrying = [
        e
        for e in rec.events
        if isinstance(e, TaskStateChanged) and e.task_key == "crash_once" and e.state is TaskState.RETRYING
    ]
    assert [e.error for e in retrying] == [error]
    # The retry ran in a new worker process; the run went on with the rest.
    assert result.output["crashed"] not in (os.getpid(), None)
    assert result.output["after"] == result.output["crashed"]
    assert result.output["other"] == 5


def test_a_dead_worker_spends_infra_retries_not_retries():
    # The task's own retry budget is 0: the crash is retried from infra_retries (default 1).
    no_user_retry = flaky.crash_once.with_options(retries=0)

    @pipeline
    def crashes_once(parent_pid: int):
        return no_user_retry(parent_pid)

    result = run(crashes_once, params={"parent_pid": os.getpid()}, executor="processes", workers=1)

    assert result.state is RunState.SUCCESS
    assert result.tasks["crash_once"].attempts == 2
    assert [(e.type, e.infra) for e in result.tasks["crash_once"].errors] == [(CRASH_ERROR, True)]


def test_an_exception_does_not_spend_infra_retries():
    # retries=0 and infra_retries=5: a raised exception still fails at once.
    raises = flaky.flaky.with_options(retries=0, infra_retries=5)

    @pipeline
    def fails_once():
        return raises(1)

    result = run(fails_once, executor="processes", workers=1)

    assert result.state is RunState.FAILED
    assert result.tasks["flaky"].attempts == 1
    assert not result.tasks["flaky"].errors[0].infra


def test_a_worker_that_dies_without_infra_retries_fails_its_task_and_the_run_continues():
    # retries=1 is for the task's exceptions: a dead worker does not spend it.
    no_retry = flaky.crash_once.with_options(retries=1, infra_retries=0)

    @pipeline
    def crashes_once(parent_pid: int):
        crashed = no_retry(parent_pid)
        return {"after": flaky.steady(crashed), "other": flaky.steady(flaky.steady(5))}

    result = run(crashes_once, params={"parent_pid": os.getpid()}, executor="processes", workers=1)

    assert result.state is RunState.FAILED
    assert {k: t.state for k, t in result.tasks.items()} == {
        "crash_once": TaskState.FAILED,
        "steady": TaskState.UPSTREAM_FAILED,
        "steady_2": TaskState.SUCCESS,
        "steady_3": TaskState.SUCCESS,
    }
    assert [e.type for e in result.tasks["crash_once"].errors] == [CRASH_ERROR]
    assert result.tasks["crash_once"].attempts == 1


@pytest.mark.parametrize("executor", ["sequential", "threads"])
def test_a_task_with_a_timeout_that_kills_its_process_is_a_crash_on_in_process_executors(executor):
    # A timeout makes the task run in a worker process on these executors too, so os._exit is safe.
    guarded = flaky.crash_once.with_options(timeout=30.0)

    @pipeline
    def crashes_in_child(parent_pid: int):
        return guarded(parent_pid)

    result = run(crashes_in_child, params={"parent_pid": os.getpid()}, executor=executor)

    assert result.state is RunState.SUCCESS
    assert result.tasks["crash_once"].attempts == 2
    assert [e.type for e in result.tasks["crash_once"].errors] == [CRASH_ERROR]
    assert result.output != os.getpid()


@task
def loaded_here(name: str) -> tuple[int, bool]:
    import sys as _sys

    return os.getpid(), name in _sys.modules


@pipeline
def modules_in_workers(name: str = "suiro_fork_marker"):
    return loaded_here.map([name, name])


def test_process_workers_are_forked_with_what_the_parent_loaded_unless_told_not_to(monkeypatch):
    import sys as _sys
    import types

    _sys.modules["suiro_fork_marker"] = types.ModuleType("suiro_fork_marker")  # loaded here only
    try:
        forked = suiro.run(modules_in_workers, executor="processes", workers=2, record=False, environ={})
        monkeypatch.setenv("SUIRO_FORK", "0")
        fresh = suiro.run(modules_in_workers, executor="processes", workers=2, record=False, environ={})
    finally:
        del _sys.modules["suiro_fork_marker"]
    assert all(pid != os.getpid() for pid, _ in forked.output)
    assert [seen for _, seen in forked.output] == [True, True]  # a fork inherits the parent's modules
    assert [seen for _, seen in fresh.output] == [False, False]  # a fresh interpreter does not


# -- threads: a lone attempt runs in the runner's thread ----------------------------------


@task
def thread_of(x: int) -> tuple[int, str]:
    return x, threading.current_thread().name


@task
def threads_of(items: list[tuple[int, str]]) -> list[str]:
    return [name for _, name in items] + [threading.current_thread().name]


@task
def next_three(item: tuple[int, str]) -> list[int]:
    return [item[0] + 1, item[0] + 2, item[0] + 3]


@pipeline
def chain_then_fan_out():
    first = thread_of(1)
    return {"first": first, "items": threads_of(thread_of.map(next_three(first)))}


@pytest.mark.parametrize("inline", [True, False])
def test_on_threads_a_lone_task_runs_in_the_runner_thread_and_items_on_workers(inline):
    here = threading.current_thread().name
    result = run(chain_then_fan_out, executor=ThreadExecutor(workers=4, inline=inline))

    assert result.state is RunState.SUCCESS
    first, names = result.output["first"][1], result.output["items"]
    items, gather = names[:3], names[3]
    # Items ready together run on workers either way; with inline on, what runs alone (the first
    # task, the gather) skips the hand-off to a worker and back.
    assert all(n.startswith("suiro-task") for n in items), names
    if inline:
        assert (first, gather) == (here, here)
    else:
        assert first.startswith("suiro-task") and gather.startswith("suiro-task")


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@task
def sees_var(x: object) -> str:
    seen = VAR.get()
    VAR.set(f"set by task {x}")
    return seen


@pytest.mark.parametrize("inline", [True, False])
def test_a_task_on_threads_sees_no_context_variable_of_its_caller_or_of_an_earlier_task(inline):
    @pipeline
    def chain():
        first = sees_var(1)
        second = sees_var(first)
        return [first, second, sees_var(second)]

    token = VAR.set("caller's")
    try:
        result = run(chain, executor=ThreadExecutor(workers=1, inline=inline))
        assert VAR.get() == "caller's"
    finally:
        VAR.reset(token)
    assert result.output == ["unset"] * 3  # each attempt starts with a fresh context, on any thread


@task
def uses_asyncio(x: int) -> tuple[int, str]:
    return asyncio.run(asyncio.sleep(0, result=x)), threading.current_thread().name


def test_a_lone_task_calling_asyncio_run_works_when_the_caller_runs_an_event_loop():
    @pipeline
    def one():
        return uses_asyncio(7)

    async def caller() -> suiro.RunResult:  # e.g. a notebook cell, which runs inside a loop
        return run(one, executor="threads")

    result = asyncio.run(caller())
    assert result.state is RunState.SUCCESS, result.tasks["uses_asyncio"].errors
    value, name = result.output
    assert value == 7 and name.startswith("suiro-task")  # sent to a worker: no loop runs there


@task(retries=2, retry_delay=0.0, retry_on=(ConnectionError,))
def says_and_fails(times: int) -> tuple[int, str]:
    attempt = suiro.context().attempt
    print(f"attempt {attempt} speaking")
    if attempt <= times:
        raise ConnectionError(f"attempt {attempt} failed on purpose")
    return attempt, threading.current_thread().name


def test_a_lone_task_on_threads_keeps_each_attempts_lines_in_its_own_log(suiro_home):
    @pipeline
    def retried():
        return says_and_fails(2)

    rec = RecordingObserver()
    result = run(retried, rec, executor="threads")

    assert result.state is RunState.SUCCESS
    assert result.output == (3, threading.current_thread().name)  # every attempt ran in this thread
    logged = [(e.attempt, e.lines) for e in rec.events if isinstance(e, TaskLogged)]
    assert logged == [(n, (f"attempt {n} speaking",)) for n in (1, 2, 3)]
    logs = suiro_home / "logs" / result.run_id
    for n in (1, 2, 3):
        assert (logs / f"says_and_fails.{n}.log").read_text() == f"attempt {n} speaking\n"
    assert [e.type for e in result.tasks["says_and_fails"].errors] == ["ConnectionError"] * 2
