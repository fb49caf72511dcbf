"""Train: fit a catalogue model, with its preprocessing, on the training split only.

Owns the ``TrainedModel`` record (the fitted Pipeline plus what serving and the registry
need to know: parameters, input schema, target, classes) and the ``train`` task. Must not
look at test or validation rows: the whole Pipeline, preprocessing included, is fitted on
``X_train`` alone, so no test statistic leaks into the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from suiro.ml.catalogue import MODEL_STEP, PREPROCESS_STEP, make_estimator, model_names
from suiro.ml.features import build_preprocessor
from suiro.ml.split import Split, TaskType
from suiro.task import task

__all__ = ["TrainedModel", "make_estimator", "model_names", "model_pipeline", "train"]


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A fitted model and what is needed to use, compare and serve it.

    Attributes:
        name: the catalogue name (``random_forest``...).
        task_type: ``classification`` or ``regression``.
        pipeline: the fitted sklearn ``Pipeline`` (``preprocess`` then ``model``); call
            ``pipeline.predict(frame)`` with the ``feature_names`` columns.
        params: the estimator parameters given to ``train`` (defaults not repeated).
        feature_names: the input columns, in training order.
        feature_dtypes: column -> pandas dtype name, the input schema for serving.
        target: the target column's name.
        classes: the class labels in ``predict_proba`` column order; None for regression.
        seed: the random seed used.
    """

    name: str
    task_type: TaskType
    pipeline: Pipeline
    params: dict[str, Any]
    feature_names: list[str]
    feature_dtypes: dict[str, str]
    target: str
    classes: list[Any] | None
    seed: int = 0


def model_pipeline(
    X: pd.DataFrame,  # noqa: N803
    model: str,
    task_type: str,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
) -> Pipeline:
    """An unfitted ``preprocess`` + ``model`` Pipeline for the columns of ``X``.

    Raises:
        UnknownModelError: ``model`` is not in the catalogue for ``task_type``.
        ParameterError: a parameter name the estimator does not take.
        DataValidationError: a column type the preprocessor cannot encode.
    """
    estimator = make_estimator(model, task_type, params, seed)
    return Pipeline([(PREPROCESS_STEP, build_preprocessor(X)), (MODEL_STEP, estimator)])


@task
def train(split: Split, model: str, params: dict[str, Any] | None = None, seed: int = 0) -> TrainedModel:
    """Fit one catalogue model (with its preprocessing) on the training rows.

    Preprocessing and estimator are fitted together, on training rows only, and kept
    together, so evaluation and serving apply exactly the transform the model learned
    with and the test rows stay unseen. Same split, parameters and seed give the same
    model, byte for byte.

    Args:
        split: the output of ``split``.
        model: a catalogue name (see ``model_names(split.task_type)``).
        params: estimator parameters, e.g. ``{"n_estimators": 200}``.
        seed: random seed of the estimator.

    Returns:
        A ``TrainedModel``.

    Raises:
        UnknownModelError: ``model`` is not in the catalogue for the split's task type.
        ParameterError: a parameter name the estimator does not take.
    """
    pipeline = model_pipeline(split.X_train, model, split.task_type, params, seed=seed)
    pipeline.fit(split.X_train, split.y_train)
    classes = pipeline.classes_.tolist() if split.task_type == "classification" else None
    return TrainedModel(
        name=model,
        task_type=split.task_type,
        pipeline=pipeline,
        params=dict(params or {}),
        feature_names=[str(c) for c in split.X_train.columns],
        feature_dtypes={str(c): str(t) for c, t in split.X_train.dtypes.items()},
        target=split.target,
        classes=classes,
        seed=seed,
    )
