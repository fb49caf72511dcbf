"""Running real pipelines end to end: scheduling, fan-out, branches, trigger rules, failures, output.

Nothing is mocked: pipelines are traced, run with ``suiro.run`` on a real executor, and
checked through the ``RunResult`` and the events a recording observer received.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pipelines import gate as gate_module
from pipelines.observer import RecordingObserver

import suiro
from suiro import RunState, TaskState, pipeline, task, unmapped, when
from suiro.events import RunFinished, RunStarted, TaskLogged, TaskMapped, TaskOutput, TaskStateChanged


def run(pipe: Any, recorder: RecordingObserver | None = None, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("executor", "threads")
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, observers=[recorder] if recorder else [], **kwargs)


def task_states(result: suiro.RunResult) -> dict[str, TaskState]:
    return {key: t.state for key, t in result.tasks.items()}


# -- scheduling -------------------------------------------------------------------------


@task
def slow(seconds: float) -> str:
    time.sleep(seconds)
    return "slow done"


@task
def quick(x: int) -> int:
    return x + 1


@pipeline
def uneven(delay: float = 0.6):
    a = slow(delay)
    b1 = quick(0)
    b2 = quick(b1)
    b3 = quick(b2)
    return {"a": a, "b": b3}


def test_a_task_starts_when_its_own_inputs_are_done_not_level_by_level():
    rec = RecordingObserver()
    result = run(uneven, rec, workers=2)

    assert result.state is RunState.SUCCESS
    assert result.output == {"a": "slow done", "b": 3}
    a_done = rec.first_time("slow", TaskState.SUCCESS)
    # quick_2 is on the same level as slow's consumer would be: it must not wait for slow.
    assert rec.first_time("quick_2", TaskState.RUNNING) < a_done
    assert rec.first_time("quick_3", TaskState.SUCCESS) < a_done


def test_events_bracket_the_run_and_follow_each_task_life_in_order():
    rec = RecordingObserver()
    result = run(uneven, rec, params={"delay": 0.01}, workers=2)

    assert isinstance(rec.events[0], RunStarted)
    assert rec.events[0].run_id == result.run_id
    assert rec.events[0].pipeline == "uneven"
    assert rec.events[0].params == {"delay": 0.01}
    assert rec.events[0].executor == "threads"
    assert isinstance(rec.events[-1], RunFinished)
    assert rec.events[-1].state is RunState.SUCCESS
    for key in ("slow", "quick", "quick_2", "quick_3"):
        assert rec.states(key) == [TaskState.RUNNING, TaskState.SUCCESS]
        assert result.tasks[key].attempts == 1
    assert rec.outputs() == {"slow": "slow done", "quick": 1, "quick_2": 2, "quick_3": 3}
    # An output event precedes the success it belongs to.
    kinds = [
        (type(e).__name__, getattr(e, "state", None))
        for e in rec.events
        if isinstance(e, TaskStateChanged | TaskOutput) and e.task_key == "quick_3"
    ]
    assert kinds == [
        ("TaskStateChanged", TaskState.RUNNING),
        ("TaskOutput", None),
        ("TaskStateChanged", TaskState.SUCCESS),
    ]


# -- map ----------------------------------------------------------------------------------


@task
def make_list(n: int) -> list[int]:
    return list(range(n))


@task
def late_echo(x: int, size: int) -> int:
    """Earlier items sleep longer, so items finish in reverse order."""
    time.sleep(0.03 * (size - x))
    return x * 10


@task
def collect(values: list[int]) -> list[int]:
    return list(values)


@pipeline
def mapped(n: int = 4, items: list[int] = [2, 1, 0]):  # noqa: B006 - a traced default, never mutated
    from_literal = late_echo.map(x=[3, 2, 1, 0], size=unmapped(4))
    from_param = late_echo.map(x=items, size=unmapped(3))
    from_task = late_echo.map(x=make_list(n), size=unmapped(n))
    return {
        "literal": collect(from_literal),
        "param": collect(from_param),
        "task": collect(from_task),
    }


def test_map_over_a_literal_a_parameter_and_an_upstream_output_keeps_item_order():
    rec = RecordingObserver()
    result = run(mapped, rec, workers=8)

    assert result.state is RunState.SUCCESS
    assert result.output == {"literal": [30, 20, 10, 0], "param": [20, 10, 0], "task": [0, 10, 20, 30]}
    assert result.tasks["late_echo_3"].map_size == 4
    assert result.tasks["late_echo_3"].item_states == [TaskState.SUCCESS] * 4
    assert result.tasks["late_echo_3"].attempts == 4
    sizes = {e.task_key: e.size for e in rec.events if isinstance(e, TaskMapped)}
    assert sizes == {"late_echo": 4, "late_echo_2": 3, "late_echo_3": 4}
    # Every item reported its own running and success, and the node as a whole did too.
    for i in range(4):
        assert rec.states("late_echo_3", map_index=i) == [TaskState.RUNNING, TaskState.SUCCESS]
    assert rec.states("late_echo_3") == [TaskState.RUNNING, TaskState.SUCCESS]
    # The items really finished out of order, yet arrived downstream in order.
    finish = [rec.first_time("late_echo_3", TaskState.SUCCESS, map_index=i) for i in range(4)]
    assert finish[3] < finish[0]


def test_map_over_a_parameter_given_at_run_time():
    result = run(mapped, params={"items": [1, 0], "n": 2})

    assert result.output["param"] == [10, 0]
    assert result.output["task"] == [0, 10]


def test_map_over_an_empty_list_runs_no_item_and_passes_an_empty_list_downstream():
    rec = RecordingObserver()
    result = run(mapped, rec, params={"items": [], "n": 0})

    assert result.state is RunState.SUCCESS
    empty = result.tasks["late_echo_2"]
    assert (empty.state, empty.map_size, empty.item_states, empty.attempts) == (TaskState.SUCCESS, 0, [], 0)
    assert [e.size for e in rec.events if isinstance(e, TaskMapped) and e.task_key == "late_echo_2"] == [0]
    assert rec.states("late_echo_2") == [TaskState.SUCCESS]
    assert result.output["param"] == []
    assert result.output["task"] == []


def test_max_concurrency_bounds_items_running_at_once_even_with_many_workers():
    lock = threading.Lock()
    running = 0
    peak = 0

    @task
    def tracked(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return x

    @pipeline
    def bounded():
        return tracked.map(list(range(8)), max_concurrency=2)

    result = run(bounded, workers=8)

    assert result.state is RunState.SUCCESS
    assert result.output == list(range(8))
    assert peak == 2


@task
def pair(a: int, b: int) -> int:
    return a + b


@pipeline
def uneven_lists():
    totals = pair.map(a=make_list(2), b=make_list(3))
    return collect(totals)


def test_mapped_lists_of_different_lengths_at_run_time_fail_the_node_with_a_clear_error():
    rec = RecordingObserver()
    result = run(uneven_lists, rec)

    assert result.state is RunState.FAILED
    assert result.tasks["pair"].state is TaskState.FAILED
    assert result.tasks["pair"].attempts == 0
    assert result.tasks["collect"].state is TaskState.UPSTREAM_FAILED
    (error,) = result.tasks["pair"].errors
    assert error.type == "suiro.errors.DefinitionError"
    assert error.message.startswith("pair.map: "), "it names the call, once"
    assert "differ in length ('a'=2, 'b'=3)" in error.message
    assert not error.retryable
    failed = [e for e in rec.events if isinstance(e, TaskStateChanged) and e.state is TaskState.FAILED]
    assert [(e.task_key, e.error) for e in failed] == [("pair", error)]


# -- branches and trigger rules -----------------------------------------------------------


@pytest.mark.parametrize(
    ("quality", "ran", "skipped", "message"),
    [
        (0.9, "register", "alert", "registered model scoring 0.9"),
        (0.5, "alert", "register", "alert: model scoring 0.5 is below the bar"),
    ],
)
def test_quality_gate_runs_one_branch_and_the_one_success_join(quality, ran, skipped, message):
    rec = RecordingObserver()
    result = run(gate_module.gate, rec, params={"quality": quality})

    assert result.state is RunState.SUCCESS
    assert result.output == message
    assert result.tasks[ran].state is TaskState.SUCCESS
    assert result.tasks[skipped].state is TaskState.SKIPPED
    assert result.tasks[skipped].attempts == 0
    assert rec.states(skipped) == [TaskState.SKIPPED]
    assert result.tasks["end"].state is TaskState.SUCCESS
    assert rec.outputs()["check"] is (quality >= 0.8)


@task
def ok() -> str:
    return "ok"


@task
def boom() -> str:
    raise RuntimeError("boom on purpose")


@task
def maybe() -> str:
    return "maybe"


@task
def seen(a: Any, b: Any) -> tuple[Any, Any]:
    return (a, b)


def rule(name: str, trigger_rule: str) -> suiro.Task[..., Any]:
    return seen.with_options(name=name, trigger_rule=suiro.TriggerRule(trigger_rule))


@pipeline
def rules(flag: bool = False):
    good = ok()
    bad = boom()
    with when(flag):
        skip = maybe()
        skip2 = maybe()
    all_ok_skip = rule("all_ok_skip", "all_success")(good, skip)
    rule("all_after_skipped", "all_success")(all_ok_skip, good)
    rule("all_ok_bad", "all_success")(good, bad)
    rule("one_ok_bad", "one_success")(good, bad)
    rule("one_skip_bad", "one_success")(skip, bad)
    rule("one_skip_skip", "one_success")(skip, skip2)
    rule("none_ok_skip", "none_failed")(good, skip)
    rule("none_ok_bad", "none_failed")(good, bad)
    rule("done_bad_skip", "all_done")(bad, skip)
    rule("done_ok_bad", "all_done")(good, bad)


def test_trigger_rules_over_success_failed_and_skipped_upstreams():
    rec = RecordingObserver()
    result = run(rules, rec)

    assert result.state is RunState.FAILED
    assert task_states(result) == {
        "ok": TaskState.SUCCESS,
        "boom": TaskState.FAILED,
        "maybe": TaskState.SKIPPED,
        "maybe_2": TaskState.SKIPPED,
        "all_ok_skip": TaskState.SKIPPED,
        "all_after_skipped": TaskState.SKIPPED,
        "all_ok_bad": TaskState.UPSTREAM_FAILED,
        "one_ok_bad": TaskState.SUCCESS,
        "one_skip_bad": TaskState.UPSTREAM_FAILED,
        "one_skip_skip": TaskState.SKIPPED,
        "none_ok_skip": TaskState.SUCCESS,
        "none_ok_bad": TaskState.UPSTREAM_FAILED,
        "done_bad_skip": TaskState.SUCCESS,
        "done_ok_bad": TaskState.SUCCESS,
    }
    outputs = rec.outputs()
    # A task that runs despite a failed or skipped upstream gets None for that input.
    assert outputs["one_ok_bad"] == ("ok", None)
    assert outputs["none_ok_skip"] == ("ok", None)
    assert outputs["done_bad_skip"] == (None, None)
    assert outputs["done_ok_bad"] == ("ok", None)
    assert result.failed() == ["boom"]


@task
def doubled(v: int) -> int:
    return 2 * v


@task(trigger_rule="all_done")
def described(x: Any) -> str:
    return f"ad:{x}"


@pipeline
def maybe_doubled(v: int = 1):
    with when(v > 3):
        twice = doubled(v)
    return {"twice": twice, "described": described(twice), "v": v}


@pipeline
def maybe_plus_one(v: int = 1):
    with when(v > 3):
        twice = doubled(v)
    return twice + 1


def test_the_output_keeps_the_values_of_tasks_that_ran_beside_a_skipped_one():
    # It was None whole: the all_done task's value and the parameter were lost with the skipped one
    skipped = run(maybe_doubled)
    assert skipped.state is RunState.SUCCESS and skipped.tasks["doubled"].state is TaskState.SKIPPED
    assert skipped.output == {"twice": None, "described": "ad:None", "v": 1}
    assert run(maybe_doubled, params={"v": 5}).output == {"twice": 10, "described": "ad:10", "v": 5}
    # an expression over a skipped task's None has no value, and fails nothing
    plus = run(maybe_plus_one)
    assert (plus.state, plus.output, plus.error) == (RunState.SUCCESS, None, None)
    assert run(maybe_plus_one, params={"v": 5}).output == 11


def test_with_options_accepts_a_trigger_rule_by_name_as_task_does():
    joined = seen.with_options(name="joined", trigger_rule="one_success")

    @pipeline
    def by_name():
        return joined(ok(), boom())

    rec = RecordingObserver()
    result = run(by_name, rec)

    assert result.tasks["joined"].state is TaskState.SUCCESS
    assert rec.outputs()["joined"] == ("ok", None)


def test_skipped_propagates_as_skipped_and_a_run_with_only_skips_succeeds():
    @pipeline
    def skips(flag: bool = False):
        with when(flag):
            first = maybe()
        second = rule("second", "all_success")(first, first)
        return rule("third", "all_success")(second, second)

    rec = RecordingObserver()
    result = run(skips, rec)

    assert result.state is RunState.SUCCESS
    assert task_states(result) == {
        "maybe": TaskState.SKIPPED,
        "second": TaskState.SKIPPED,
        "third": TaskState.SKIPPED,
    }
    assert result.output is None
    assert run(skips, params={"flag": True}).output == (("maybe", "maybe"), ("maybe", "maybe"))


# -- failures -----------------------------------------------------------------------------


@pipeline
def broken():
    bad = boom()
    after = rule("after_boom", "all_success")(bad, bad)
    rule("after_after", "all_success")(after, after)
    good = ok()
    return rule("independent", "all_success")(good, good)


def test_a_failed_task_fails_its_dependents_while_an_independent_branch_succeeds():
    rec = RecordingObserver()
    result = run(broken, rec, workers=2)

    assert result.state is RunState.FAILED
    assert result.output == ("ok", "ok")  # the output's task ended ok: a failed run still gives it
    assert result.error == "task boom failed: RuntimeError: boom on purpose"
    assert task_states(result) == {
        "boom": TaskState.FAILED,
        "after_boom": TaskState.UPSTREAM_FAILED,
        "after_after": TaskState.UPSTREAM_FAILED,
        "ok": TaskState.SUCCESS,
        "independent": TaskState.SUCCESS,
    }
    assert result.failed() == ["boom"]
    (error,) = result.tasks["boom"].errors
    assert (error.type, error.message) == ("RuntimeError", "boom on purpose")
    assert "Traceback (most recent call last)" in error.traceback
    assert result.tasks["after_boom"].attempts == 0
    assert rec.states("after_boom") == [TaskState.UPSTREAM_FAILED]
    assert rec.outputs()["independent"] == ("ok", "ok")
    assert isinstance(rec.events[-1], RunFinished)
    assert rec.events[-1].state is RunState.FAILED


@pipeline
def fail_fast_shape():
    boom()
    waited = slow(0.3)
    return rule("after_slow", "all_success")(waited, waited)


def test_fail_fast_leaves_not_yet_started_tasks_pending_and_fails_the_run():
    rec = RecordingObserver()
    result = run(fail_fast_shape, rec, workers=2, fail_fast=True)

    assert result.state is RunState.FAILED
    assert result.tasks["boom"].state is TaskState.FAILED
    # Already running when boom failed: allowed to finish.
    assert result.tasks["slow"].state is TaskState.SUCCESS
    assert result.tasks["after_slow"].state is TaskState.PENDING
    assert result.tasks["after_slow"].attempts == 0
    assert rec.states("after_slow") == []


def test_without_fail_fast_the_same_pipeline_runs_everything_it_can():
    result = run(fail_fast_shape, workers=2)

    assert result.state is RunState.FAILED
    assert result.tasks["after_slow"].state is TaskState.SUCCESS


# -- context and captured output ----------------------------------------------------------


def make_who() -> suiro.Pipeline:
    """Built inside a function so worker processes get the tasks by value, whatever the import mode."""

    @task(retries=1)
    def introspect(tag: str) -> dict[str, Any]:
        ctx = suiro.context()
        if ctx.attempt == 1 and tag == "retry":
            raise ConnectionError("first attempt fails so the second can report attempt 2")
        return {
            "run_id": ctx.run_id,
            "task_key": ctx.task_key,
            "attempt": ctx.attempt,
            "map_index": ctx.map_index,
            "params": dict(ctx.params),
        }

    @pipeline
    def who(label: str = "hello"):
        return {
            "plain": introspect("plain"),
            "retried": introspect("retry"),
            "items": introspect.map(["a", "b"]),
        }

    return who


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_context_inside_a_task_gives_run_task_attempt_and_params(executor):
    result = run(make_who(), params={"label": "hi"}, executor=executor, workers=2, run_id="run-ctx-1")

    assert result.run_id == "run-ctx-1"
    base = {"run_id": "run-ctx-1", "params": {"label": "hi"}}
    assert result.output == {
        "plain": {**base, "task_key": "introspect", "attempt": 1, "map_index": -1},
        "retried": {**base, "task_key": "introspect_2", "attempt": 2, "map_index": -1},
        "items": [
            {**base, "task_key": "introspect_3", "attempt": 1, "map_index": 0},
            {**base, "task_key": "introspect_3", "attempt": 1, "map_index": 1},
        ],
    }


def test_context_outside_a_task_is_an_error():
    with pytest.raises(suiro.SuiroError, match=r"suiro.context\(\) was called outside a running task"):
        suiro.context()


@task
def scored(xs: list[float]) -> float:
    suiro.log_metric("mean", sum(xs) / len(xs))
    return max(xs)


def test_a_task_that_logs_metrics_is_unit_tested_as_a_plain_function():
    # It raised "log_metric was called outside a running task": the README's own promise broken
    assert scored([1.0, 3.0]) == 3.0
    with pytest.raises(suiro.SuiroError, match="metric 'x' must be a number, got 'high'"):
        suiro.log_metric("x", "high")


@task
def talk(name: str) -> str:
    log = suiro.get_logger()
    for i in range(15):
        print(f"{name} line {i}")
        if i % 5 == 0:
            log.info("%s logged %d", name, i)
        time.sleep(0.01)
    print(f"{name} complains", file=sys.stderr)
    return name


@pipeline
def chatter():
    return [talk("ann"), talk("bob"), talk("cyd"), talk("dan")]


def expected_lines(name: str) -> list[str]:
    lines = []
    for i in range(15):
        lines.append(f"{name} line {i}")
        if i % 5 == 0:
            lines.append(f"INFO {name} logged {i}")
    return [*lines, f"[stderr] {name} complains"]


def test_output_and_log_lines_are_captured_per_task_when_tasks_run_concurrently(capsys):
    rec = RecordingObserver()
    result = run(chatter, rec, workers=4)

    assert result.state is RunState.SUCCESS
    keys = {"talk": "ann", "talk_2": "bob", "talk_3": "cyd", "talk_4": "dan"}
    starts = [rec.first_time(key, TaskState.RUNNING) for key in keys]
    ends = [rec.first_time(key, TaskState.SUCCESS) for key in keys]
    assert max(starts) < min(ends), "the four tasks should have overlapped"
    logged: dict[str, list[tuple[str, ...]]] = {}
    for e in rec.events:
        if isinstance(e, TaskLogged):
            logged.setdefault(e.task_key, []).append(e.lines)
    for key, name in keys.items():
        assert result.tasks[key].lines == expected_lines(name)
        assert logged[key] == [tuple(expected_lines(name))]
    # Nothing a task wrote leaked to the real stdout/stderr.
    out, err = capsys.readouterr()
    assert "line" not in out
    assert "complains" not in err


@task(retries=1, retry_on=(ConnectionError,))
def speaks(x: int) -> int:
    attempt = suiro.context().attempt
    print(f"item {x} attempt {attempt}")
    if x == 1 and attempt == 1:
        raise ConnectionError("item 1 fails once")
    return x


@pipeline
def speaking():
    return speaks.map([0, 1])


def test_each_attempt_names_its_log_file_in_its_events_and_the_record_keeps_that_path(suiro_home):
    rec = RecordingObserver()
    result = run(speaking, rec)

    assert result.output == [0, 1]
    logs = suiro_home / "logs" / result.run_id
    first, second = str(logs / "speaks[1].1.log"), str(logs / "speaks[1].2.log")
    assert [(e.state, e.attempt, e.log_path) for e in rec.changes("speaks", map_index=1)] == [
        (TaskState.RUNNING, 1, first),
        (TaskState.RETRYING, 1, first),
        (TaskState.RUNNING, 2, second),
        (TaskState.SUCCESS, 2, second),
    ]
    assert [Path(p).read_text() for p in (first, second)] == ["item 1 attempt 1\n", "item 1 attempt 2\n"]
    assert [e.log_path for e in rec.changes("speaks")] == [None, None], "the mapped node itself ran nothing"
    with sqlite3.connect(suiro_home / "suiro.db") as db:
        recorded = db.execute("SELECT map_index, attempt, log_path FROM attempts ORDER BY map_index, attempt")
        assert recorded.fetchall() == [(0, 1, str(logs / "speaks[0].1.log")), (1, 1, first), (1, 2, second)]
