"""suiro.ml tasks inside real pipelines: traced, run, retried, metrics recorded, nothing mocked.

collect -> validate -> split -> train.map over two models -> evaluate.map -> pick_best ->
quality_gate, and a branch on the decision; metrics are checked through the MetricLogged
events a recording observer receives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.observer import RecordingObserver

import suiro
from suiro import RunState, TaskState, pipeline, task, unmapped, when
from suiro.events import Event, TaskStateChanged
from suiro.ml import (
    Candidate,
    GateDecision,
    evaluate,
    load_dataset,
    pick_best,
    quality_gate,
    split,
    train,
    validate,
)


@task
def register(best: Candidate, decision: GateDecision) -> str:
    return f"registered {best.model} ({decision.metric} {decision.value:.3f})"


@task
def alert(decision: GateDecision) -> str:
    return "alert: " + "; ".join(decision.reasons)


@task(trigger_rule="one_success")
def report(registered: str | None, alerted: str | None) -> str:
    return registered or alerted or ""


@pipeline
def training(
    source: str = "sklearn:breast_cancer",
    models: list[str] = ["logistic_regression", "random_forest"],  # noqa: B006 - defaults are data
    params: list[dict[str, Any]] = [{}, {"n_estimators": 20}],  # noqa: B006
    threshold: float = 0.9,
    min_rows: int = 100,
):
    data = split(validate(load_dataset(source), min_rows=min_rows, min_class_share=0.2), seed=0)
    trained = train.map(split=unmapped(data), model=models, params=params)
    best = pick_best(evaluate.map(trained, split=unmapped(data)), trained, metric="roc_auc")
    decision = quality_gate(best, threshold)
    with when(decision):
        registered = register(best, decision)
    with when(~decision):
        alerted = alert(decision)
    return report(registered, alerted)


def _run(pipe: Any, recorder: RecordingObserver, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("record", False)
    return suiro.run(pipe, observers=[recorder], environ={}, **kwargs)


def test_training_pipeline_runs_and_logs_every_metric():
    recorder = RecordingObserver()
    result = _run(training, recorder)
    assert result.state is RunState.SUCCESS, result.failed()
    assert result.output.startswith("registered ")
    metrics = recorder.metrics()
    for model in ("logistic_regression", "random_forest"):
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            assert 0.5 < metrics[f"{model}.{name}"] <= 1.0
    assert metrics["quality_gate.passed"] == 1.0
    assert result.tasks["alert"].state is TaskState.SKIPPED


def test_the_gate_branches_to_the_alert_when_the_bar_is_too_high():
    recorder = RecordingObserver()
    result = _run(training, recorder, params={"threshold": 1.01}, executor="sequential")
    assert result.state is RunState.SUCCESS
    assert result.output.startswith("alert: roc_auc ") and "< threshold 1.01" in result.output
    assert recorder.metrics()["quality_gate.passed"] == 0.0


def test_failed_validation_stops_the_run_before_training():
    recorder = RecordingObserver()
    result = _run(training, recorder, params={"min_rows": 1000}, executor="sequential")
    assert result.state is RunState.FAILED
    assert result.failed() == ["validate"]
    error = result.tasks["validate"].errors[-1]
    assert error.type.endswith("DataValidationError")
    assert error.message.startswith("1 check failed: rows 569 < min_rows 1000")
    assert result.tasks["train"].state is TaskState.UPSTREAM_FAILED
    assert not recorder.metrics()


@pipeline
def collect_only(source: str):
    return load_dataset(source)


def test_an_unreachable_database_is_retried_until_it_answers(tmp_path, manual_clock):
    folder = tmp_path / "db"
    source = f"sql:sqlite:///{folder}/data.db::SELECT 1 AS x"

    class MakeReachableOnRetry(RecordingObserver):
        def notify(self, event: Event) -> None:
            super().notify(event)
            if isinstance(event, TaskStateChanged) and event.state is TaskState.RETRYING:
                Path(folder).mkdir(exist_ok=True)

    recorder = MakeReachableOnRetry()
    result = _run(collect_only, recorder, params={"source": source}, executor="sequential")
    assert result.state is RunState.SUCCESS
    assert result.output.to_dict("list") == {"x": [1]}
    states = [e.state for e in recorder.events if isinstance(e, TaskStateChanged)]
    assert states.count(TaskState.RETRYING) == 1
    assert manual_clock.sleeps == [1.0], "load_dataset's first retry delay, waited on the run's clock"


def test_ml_tasks_run_recorded_on_the_process_executor():
    """Outputs (frames, splits, fitted pipelines) cross process boundaries and are stored as artifacts."""
    recorder = RecordingObserver()
    result = _run(training, recorder, executor="processes", record=True)
    assert result.state is RunState.SUCCESS, {k: t.errors for k, t in result.tasks.items() if t.errors}
    assert result.output.startswith("registered ")
    assert "random_forest.roc_auc" in recorder.metrics()


def test_the_built_in_pipeline_trains_on_a_csv_with_its_own_label_and_missing_values(tmp_path):
    # Its label had to be called "target" and no value could be missing (max_null_share 0), though
    # the models' preprocessing imputes: a user's own CSV failed validation
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from suiro.ml.pipeline import training as built_in

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "malignant"})
    frame.iloc[::10, 2] = np.nan
    frame.to_csv(tmp_path / "own.csv", index=False)
    params = {"source": f"csv:{tmp_path / 'own.csv'}", "models": ["logistic_regression"]}
    params |= {"model_name": "own", "target": "malignant", "max_null_share": 0.2}
    result = suiro.run(built_in, params, environ={}, home=tmp_path / "home", executor="sequential")
    assert result.state is RunState.SUCCESS, result.error
    assert result.tasks["register"].state is TaskState.SUCCESS
    refused = suiro.run(built_in, {**params, "max_null_share": 0.0}, environ={}, home=tmp_path / "home")
    assert refused.tasks["validate"].state is TaskState.FAILED, "missing values are still checked"
