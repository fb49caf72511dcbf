"""The built-in training pipeline: what ``make run`` and ``suiro run`` (no file) run.

collect -> validate -> split -> tune each candidate over its grid (fan-out) -> train
each with its best parameters -> evaluate -> pick the best -> quality gate against a
threshold and the production model (the champion) -> register and promote, or alert
-> deploy (record which version serves). Every parameter is overridable with
``-c config.yaml`` and ``--set`` (see ``examples/config.yaml``).
"""

from __future__ import annotations

import time
from typing import Any

from suiro import context, log_metric, pipeline, task, unmapped, when
from suiro.ml.data import load_dataset
from suiro.ml.evaluation import Evaluation, evaluate
from suiro.ml.models import TrainedModel, train
from suiro.ml.selection import Candidate, GateDecision, pick_best, quality_gate
from suiro.ml.split import Split, split
from suiro.ml.tuning import TuneResult, tune
from suiro.ml.validation import validate
from suiro.states import ModelStage

#: Default search grids, small enough for a laptop; override per model with --set grids.<model>.<param>=[..].
GRIDS: dict[str, dict[str, list[Any]]] = {
    "random_forest": {"n_estimators": [50, 100], "max_depth": [None, 6]},
    "lightgbm": {"n_estimators": [50, 100], "num_leaves": [15, 31]},
    "xgboost": {"n_estimators": [50, 100], "max_depth": [3, 5]},
    "gradient_boosting": {"n_estimators": [50, 100], "max_depth": [2, 3]},
    "logistic_regression": {"C": [0.1, 1.0, 10.0]},
}


@task
def tune_candidate(
    data: Split, model: str, grids: dict[str, dict[str, list[Any]]], cv: int, seed: int
) -> TuneResult:
    """Cross-validated grid search of one candidate over its grid (none: its defaults)."""
    return tune.fn(data, model, grids.get(model) or {}, cv=cv, seed=seed)


@task
def train_best(data: Split, tuned: TuneResult, seed: int) -> TrainedModel:
    """Train a candidate on the whole training split with its best parameters."""
    return train.fn(data, tuned.model, tuned.best_params, seed)


def training_digest(candidate: Candidate, data: Split) -> str:
    """What the chosen model was made from: estimator, parameters, seed and training data.

    Training is deterministic for these, so equal digests mean the same model; unlike the
    pickled bytes, this does not change when a model is stored and loaded again.
    """
    from suiro.cache import fingerprint

    trained = candidate.trained
    return fingerprint((trained.name, trained.params, trained.seed, data.X_train, data.y_train))


def _champion_key(model_name: str, candidate: Candidate, data: Split) -> str:
    """The champion's identity, or 'none' when there is none or it is this very model.

    So a rerun that produces the model already in production is a cache hit.
    """
    from suiro.errors import ModelNotFoundError
    from suiro.registry import Registry

    try:
        production = Registry().get(model_name, ModelStage.PRODUCTION)
    except ModelNotFoundError:
        return "none"
    if production.params.get("training_digest") == training_digest(candidate, data):
        return "none"
    return f"{production.name}@{production.version}:{production.artifact_digest}"


@task(cache_key=_champion_key)
def champion(model_name: str, candidate: Candidate, data: Split) -> dict[str, float | None] | None:
    """Metrics of the production model to beat; None if there is none (or it is the candidate)."""
    if _champion_key(model_name, candidate, data) == "none":
        return None
    from suiro.registry import Registry

    return Registry().get(model_name, ModelStage.PRODUCTION).metrics


@task
def register(candidate: Candidate, decision: GateDecision, data: Split, model_name: str) -> dict[str, Any]:
    """Register the chosen model (once per distinct model) and promote it to production."""
    from suiro.cache import fingerprint
    from suiro.registry import Registry

    registry = Registry()
    ctx = context()
    made_from = training_digest(candidate, data)
    same = [v for v in _versions(registry, model_name) if v.params.get("training_digest") == made_from]
    trained = candidate.trained
    version = (
        same[-1]
        if same
        else registry.register(
            model_name,
            trained.pipeline,
            metrics=candidate.evaluation.metrics,
            params={
                "model": trained.name,
                **trained.params,
                "seed": trained.seed,
                "training_digest": made_from,
            },
            data_digest=fingerprint((data.X_train, data.y_train)),
            run_id=ctx.run_id,
            task_key=ctx.task_key,
            input_schema=[{"name": c, "dtype": trained.feature_dtypes[c]} for c in trained.feature_names],
            task_type=trained.task_type,
            classes=trained.classes,
            description=f"{trained.name} trained by pipeline {ctx.params.get('source', '')}",
        )
    )
    reason = "; ".join(decision.reasons)
    version = registry.promote(
        model_name, version.version, ModelStage.PRODUCTION, reason=reason, run_id=ctx.run_id
    )
    return {"name": version.name, "version": version.version, "stage": version.stage.value}  # plain JSON


def _versions(registry: Any, name: str) -> list[Any]:
    from suiro.errors import ModelNotFoundError

    try:
        return registry.versions(name)
    except ModelNotFoundError:
        return []


@task
def alert(decision: GateDecision, model_name: str, webhook: str | None) -> str:
    """Tell people the best model did not pass the gate: logged always, and a ``gate_failed``
    notification to the run's channels and ``webhook`` if set. Its delivery never fails the run
    (a failed one is recorded: ``suiro show RUN``)."""
    from suiro import notices

    reasons = "; ".join(decision.reasons)
    message = f"{model_name}: best model {decision.model} did not pass the quality gate: {reasons}"
    notices.gate_failed(
        message,
        {"model": model_name, "metric": decision.metric, "value": decision.value},
        webhook=webhook,
    )
    return message


@task(trigger_rule="none_failed")
def deploy(model_name: str, registered: dict[str, Any] | None) -> dict[str, Any]:
    """Record which version serves: the production version after this run (if any)."""
    from suiro.errors import ModelNotFoundError
    from suiro.registry import Registry

    try:
        production = Registry().get(model_name, ModelStage.PRODUCTION)
    except ModelNotFoundError:
        return {"model": model_name, "version": None, "serve": None}
    return {
        "model": model_name,
        "version": production.version,
        "serve": f"suiro serve {model_name}@production",
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


@task(trigger_rule="none_failed")
def summarize(
    evaluations: list[Evaluation], best: Candidate, decision: GateDecision, deployed: dict[str, Any]
) -> dict[str, Any]:
    """The run's result in one place: metrics per model, the choice, the gate, what serves."""
    log_metric(f"best.{best.metric}", best.value)
    return {
        "models": {e.model: {k: round(v, 4) for k, v in e.metrics.items()} for e in evaluations},
        "chosen": f"{best.model} ({best.metric} {best.value:.4f})",
        "gate": ("passed: " if decision.passed else "failed: ") + "; ".join(decision.reasons),
        "production": f"{deployed['model']} v{deployed['version']}" if deployed["version"] else "none",
        "serve": deployed["serve"],
    }


@pipeline(name="training", executor="processes")  # CPU-bound tuning: one process per core
def training(
    source: str = "sklearn:breast_cancer",
    model_name: str = "sklearn_breast_cancer",
    models: list[str] = ["random_forest", "lightgbm", "xgboost"],  # noqa: B006 - traced once, never mutated
    grids: dict[str, dict[str, list[Any]]] = GRIDS,
    metric: str = "roc_auc",
    threshold: float = 0.9,
    min_improvement: float = 0.0,
    test_size: float = 0.2,
    cv: int = 3,
    seed: int = 42,
    min_rows: int = 100,
    webhook: str | None = None,
    target: str = "target",
    max_null_share: float = 0.0,
):
    # target and max_null_share: a user's own CSV names its label as it likes and may miss values
    # (the models' preprocessing imputes them); both were fixed to the bundled data's
    rows = validate(
        load_dataset(source, target), min_rows=min_rows, target=target, max_null_share=max_null_share
    )
    data = split(rows, target, test_size=test_size, seed=seed)
    tuned = tune_candidate.map(unmapped(data), models, unmapped(grids), unmapped(cv), unmapped(seed))
    trained = train_best.map(unmapped(data), tuned, unmapped(seed))
    evaluations = evaluate.map(trained, unmapped(data))
    best = pick_best(evaluations, trained, metric=metric)
    decision = quality_gate(best, threshold, champion(model_name, best, data), min_improvement)
    with when(decision):
        registered = register(best, decision, data, model_name)
    with when(~decision):
        alert(decision, model_name, webhook)
    deployed = deploy(model_name, registered)
    return summarize(evaluations, best, decision, deployed)
