"""Authoring features run for real: any callable as a task, expressions on task outputs,
pipeline-wide task defaults, nested configuration and sub-pipelines.

Pipelines are traced and run with ``suiro.run`` on a real executor and store (``SUIRO_HOME`` is a
``tmp_path``); results are read from the ``RunResult`` and the record.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock, Mock

import pytest
from pydantic import BaseModel

import suiro
from suiro import RunState, TaskState, pipeline, task, when


def run(pipe: Any, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("executor", "threads")
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, **kwargs)


# --- any callable is a task -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [Mock(return_value=7), MagicMock(return_value=7), functools.partial(operator.add, 3, 4)],
    ids=["Mock", "MagicMock", "partial"],
)
def test_a_mock_or_any_callable_runs_as_a_task(fn):
    fake = task(fn)

    @pipeline
    def p():
        return fake()

    result = run(p)

    assert result.state is RunState.SUCCESS, result
    assert result.output == 7
    assert result.tasks["task"].state is TaskState.SUCCESS
    if isinstance(fn, Mock):
        fn.assert_called_once_with()
    node = p.graph.to_dict()["nodes"][0]
    assert node["function"] == (
        repr(fn) if isinstance(fn, Mock) else f"functools.partial({operator.add!r}, 3, 4)"
    )


# --- expressions on task outputs ------------------------------------------------------------------


@task
def evaluate(quality: float) -> dict[str, float]:
    return {"accuracy": quality, "loss": 1 - quality}


@task
def register(metrics: dict[str, float]) -> str:
    return f"registered at {metrics['accuracy']}"


@task
def alert(metrics: dict[str, float]) -> str:
    return f"too low: {metrics['accuracy']}"


@task(trigger_rule="one_success")
def report(registered: str | None, alerted: str | None) -> str:
    return registered or alerted  # type: ignore[return-value]


@task
def read(path: str) -> str:
    return f"read {path}"


@task
def echo(value: Any) -> Any:
    return value


@pipeline
def gated(quality: float = 0.9, threshold: float = 0.8, workdir: str = "/data"):
    metrics = evaluate(quality)
    passed = metrics["accuracy"] >= threshold
    with when(passed):
        registered = register(metrics)
    with when(~passed):
        alerted = alert(metrics)
    return report(registered, alerted), read(workdir + "/input.csv"), read("s3://bucket" + workdir)


@pytest.mark.parametrize(
    ("threshold", "ran", "skipped", "said"),
    [(0.8, "register", "alert", "registered at 0.9"), (0.95, "alert", "register", "too low: 0.9")],
)
def test_a_comparison_of_outputs_picks_the_branch_when_the_run_gets_there(threshold, ran, skipped, said):
    result = run(gated, params={"threshold": threshold})

    assert result.state is RunState.SUCCESS, result
    assert result.tasks[ran].state is TaskState.SUCCESS
    assert result.tasks[skipped].state is TaskState.SKIPPED
    assert result.output == (said, "read /data/input.csv", "read s3://bucket/data")


@pipeline
def arithmetic(a: int = 7, b: int = 2, name: str = "model"):
    n = echo(a)
    return echo(
        [
            n + b,
            n - b,
            b - n,
            n * b,
            n / b,
            n // b,
            n % b,
            n**b,
            -n,
            +n,
            abs(b - n),
            (n > b) & (b > 0),
            (n < b) | (b == 2),
        ]
    ), echo(name + "-v2")


def test_every_operator_computes_what_python_would():
    result = run(arithmetic)

    assert result.state is RunState.SUCCESS, result
    numbers, text = result.output
    assert numbers == [9, 5, -5, 14, 3.5, 3, 1, 49, -7, 7, 5, True, True]
    assert text == "model-v2"


@task
def count_rows(n: int) -> dict[str, int]:
    return {"rows": n}


CALLS: list[Any] = []


@task
def consume(value: Any) -> Any:
    CALLS.append(value)
    return value


@pipeline
def derived(n: int = 3, offset: int = 10):
    return consume(count_rows(n)["rows"] + offset)


def test_an_expression_value_is_part_of_its_consumers_cache_key():
    CALLS.clear()
    first = run(derived)
    again = run(derived)
    changed = run(derived, params={"offset": 20})

    assert first.output == again.output == 13 and changed.output == 23
    assert again.tasks["consume"].state is TaskState.CACHED
    assert changed.tasks["count_rows"].state is TaskState.CACHED  # the upstream did not change
    assert changed.tasks["consume"].state is TaskState.SUCCESS  # its input, an expression, did
    assert CALLS == [13, 23]


@pipeline
def broken(n: int = 3):
    return consume(count_rows(n)["rows"] + "rows")


def test_an_expression_that_fails_at_run_time_fails_its_consumer_naming_the_expression():
    result = run(broken)

    assert result.state is RunState.FAILED
    assert result.tasks["consume"].state is TaskState.FAILED
    error = result.tasks["consume"].errors[-1]
    assert error.type == "suiro.errors.ExpressionError"
    assert re.fullmatch(
        r"task consume at .*test_authoring\.py:\d+ could not get its inputs: suiro.errors.ExpressionError: "
        r"expression "
        r"count_rows\['rows'\] \+ 'rows' failed: TypeError: unsupported operand type\(s\) for \+: 'int' and "
        r"'str'; check the values it gets \(an upstream task that was skipped or failed gives None\)\.",
        error.message,
    ), error.message


# --- pipeline-wide task defaults ------------------------------------------------------------------


ATTEMPTS: dict[str, int] = {}


@task
def flaky(name: str) -> str:
    ATTEMPTS[name] = ATTEMPTS.get(name, 0) + 1
    if ATTEMPTS[name] < 3:
        raise ConnectionError(f"attempt {ATTEMPTS[name]} of {name} failed")
    return f"{name} ok"


@task(retries=0)
def fragile(name: str) -> str:
    return flaky.fn(name)


@pipeline(task_defaults={"retries": 2, "retry_delay": 0.01})
def defaulted():
    return flaky("a"), fragile("b")


def test_task_defaults_retry_every_task_except_one_that_sets_its_own_retries():
    ATTEMPTS.clear()
    result = run(defaulted)

    assert result.tasks["flaky"].state is TaskState.SUCCESS
    assert result.tasks["flaky"].attempts == 3
    assert result.tasks["fragile"].state is TaskState.FAILED  # @task(retries=0) wins
    assert result.tasks["fragile"].attempts == 1


# --- sub-pipelines ------------------------------------------------------------------------------------


@task
def load(source: str) -> list[int]:
    return [1, 2, 3, 4]


@task
def clean(rows: list[int], limit: int) -> list[int]:
    print(f"cleaning {len(rows)} rows up to {limit}")
    return [r for r in rows if r <= limit]


@task
def scale(rows: list[int], factor: float) -> list[float]:
    return [r * factor for r in rows]


@task
def total(a: list[float], b: list[float]) -> float:
    return sum(a) + sum(b)


@pipeline
def prep(rows: list[int], limit: int = 3, factor: float = 2.0):
    return scale(clean(rows, limit), factor)


@pipeline
def twice(source: str = "s3://x", factor: float = 10.0):
    rows = load(source)
    return total(prep(rows), prep(rows, limit=2, factor=factor))


def test_a_sub_pipeline_runs_as_a_group_of_ordinary_tasks(suiro_home):
    first = run(twice)
    again = run(twice)
    changed = run(twice, params={"factor": 100.0})

    assert first.output == (1 + 2 + 3) * 2.0 + (1 + 2) * 10.0
    assert list(first.tasks) == ["load", "prep.clean", "prep.scale", "prep_2.clean", "prep_2.scale", "total"]
    assert {t.state for t in again.tasks.values()} == {TaskState.CACHED}
    assert changed.output == 12.0 + 300.0
    assert changed.tasks["prep.scale"].state is TaskState.CACHED
    assert changed.tasks["prep_2.scale"].state is TaskState.SUCCESS  # only its factor changed
    (attempt,) = suiro.history.logs(first.run_id, "prep_2.clean", home=suiro_home)
    assert attempt["lines"] == ["cleaning 4 rows up to 2"]
    assert suiro.history.explain(changed.run_id, "prep_2.scale", home=suiro_home)["state"] == "success"


# --- nested configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Forest:
    n_estimators: int
    max_depth: int = 3


class Optimizer(BaseModel):
    lr: float
    layers: list[int] = [1]


FITS: list[tuple[Forest, Optimizer]] = []


@task
def fit(model: Forest, optimizer: Optimizer, fail_flag: str) -> str:
    FITS.append((model, optimizer))
    if Path(fail_flag).exists():
        raise RuntimeError("the first fit fails")
    return f"{model.n_estimators} trees at depth {model.max_depth}, lr {optimizer.lr}"


@pipeline
def tuned(fail_flag: str, model: Forest = Forest(100), optimizer: Optimizer = Optimizer(lr=0.1)):  # noqa: B008
    return fit(model, optimizer, fail_flag)


def test_structured_parameters_set_by_field_run_cache_and_resume(tmp_path, suiro_home):
    flag = tmp_path / "fail"
    flag.touch()
    overrides = ["model.n_estimators=200", "optimizer.lr=0.5", f"fail_flag={flag}"]
    FITS.clear()

    failed = run(tuned, overrides=overrides)
    flag.unlink()
    resumed = suiro.api.resume(failed.run_id, executor="threads", home=suiro_home)
    again = run(tuned, overrides=overrides)

    assert failed.state is RunState.FAILED
    assert resumed.state is RunState.SUCCESS, resumed
    assert resumed.output == "200 trees at depth 3, lr 0.5"
    assert [(Forest(200, 3), Optimizer(lr=0.5))] * 2 == FITS  # the resume got the same values back
    assert again.tasks["fit"].state is TaskState.CACHED  # a pydantic model has a fingerprint
    recorded = suiro.history.show(failed.run_id, home=suiro_home)["params"]
    assert recorded["model"] == {"n_estimators": 200, "max_depth": 3}
    assert recorded["optimizer"] == {"lr": 0.5, "layers": [1]}


@task
def doubled_text(x: str) -> str:
    return x * 2


@pipeline
def mapped_over_text(items: str = "abc"):
    return doubled_text.map(items)


def test_mapping_over_a_value_that_is_not_a_list_is_said_once():
    # "could not get its inputs: suiro.errors.DefinitionError: ..." wrapped the sentence in another
    result = run(mapped_over_text)
    (error,) = result.tasks["doubled_text"].errors
    assert error.message == (
        "doubled_text.map: argument #1 is 'abc' (str), not a list; wrap it in unmapped() to pass it "
        "whole to every item."
    )
