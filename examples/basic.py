"""Extract -> transform -> train -> validate, in four plain tasks.

suiro run examples/basic.py
"""

from __future__ import annotations

import pandas as pd

from suiro import pipeline, task
from suiro.ml import evaluate, load_dataset, split, train, validate


@task
def add_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """A feature of our own: the ratio of two measurements."""
    return df.assign(area_per_radius=df["mean area"] / df["mean radius"])


@task
def check_quality(evaluation, min_accuracy: float) -> dict:
    """Fail the run (and say why) when the model is not good enough."""
    accuracy = evaluation.metrics["accuracy"]
    if accuracy < min_accuracy:
        raise ValueError(f"accuracy {accuracy:.3f} is below {min_accuracy}; look at the data or the model")
    return evaluation.metrics


@pipeline
def basic(
    source: str = "sklearn:breast_cancer", model: str = "logistic_regression", min_accuracy: float = 0.9
):
    data = split(add_ratios(validate(load_dataset(source), min_rows=100)), seed=0)
    trained = train(data, model)
    return check_quality(evaluate(trained, data), min_accuracy)
