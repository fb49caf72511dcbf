"""Dynamic pipelines run for real: plain Python over task results, parallel ``.submit()``,
retries, caching across runs, resume by call identity, the processes executor.

Which task bodies ran is proven by the ledger file they append to (``pipelines.store_chain``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from pipelines import dynamic

import suiro
from suiro import RunState, TaskState
from suiro.cancel import Cancellation
from suiro.errors import DefinitionError


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.txt"
    monkeypatch.setenv("SUIRO_TEST_LEDGER", str(path))
    monkeypatch.setenv("SUIRO_TEST_FLAGS", str(tmp_path))
    return path


def ran(ledger: Path) -> Counter[str]:
    """What ran since the last call, then forget it."""
    lines = ledger.read_text().split() if ledger.exists() else []
    ledger.write_text("")
    return Counter(lines)


def test_if_and_for_over_real_results_run_each_call_as_a_recorded_task(ledger: Path):
    result = suiro.run(dynamic.select, params={"n": 3}, environ={})

    assert result.state is RunState.SUCCESS
    assert result.output == "rf"
    assert list(result.tasks) == ["load", "train", "evaluate", "train_2", "evaluate_2"]
    assert all(t.state is TaskState.SUCCESS for t in result.tasks.values())
    assert ran(ledger) == Counter(["load", "train-lr", "evaluate-lr", "train-rf", "evaluate-rf"])
    recorded = suiro.history.show(result.run_id)
    assert [t["task_key"] for t in recorded["tasks"]] == list(result.tasks)
    assert {t["state"] for t in recorded["tasks"]} == {"success"}


def test_a_while_loop_runs_until_its_condition_on_results_fails(ledger: Path):
    result = suiro.run(dynamic.until, params={"target": 10}, environ={})

    assert result.output == 12
    assert list(result.tasks) == ["step", "step_2", "step_3", "step_4"]


def test_the_second_run_reuses_every_call_and_a_changed_parameter_reruns_only_what_it_reaches(ledger: Path):
    suiro.run(dynamic.select, params={"n": 3}, environ={})
    ran(ledger)

    again = suiro.run(dynamic.select, params={"n": 3}, environ={})
    assert again.output == "rf"
    assert {t.state for t in again.tasks.values()} == {TaskState.CACHED}
    assert ran(ledger) == Counter()

    fewer = suiro.run(dynamic.select, overrides=["model_types=['lr']"], params={"n": 3}, environ={})
    assert fewer.output == "lr"
    assert list(fewer.tasks) == ["load", "train", "evaluate"]
    assert ran(ledger) == Counter()  # the same calls with the same inputs: all reused

    bigger = suiro.run(dynamic.select, overrides=["n=4"], environ={})
    assert bigger.state is RunState.SUCCESS
    assert ran(ledger) == Counter(["load", "train-lr", "evaluate-lr", "train-rf", "evaluate-rf"])


def test_a_failed_call_fails_the_run_and_resume_redoes_only_what_did_not_succeed(
    ledger: Path, tmp_path: Path
):
    flag = tmp_path / "fail-train-rf"
    flag.touch()
    failed = suiro.run(dynamic.select, params={"n": 3}, environ={})

    assert failed.state is RunState.FAILED
    assert failed.tasks["train_2"].state is TaskState.FAILED
    assert "evaluate_2" not in failed.tasks  # the body stopped at the failed call
    assert ran(ledger) == Counter(["load", "train-lr", "evaluate-lr", "train-rf"])

    flag.unlink()
    resumed = suiro.resume(failed.run_id, pipeline=dynamic.select)

    assert resumed.state is RunState.SUCCESS
    assert resumed.output == "rf"
    assert ran(ledger) == Counter(["train-rf", "evaluate-rf"])
    cached = [k for k, t in resumed.tasks.items() if t.state is TaskState.CACHED]
    assert cached == ["load", "train", "evaluate"]


def test_submitted_calls_run_at_the_same_time(ledger: Path):
    result = suiro.run(dynamic.parallel, params={"count": 3, "seconds": 0.4}, executor="threads", environ={})

    assert result.state is RunState.SUCCESS
    spans = result.output
    assert [name for name, _, _ in spans] == ["nap0", "nap1", "nap2"]
    assert max(start for _, start, _ in spans) < min(end for _, _, end in spans)  # all overlapped


def test_futures_passed_to_a_task_become_its_inputs_and_edges(ledger: Path):
    result = suiro.run(dynamic.joined, params={"count": 3}, environ={})

    assert result.state is RunState.SUCCESS
    assert result.output == 0.0 + 1.0 + 2.0
    graph = suiro.history.show(result.run_id)
    assert [t["task_key"] for t in graph["tasks"]][-1] == "total"


def test_a_failing_call_is_retried_by_its_task_options(tmp_path: Path):
    result = suiro.run(dynamic.retried, params={"counter": str(tmp_path / "count")}, environ={})

    assert result.state is RunState.SUCCESS
    assert result.output == 3
    assert result.tasks["flaky"].attempts == 3
    assert len(result.tasks["flaky"].errors) == 2


def test_the_body_may_catch_a_failed_call(ledger: Path, tmp_path: Path):
    (tmp_path / "fail-train-rf").touch()
    result = suiro.run(dynamic.tolerant, environ={})

    assert result.tasks["train"].state is TaskState.FAILED
    assert result.state is RunState.FAILED  # a failed task fails the run, caught or not


def test_an_error_in_the_body_fails_the_run_naming_its_line(ledger: Path):
    result = suiro.run(dynamic.broken, environ={})

    assert result.state is RunState.FAILED
    assert result.tasks["load"].state is TaskState.SUCCESS
    assert result.error is not None
    assert result.error.startswith("pipeline broken raised TypeError: list indices must be integers")
    assert "pipelines/dynamic.py:" in result.error
    assert result.error.endswith("fix that line, then resume the run.")


def test_a_mapped_call_returns_the_list_and_its_items_are_cached(ledger: Path):
    first = suiro.run(dynamic.mapped, params={"n": 4}, environ={})
    assert first.output == 0 + 1 + 4 + 9
    assert ran(ledger)["square-3"] == 1

    again = suiro.run(dynamic.mapped, params={"n": 4}, environ={})
    assert again.output == 14
    assert ran(ledger) == Counter()


def test_calls_run_on_the_processes_executor(ledger: Path):
    result = suiro.run(dynamic.select, params={"n": 3}, executor="processes", workers=2, environ={})

    assert result.state is RunState.SUCCESS, result
    assert result.output == "rf"
    assert ran(ledger) == Counter(["load", "train-lr", "evaluate-lr", "train-rf", "evaluate-rf"])


def test_submit_outside_a_dynamic_pipeline_says_what_to_do():
    with pytest.raises(
        DefinitionError,
        match=r"^nap.submit at .*test_dynamic.py:\d+ only works in a "
        r"@pipeline\(dynamic=True\) body; call nap\(\.\.\.\) instead\.$",
    ):
        dynamic.nap.submit("x", 0)


def test_a_bad_call_in_the_body_fails_the_run_naming_the_call_and_its_line():
    result = suiro.run(dynamic.miscalled, environ={})

    assert result.state is RunState.FAILED
    assert result.tasks == {}
    assert result.error is not None
    assert "raised DefinitionError: load() at " in result.error
    assert "pipelines/dynamic.py:" in result.error
    assert "too many positional arguments; its parameters are (n) at " in result.error


def test_a_call_that_runs_past_its_timeout_fails_with_the_timeout_error():
    result = suiro.run(dynamic.sleepy, params={"seconds": 5.0}, executor="processes", environ={})

    assert result.state is RunState.FAILED
    assert result.tasks["slow"].state is TaskState.FAILED
    assert [e.type for e in result.tasks["slow"].errors] == ["suiro.errors.TaskTimeoutError"]


def test_a_cancelled_dynamic_run_stops_at_the_running_call_and_is_recorded_cancelled():
    cancel = Cancellation()
    timer = threading.Timer(0.5, cancel.request, args=("SIGTERM", "cancelled by the test"))
    timer.start()
    started = time.monotonic()
    result = suiro.run(dynamic.endless, environ={}, cancel=cancel, executor="threads")

    assert result.state is RunState.CANCELLED
    assert time.monotonic() - started < 5
    assert suiro.history.show(result.run_id)["state"] == "cancelled"
    assert not any(t.state in (TaskState.RUNNING, TaskState.PENDING) for t in result.tasks.values())


def test_when_in_a_dynamic_body_says_to_write_a_plain_if(ledger: Path):
    result = suiro.run(dynamic.guarded, environ={})

    assert result.state is RunState.FAILED
    assert result.error is not None
    assert "raised DefinitionError: when() at " in result.error
    assert "is for static pipelines; in a @pipeline(dynamic=True) body write a plain if" in result.error
