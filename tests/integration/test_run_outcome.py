"""What a run that ends hands back: the output it computed, its first error, and failures it tolerates.

Real runs recorded in a tmp home, read back through ``RunResult`` and plain SQL; nothing mocked.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import suiro
from suiro import RunState, TaskState, pipeline, task
from suiro.errors import DefinitionError


def run(pipe: Any, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("environ", {})
    kwargs.setdefault("executor", "sequential")
    return suiro.run(pipe, **kwargs)


def recorded(home: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "suiro.db") as db:
        return db.execute(sql).fetchall()


@task
def load() -> int:
    return 3


@task
def explode(x: int) -> int:
    raise ValueError(f"row {x} is bad")


@task
def also_explodes(x: int) -> int:
    raise KeyError(f"column {x}")


@task(trigger_rule="all_done")
def report(x: int, y: int | None) -> str:
    return f"loaded {x}, got {y}"


@pipeline
def partial():
    x = load()
    return report(x, explode(x))


# -- 1. a failed run keeps what it computed ------------------------------------------------------


def test_a_failed_run_gives_the_output_its_all_done_output_task_computed_and_the_first_error(suiro_home):
    result = run(partial)

    assert result.state is RunState.FAILED
    assert result.output == "loaded 3, got None"
    assert (result.error.task, result.error.type, result.error.message) == (
        "explode",
        "ValueError",
        "row 3 is bad",
    )
    assert result.error == "task explode failed: ValueError: row 3 is bad"
    assert recorded(suiro_home, "SELECT state, error FROM runs") == [
        ("failed", "task explode failed: ValueError: row 3 is bad")
    ]


def test_the_first_error_is_the_first_task_to_fail_and_no_output_when_the_output_task_did_not_run():
    @pipeline
    def two_fail():
        x = load()
        return {"a": explode(x), "b": also_explodes(x)}

    result = run(two_fail)

    assert (result.state, result.output) == (RunState.FAILED, None)
    assert result.error == "task explode failed: ValueError: row 3 is bad"
    assert result.error.task == "explode"


def test_a_successful_run_has_no_error():
    result = run(_ok_pipeline())
    assert (result.state, result.error) == (RunState.SUCCESS, None)


def _ok_pipeline() -> Any:
    @pipeline
    def fine():
        return load()

    return fine


# -- 3. tolerated failures ---------------------------------------------------------------------------


@task
def train() -> float:
    return 0.9


@task(allow_failure=True, retries=1)
def notify(score: float) -> str:
    raise ConnectionError(f"smtp.example.com refused the message about {score}")


@task(trigger_rule="all_done")
def cleanup(sent: str | None) -> str:
    return f"cleaned up after {sent}"


@pipeline
def tolerant():
    score = train()
    sent = notify(score)
    cleanup(sent)
    return score


def test_a_tolerated_failure_is_recorded_but_the_run_succeeds_with_its_output(suiro_home):
    result = run(tolerant)

    assert (result.state, result.output, result.error) == (RunState.SUCCESS, 0.9, None)
    notified = result.tasks["notify"]
    assert (notified.state, notified.attempts, notified.tolerated) == (TaskState.FAILED, 2, True)
    assert [str(e) for e in notified.errors][-1] == (
        "ConnectionError: smtp.example.com refused the message about 0.9"
    )
    assert result.tasks["cleanup"].state is TaskState.SUCCESS  # all_done sees it failed and ends
    assert result.failed() == ["notify"]
    assert recorded(suiro_home, "SELECT state, error FROM runs") == [("success", None)]
    assert recorded(suiro_home, "SELECT task_key, state FROM task_runs ORDER BY task_key") == [
        ("cleanup", "success"),
        ("notify", "failed"),
        ("train", "success"),
    ]


def test_a_task_that_needs_a_tolerated_tasks_output_fails_the_run():
    @task
    def needs(sent: str) -> str:
        return sent

    @pipeline
    def depends():
        return needs(notify(train()))

    result = run(depends)

    assert result.state is RunState.FAILED
    assert {k: t.state for k, t in result.tasks.items()} == {
        "train": TaskState.SUCCESS,
        "notify": TaskState.FAILED,
        "needs": TaskState.UPSTREAM_FAILED,
    }
    assert result.error == (
        "task notify failed: ConnectionError: smtp.example.com refused the message about 0.9"
    )


def test_the_next_run_tries_a_tolerated_failure_again_and_reuses_the_rest():
    run(tolerant)
    again = run(tolerant)

    assert {k: t.state for k, t in again.tasks.items()} == {
        "train": TaskState.CACHED,
        "notify": TaskState.FAILED,
        "cleanup": TaskState.CACHED,  # its input is the same None as before
    }
    assert again.tasks["notify"].attempts == 2  # not a success, so not cached: tried again


def test_allow_failure_must_be_true_or_false():
    with pytest.raises(DefinitionError, match=r"allow_failure must be True or False, got 'yes'\.$"):

        @task(allow_failure="yes")
        def bad() -> None: ...


def test_fail_fast_does_not_stop_at_a_tolerated_failure():
    @task
    def later(score: float) -> float:
        return score + 1

    once = notify.with_options(retries=0)

    @pipeline
    def fast():
        score = train()
        once(score)
        return later(score)

    result = run(fast, fail_fast=True)

    assert (result.state, result.output) == (RunState.SUCCESS, 1.9)
    assert result.tasks["later"].state is TaskState.SUCCESS


def test_a_mapped_tolerated_task_whose_items_fail_is_tolerated():
    @pipeline
    def mapped():
        score = train()
        notify.map([score, score])
        return score

    result = run(mapped)

    assert (result.state, result.output) == (RunState.SUCCESS, 0.9)
    notified = result.tasks["notify"]
    assert (notified.state, notified.tolerated, notified.item_states) == (
        TaskState.FAILED,
        True,
        [TaskState.FAILED, TaskState.FAILED],
    )
