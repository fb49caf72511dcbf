"""Ready machine-learning tasks: collect, validate, split, train, tune, evaluate, pick, gate.

Each public function is a normal ``@task``: call it directly (a plain function call) or
inside a ``@pipeline`` (traced into the graph). Imports pandas and scikit-learn, so
``import suiro`` never imports this package; LightGBM and XGBoost load only when one of
their models is made.

    from suiro import pipeline, unmapped, when
    from suiro.ml import evaluate, load_dataset, pick_best, quality_gate, split, train, validate

    @pipeline
    def training(source: str = "sklearn:breast_cancer", models: list[str] = ["random_forest", "lightgbm"]):
        data = split(validate(load_dataset(source), min_rows=100))
        trained = train.map(split=unmapped(data), model=models)
        best = pick_best(evaluate.map(trained, split=unmapped(data)), trained, metric="roc_auc")
        decision = quality_gate(best, threshold=0.9)
"""

from __future__ import annotations

from suiro.ml.catalogue import CATALOGUE, LabelEncodedClassifier, make_estimator, model_names
from suiro.ml.data import SKLEARN_DATASETS, load_dataset
from suiro.ml.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS, Evaluation, evaluate
from suiro.ml.features import build_preprocessor
from suiro.ml.models import TrainedModel, model_pipeline, train
from suiro.ml.selection import (
    LOWER_IS_BETTER,
    Candidate,
    GateDecision,
    is_lower_better,
    pick_best,
    quality_gate,
)
from suiro.ml.split import Split, infer_task_type, split
from suiro.ml.tuning import TuneResult, tune
from suiro.ml.validation import DTYPE_KINDS, validate

__all__ = [
    "CATALOGUE",
    "CLASSIFICATION_METRICS",
    "DTYPE_KINDS",
    "LOWER_IS_BETTER",
    "REGRESSION_METRICS",
    "SKLEARN_DATASETS",
    "Candidate",
    "Evaluation",
    "GateDecision",
    "LabelEncodedClassifier",
    "Split",
    "TrainedModel",
    "TuneResult",
    "build_preprocessor",
    "evaluate",
    "infer_task_type",
    "is_lower_better",
    "load_dataset",
    "make_estimator",
    "model_names",
    "model_pipeline",
    "pick_best",
    "quality_gate",
    "split",
    "train",
    "tune",
    "validate",
]
