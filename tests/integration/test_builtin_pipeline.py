"""The built-in training pipeline end to end: train, gate, register, alert, deploy, rerun."""

from __future__ import annotations

import pickle

import pytest
from pipelines.webhook_stub import Hook

import suiro
from suiro import history
from suiro.ml.pipeline import training
from suiro.registry import Registry
from suiro.states import RunState, TaskState
from suiro.store.home import Store

#: Small enough for the test suite; the same shape as the defaults.
SMALL = {
    "models": ["random_forest", "logistic_regression"],
    "grids": {"random_forest": {"n_estimators": [10, 20]}, "logistic_regression": {"C": [0.5, 1.0]}},
    "cv": 2,
}


def run(home, **params):
    return suiro.run(training, params={**SMALL, **params}, environ={}, home=home)


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def test_a_first_run_trains_registers_and_promotes_then_a_rerun_is_all_cache_hits(home):
    first = run(home)
    assert first.ok, {k: t.errors for k, t in first.tasks.items() if t.errors}
    production = Registry(home).get("sklearn_breast_cancer", "production")
    assert production.version == 1
    assert production.metrics["roc_auc"] > 0.9
    assert production.params["model"] in SMALL["models"]
    assert production.input_schema[0] == {"name": "mean radius", "dtype": "float64"}
    assert first.output["production"] == "sklearn_breast_cancer v1"
    assert set(first.output["models"]) == set(SMALL["models"])
    assert first.tasks["alert"].state is TaskState.SKIPPED

    second = run(home)
    states = {k: t.state for k, t in second.tasks.items()}
    assert states.pop("alert") is TaskState.SKIPPED
    assert set(states.values()) == {TaskState.CACHED}, states
    assert second.output == first.output
    assert [v.version for v in Registry(home).versions("sklearn_breast_cancer")] == [1]


def test_fresh_runs_train_identical_models_and_register_them_once(home):
    first = run(home)
    again = suiro.run(training, params=SMALL, environ={}, home=home, fresh=True)
    assert again.tasks["train_best"].state is TaskState.SUCCESS  # really trained again
    # The same models, field for field and array for array. Not always the same stored bytes: a
    # pickle's memo follows which equal strings are one object, which differs between a worker
    # process that trained before and a new one; a pickle loaded and dumped again has none of that.
    store = Store(home)
    models = [
        {
            a["map_index"]: pickle.dumps(pickle.loads(store.artifacts.get_bytes(a["digest"])))
            for a in history.artifacts(r.run_id, home=home)
            if a["task_key"] == "train_best" and a["map_index"] >= 0
        }
        for r in (first, again)
    ]
    store.close()
    assert len(models[0]) == 2 and models[0] == models[1]
    assert len(Registry(home).versions("sklearn_breast_cancer")) == 1


def test_the_served_production_model_predicts_like_the_pipeline_trained_it(home):
    from sklearn.datasets import load_breast_cancer

    assert run(home).ok
    registry = Registry(home)
    model = registry.load(registry.get("sklearn_breast_cancer", "production"))
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    assert (model.predict(frame) == load_breast_cancer().target).mean() > 0.9


def test_a_model_below_the_threshold_takes_the_alert_branch_and_posts_the_webhook(home):
    hook = Hook([200])
    try:
        result = run(home, threshold=1.01, webhook=hook.url)
    finally:
        hook.close()
    assert result.ok
    assert result.tasks["register"].state is TaskState.SKIPPED
    assert result.tasks["alert"].state is TaskState.SUCCESS
    assert result.tasks["deploy"].state is TaskState.SUCCESS
    (request,) = hook.requests
    assert "did not pass the quality gate" in request["body"]["text"]
    assert "< threshold 1.01" in request["body"]["text"]
    assert result.output["production"] == "none"


def test_an_alert_that_cannot_be_delivered_is_recorded_and_does_not_fail_the_run(home):
    # The webhook rejects the alert (403), so it is not retried: the 5xx backoff (0.5 + 1 + 2 s of real
    # sleep in the process worker) is tested in tests/unit/test_alerts.py and the R16 tests.
    hook = Hook([403])
    try:
        result = run(home, threshold=1.01, webhook=hook.url)
    finally:
        hook.close()
    assert result.state is RunState.SUCCESS, "a notification never changes the run (G8)"
    assert result.tasks["alert"].state is TaskState.SUCCESS
    assert len(hook.requests) == 1, "a refusal is not retried"
    (delivery,) = history.show(result.run_id, home=home)["deliveries"]
    assert (delivery["event"], delivery["channel"], delivery["state"]) == ("gate_failed", "webhook", "failed")
    assert delivery["error"] == "HTTP 403"


def test_a_better_champion_keeps_production_and_the_challenger_is_not_registered(home):
    assert run(home).ok
    registry = Registry(home)
    champion = registry.get("sklearn_breast_cancer", "production")
    # A stronger champion: the same model recorded with a perfect score.
    better = registry.register(
        "sklearn_breast_cancer",
        registry.load(champion),
        metrics={**champion.metrics, "roc_auc": 1.0},
        params={"model": "oracle"},
    )
    registry.promote("sklearn_breast_cancer", better.version, "production", reason="test champion")
    result = run(home, seed=7)  # a different split: a new challenger
    assert result.ok
    assert result.tasks["register"].state is TaskState.SKIPPED
    assert result.tasks["alert"].state is TaskState.SUCCESS
    assert "champion" in result.output["gate"]
    assert Registry(home).get("sklearn_breast_cancer", "production").version == better.version
