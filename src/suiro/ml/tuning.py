"""Tune: cross-validated grid or random search over a catalogue model's parameters.

Owns turning a plain grid (``{"n_estimators": [50, 100]}``, as written in YAML) into a
scikit-learn search over the whole preprocessing + estimator Pipeline, and the
``TuneResult`` record with a tidy, reproducible CV table. Must not refit the best model:
``train`` does that with ``best_params``, so tuning and training stay separate, cached steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold

from suiro.errors import ParameterError
from suiro.ml._context import record_metrics
from suiro.ml.catalogue import MODEL_STEP, make_estimator, param_prefix
from suiro.ml.models import model_pipeline
from suiro.ml.split import Split
from suiro.task import task

SEARCHES: tuple[str, ...] = ("grid", "random")


@dataclass(frozen=True, eq=False)
class TuneResult:
    """What a search found.

    Attributes:
        model: the catalogue name searched.
        best_params: the best combination, with plain estimator parameter names; pass it
            to ``train(..., params=best_params)``.
        best_score: its mean cross-validated score (higher is better, sklearn convention).
        scoring: the scorer's name (``accuracy``/``r2`` when none was given).
        cv_results: one row per combination: a column per parameter, ``mean_test_score``,
            ``std_test_score``, ``rank_test_score`` and ``split<i>_test_score`` (no timings,
            so the table is the same on every run).
    """

    model: str
    best_params: dict[str, Any]
    best_score: float
    scoring: str
    cv_results: pd.DataFrame


@task
def tune(
    split: Split,
    model: str,
    grid: dict[str, list[Any]] | None = None,
    *,
    search: Literal["grid", "random"] = "grid",
    n_iter: int = 10,
    cv: int = 3,
    scoring: str | None = None,
    seed: int = 0,
) -> TuneResult:
    """Search ``grid`` for the model's best parameters by cross-validation on the training rows.

    Each fold fits the preprocessing too, so no fold sees statistics of its held-out rows;
    test rows are never used. Folds are shuffled with ``seed`` (stratified for
    classification) and everything runs single-threaded, so results repeat exactly.

    Args:
        split: the output of ``split``; only ``X_train``/``y_train`` are used.
        model: a catalogue name.
        grid: parameter name -> candidate values; empty or None scores the defaults.
        search: ``grid`` tries every combination; ``random`` samples ``n_iter`` of them.
        n_iter: combinations tried by a random search (capped at the grid's size).
        cv: number of folds (>= 2).
        scoring: an sklearn scorer name (``roc_auc``, ``neg_root_mean_squared_error``...);
            None uses accuracy for classifiers and R² for regressors.
        seed: seed of the folds, the sampling and the estimator.

    Returns:
        A ``TuneResult``; its best score is also logged as ``<model>.cv_<scoring>``.

    Raises:
        UnknownModelError: ``model`` is not in the catalogue for the split's task type.
        ParameterError: unknown search, bad ``cv``/``n_iter``, a grid value that is not a
            non-empty list, or a parameter name the estimator does not take.
    """
    grid = dict(grid or {})
    _check_search(search, n_iter, cv, grid)
    # Unknown models and parameter names fail here, before any fitting.
    make_estimator(model, split.task_type, {k: v[0] for k, v in grid.items()}, seed)
    pipeline = model_pipeline(split.X_train, model, split.task_type, seed=seed)
    prefix = param_prefix(pipeline.named_steps[MODEL_STEP])
    space = {prefix + name: list(values) for name, values in grid.items()}
    folds = (StratifiedKFold if split.task_type == "classification" else KFold)(
        n_splits=cv, shuffle=True, random_state=seed
    )
    common: dict[str, Any] = {
        "scoring": scoring,
        "cv": folds,
        "n_jobs": 1,
        "refit": False,
        "error_score": "raise",
    }
    size = math.prod(len(v) for v in space.values())
    if search == "random" and space and n_iter < size:
        searcher: Any = RandomizedSearchCV(pipeline, space, n_iter=n_iter, random_state=seed, **common)
    else:
        searcher = GridSearchCV(pipeline, space, **common)
    searcher.fit(split.X_train, split.y_train)
    scorer = scoring or ("accuracy" if split.task_type == "classification" else "r2")
    best_score = float(searcher.best_score_)
    record_metrics(model, {f"cv_{scorer}": best_score})
    return TuneResult(
        model=model,
        best_params={name.removeprefix(prefix): value for name, value in searcher.best_params_.items()},
        best_score=best_score,
        scoring=scorer,
        cv_results=_table(searcher.cv_results_, prefix, list(grid), cv),
    )


def _check_search(search: str, n_iter: int, cv: int, grid: dict[str, Any]) -> None:
    problems = []
    if search not in SEARCHES:
        problems.append(f"search {search!r} is not one of {', '.join(SEARCHES)}")
    if not isinstance(n_iter, int) or n_iter < 1:
        problems.append(f"n_iter must be an integer >= 1, got {n_iter!r}")
    if not isinstance(cv, int) or cv < 2:
        problems.append(f"cv must be an integer >= 2, got {cv!r}")
    for name, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            problems.append(f"grid[{name!r}] must be a non-empty list of candidate values, got {values!r}")
    if problems:
        raise ParameterError(f"tune: {'; '.join(problems)}.", parameter="grid")


def _table(results: dict[str, Any], prefix: str, names: list[str], cv: int) -> pd.DataFrame:
    """The CV results as a frame without timings (which differ on every run)."""
    columns: dict[str, Any] = {}
    for name in names:
        values = results[f"param_{prefix}{name}"]
        masks = np.ma.getmaskarray(values)
        columns[name] = [None if masked else value for value, masked in zip(values.data, masks, strict=True)]
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        columns[key] = results[key]
    for fold in range(cv):
        columns[f"split{fold}_test_score"] = results[f"split{fold}_test_score"]
    return pd.DataFrame(columns)
