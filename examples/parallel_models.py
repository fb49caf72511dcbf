"""Several models trained in parallel, the best one kept.

suiro run examples/parallel_models.py --executor processes
"""

from __future__ import annotations

from suiro import pipeline, unmapped
from suiro.ml import evaluate, load_dataset, pick_best, split, train


@pipeline
def parallel_models(
    source: str = "sklearn:wine",
    models: list[str] = ["random_forest", "logistic_regression", "gradient_boosting"],  # noqa: B006
    metric: str = "f1",
):
    data = split(load_dataset(source), seed=1)
    trained = train.map(unmapped(data), models)  # one task per model, run in parallel
    evaluations = evaluate.map(trained, unmapped(data))
    best = pick_best(evaluations, trained, metric=metric)
    return best.model
