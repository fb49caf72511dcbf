"""Hooks on every executor: ``on_retry``/``on_failure``/``on_success`` of tasks and pipelines get a
frozen context in the runner's process; a hook that raises is logged and recorded and never
changes the run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from reliability.rel_harness import rows

from suiro import HookContext, api, context, pipeline, task
from suiro.errors import DefinitionError

EXECUTORS = ["sequential", "threads", "processes"]
SEEN: list[HookContext] = []


def seen(ctx: HookContext) -> None:
    SEEN.append(ctx)


def raises(ctx: HookContext) -> None:
    raise RuntimeError(f"hook broke on {ctx.event}")


@pytest.fixture(autouse=True)
def _clear():
    SEEN.clear()


@task(retries=1, on_retry=seen, on_success=[seen, raises])
def flaky(marker: str) -> int:
    path = Path(marker)
    if not path.exists():
        path.write_text(str(context().attempt))
        raise ConnectionError("first attempt fails")
    return 1


@task(on_failure=[raises, seen])
def broken(x: int) -> int:
    raise ValueError(f"no good: {x}\nmore detail")


@task(on_failure=seen)
def maybe(x: int) -> int:
    if x == 2:
        raise KeyError(x)
    return x


@pipeline(on_failure=[raises, seen], on_retry=seen)
def hooked(marker: str):
    return broken(flaky(marker))


@pipeline(on_success=seen)
def fine(marker: str):
    return flaky(marker)


@pipeline
def mapped():
    return maybe.map([1, 2, 3])


def by(event: str, task: str | None) -> list[HookContext]:
    return [c for c in SEEN if c.event == event and c.task == task]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_hooks_see_retries_failures_and_the_run_end_on_every_executor(executor, tmp_path, suiro_home):
    result = api.run(hooked, {"marker": str(tmp_path / "m")}, executor=executor)
    assert result.state.value == "failed" and result.error.task == "broken", (
        "the raising hooks changed nothing"
    )
    run = result.run_id
    (task_retry,) = [c for c in by("retry", "flaky") if c.state == "retrying"][:1]
    assert (task_retry.attempt, task_retry.error) == (1, "ConnectionError: first attempt fails")
    assert len(by("retry", "flaky")) == 2, "the task's own on_retry and the pipeline's"
    assert [c.attempt for c in by("success", "flaky")] == [2]
    (task_failed,) = [c for c in by("failure", "broken") if c.attempt == 1]
    assert task_failed.error == "ValueError: no good: 1" and task_failed.logs == f"suiro logs {run} broken"
    assert (
        task_failed.pipeline == "hooked" and task_failed.deployment is None and task_failed.state == "failed"
    )
    (run_failed,) = [c for c in SEEN if c.event == "failure" and c.attempt == 0]
    assert (run_failed.task, run_failed.state) == ("broken", "failed")
    assert run_failed.error == "task broken failed: ValueError: no good: 1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        run_failed.state = "success"  # type: ignore[misc]
    recorded = rows(suiro_home, "SELECT event, channel, target, state, error FROM deliveries ORDER BY id")
    assert [(r["event"], r["target"]) for r in recorded] == [
        ("on_success", "task flaky: raises"),
        ("on_failure", "task broken: raises"),
        ("on_failure", "pipeline hooked: raises"),
    ]
    assert {r["channel"] for r in recorded} == {"hook"} and {r["state"] for r in recorded} == {"failed"}
    assert recorded[0]["error"] == "RuntimeError: hook broke on success"
    assert rows(suiro_home, "SELECT state FROM runs") == [{"state": "failed"}]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_successful_run_calls_on_success_once(executor, tmp_path):
    (tmp_path / "m").write_text("done")  # no retry this time
    result = api.run(fine, {"marker": str(tmp_path / "m")}, executor=executor)
    assert result.ok
    (ended,) = [c for c in SEEN if c.attempt == 0]
    assert (ended.event, ended.task, ended.state, ended.error) == ("success", None, "success", None)


def test_a_mapped_task_fails_once_not_once_per_item():
    result = api.run(mapped, executor="threads")
    assert result.state.value == "failed"
    assert [(c.task, c.map_index) for c in by("failure", "maybe")] == [("maybe", -1)]


def test_hooks_that_are_not_functions_fail_at_definition():
    with pytest.raises(DefinitionError, match=r"@task t at .*: on_failure must be a function taking a suiro"):

        @task(on_failure="page the on-call")
        def t() -> None: ...

    with pytest.raises(
        DefinitionError, match=r"pipeline p at .*test_hooks.py:\d+: on_success must be a function"
    ):

        @pipeline(on_success=[seen, 42])
        def p(): ...


def test_airflow_callback_names_point_to_the_hooks():
    with pytest.raises(DefinitionError, match=r"'on_failure_callback' \(did you mean \"on_failure\"\?\)"):

        @task(on_failure_callback=seen)
        def t() -> None: ...


@task(on_success=seen)
def quiet(x: int) -> int:
    return x


@pipeline
def only_a_task_hook(x: int = 1):
    return quiet(x)


@pipeline
def no_hook_at_all(x: int = 1):
    return quiet.with_options(on_success=())(x)


def test_a_tasks_own_hook_is_called_when_nothing_else_of_the_run_listens(suiro_home):
    """Runs with no hook and no route to arm do not send their events to the hooks; one whose only
    hook is a task's still does."""
    assert api.run(no_hook_at_all, executor="sequential", environ={}).ok and SEEN == []
    assert api.run(only_a_task_hook, {"x": 2}, executor="sequential", environ={}).ok  # not a cache hit
    assert [(c.event, c.task) for c in SEEN] == [("success", "quiet")]
