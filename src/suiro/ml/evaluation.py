"""Evaluate: score a trained model on the held-out test rows and record every metric.

Owns which metrics each task type gets and how they are computed (scikit-learn's own
functions, so numbers match what users compute by hand), and the ``Evaluation`` record.
Must not fit anything: the model is only asked to predict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from suiro.ml._context import record_line, record_metrics
from suiro.ml.models import TrainedModel
from suiro.ml.split import Split, TaskType
from suiro.task import task

CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")


@dataclass(frozen=True)
class Evaluation:
    """How one model did on the test rows.

    Attributes:
        model: the model's catalogue name.
        task_type: ``classification`` or ``regression``.
        metrics: metric name -> value (see ``CLASSIFICATION_METRICS`` / ``REGRESSION_METRICS``;
            ``roc_auc`` is left out when the test rows hold a single class).
        confusion_matrix: rows are true classes, columns predicted ones, both in ``classes``
            order; None for regression.
        classes: the class labels of the confusion matrix; None for regression.
    """

    model: str
    task_type: TaskType
    metrics: dict[str, float]
    confusion_matrix: list[list[int]] | None = None
    classes: list[Any] | None = field(default=None)


@task
def evaluate(trained: TrainedModel, split: Split) -> Evaluation:
    """Score ``trained`` on the split's test rows, which it never saw.

    Classifiers get accuracy, precision, recall, F1 (of the positive class, the second of
    ``classes``, when binary; macro-averaged otherwise), ROC AUC (one-vs-rest macro when
    multiclass) and a confusion matrix; regressors get RMSE, MAE and R². Inside a run each
    metric is logged as ``<model>.<metric>``, so runs can be compared without loading outputs.

    Args:
        trained: the output of ``train``.
        split: the split it was trained on.

    Returns:
        An ``Evaluation``.
    """
    X, y = split.X_test[trained.feature_names], split.y_test  # noqa: N806
    if trained.task_type == "classification":
        evaluation = _classification(trained, X, y)
    else:
        evaluation = _regression(trained, X, y)
    record_metrics(trained.name, evaluation.metrics)
    record_line(
        "%s on %d test rows: %s",
        trained.name,
        len(y),
        ", ".join(f"{k} {v:.4g}" for k, v in evaluation.metrics.items()),
    )
    return evaluation


def _classification(trained: TrainedModel, X: pd.DataFrame, y: pd.Series) -> Evaluation:  # noqa: N803
    classes = list(trained.classes or [])
    predicted = trained.pipeline.predict(X)
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"pos_label": classes[1], "average": "binary"} if binary else {"average": "macro"}
    )
    values = {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, labels=classes, zero_division=0, **averaging),
        "recall": skm.recall_score(y, predicted, labels=classes, zero_division=0, **averaging),
        "f1": skm.f1_score(y, predicted, labels=classes, zero_division=0, **averaging),
    }
    if y.nunique() > 1:  # ROC AUC is undefined on a single class
        proba = trained.pipeline.predict_proba(X)
        if binary:
            values["roc_auc"] = skm.roc_auc_score(y == classes[1], proba[:, 1])
        else:
            values["roc_auc"] = skm.roc_auc_score(
                y, proba, multi_class="ovr", average="macro", labels=classes
            )
    matrix = skm.confusion_matrix(y, predicted, labels=classes)
    return Evaluation(
        model=trained.name,
        task_type="classification",
        metrics={k: float(v) for k, v in values.items()},
        confusion_matrix=[[int(n) for n in row] for row in matrix],
        classes=classes,
    )


def _regression(trained: TrainedModel, X: pd.DataFrame, y: pd.Series) -> Evaluation:  # noqa: N803
    predicted = np.asarray(trained.pipeline.predict(X), dtype=float)
    values = {
        "rmse": skm.root_mean_squared_error(y, predicted),
        "mae": skm.mean_absolute_error(y, predicted),
        "r2": skm.r2_score(y, predicted),
    }
    return Evaluation(
        model=trained.name, task_type="regression", metrics={k: float(v) for k, v in values.items()}
    )
