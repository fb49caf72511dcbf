"""Every example in examples/ runs, and does what its docstring says."""

from __future__ import annotations

from pathlib import Path

import pytest

import suiro
from suiro.config import resolve_params
from suiro.states import RunState, TaskState

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(name: str, tmp_path: Path, **params):
    pipe = suiro.load_pipeline(str(EXAMPLES / f"{name}.py"))
    return suiro.run(pipe, params=params, environ={}, home=tmp_path / "home")


def test_basic_flow_trains_and_checks_quality(tmp_path):
    result = run("basic", tmp_path)
    assert result.ok, result.tasks
    assert result.output["accuracy"] >= 0.9
    failed = run("basic", tmp_path, min_accuracy=1.01)
    assert failed.state is RunState.FAILED
    assert "accuracy" in failed.tasks["check_quality"].errors[-1].message


def test_parallel_models_trains_every_model_and_keeps_the_best(tmp_path):
    result = run("parallel_models", tmp_path)
    assert result.ok
    assert result.tasks["train"].item_states == [TaskState.SUCCESS] * 3
    assert result.output in {"random_forest", "logistic_regression", "gradient_boosting"}


def test_tuning_picks_parameters_from_the_grid_then_trains(tmp_path):
    result = run("tuning", tmp_path, grid={"n_estimators": [20, 40], "max_depth": [2, 4]})
    assert result.ok
    assert result.output["best_params"]["n_estimators"] in (20, 40)
    assert result.output["best_params"]["max_depth"] in (2, 4)
    assert 0.8 < result.output["test"]["roc_auc"] <= 1.0


@pytest.mark.parametrize(
    ("threshold", "ran", "skipped"), [(0.5, "publish", "raise_alert"), (1.01, "raise_alert", "publish")]
)
def test_quality_gate_takes_one_branch_and_joins(tmp_path, threshold, ran, skipped):
    result = run("quality_gate", tmp_path, threshold=threshold)
    assert result.ok
    assert result.tasks[ran].state is TaskState.SUCCESS
    assert result.tasks[skipped].state is TaskState.SKIPPED
    assert result.output.startswith("published" if ran == "publish" else "model ")


def test_retries_back_off_on_connection_errors_only(tmp_path):
    retried = run("retries", tmp_path)
    assert retried.ok and retried.output == 42
    assert retried.tasks["fetch"].attempts == 3
    assert [e.type for e in retried.tasks["fetch"].errors] == ["ConnectionError", "ConnectionError"]
    refused = run("retries", tmp_path, url="http://plain.invalid", failures=0)
    assert refused.tasks["fetch"].attempts == 1  # ValueError is not in retry_on
    assert refused.tasks["fetch"].errors[-1].type == "ValueError"


def test_the_example_config_is_valid_for_the_built_in_pipeline():
    from suiro.ml.pipeline import training

    values = resolve_params(
        training.params, pipeline="training", config_file=EXAMPLES / "config.yaml", environ={}
    )
    defaults = {p.name: p.default for p in training.params}
    assert values == defaults  # the file documents the defaults, key by key
