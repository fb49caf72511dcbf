"""Hyperparameter tuning (cross-validated grid search), then the final training with the best parameters.

suiro run examples/tuning.py --set grid.max_depth=[2,4,8]
"""

from __future__ import annotations

from typing import Any

from suiro import pipeline, task
from suiro.ml import TuneResult, evaluate, load_dataset, split, train, tune
from suiro.ml.split import Split


@task
def final_training(data: Split, tuned: TuneResult, seed: int):
    """Train on the whole training split with the parameters the search chose."""
    return train.fn(data, tuned.model, tuned.best_params, seed)


@pipeline
def tuning(
    source: str = "sklearn:breast_cancer",
    model: str = "random_forest",
    grid: dict[str, list[Any]] = {"n_estimators": [50, 100], "max_depth": [3, None]},  # noqa: B006
    seed: int = 0,
):
    data = split(load_dataset(source), seed=seed)
    tuned = tune(data, model, grid, cv=3, seed=seed)
    final = final_training(data, tuned, seed)
    return {
        "best_params": tuned.best_params,
        "cv_score": tuned.best_score,
        "test": evaluate(final, data).metrics,
    }
