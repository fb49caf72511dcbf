"""Exercise 4 (問題4), Prefect multi-model training with the best model picked, ported.

Random forest, XGBoost and LightGBM trained in parallel on one split, each evaluated, the best
kept. ``suiro.ml`` has these as ready tasks, with XGBoost and LightGBM themselves (the answer
falls back to a random forest when they are missing). What differs:

- The answer's ``for`` loops over ``model_types`` (with ``if model_types is None`` defaults)
  become ``train.map``/``evaluate.map`` over a list parameter with a default; a loop over values
  only known at run time waits for dynamic pipelines (``@pipeline(dynamic=True)``, issue 12).
- The answer's data has a random target (every model near 0.5); this port uses scikit-learn's
  bundled breast-cancer data so the comparison means something.
- ``save_best_model`` to ``/tmp/best_model.pkl``: the best model is the pipeline's stored output;
  ``suiro.ml`` also has a registry step (see the built-in pipeline).

    suiro run examples/chapter/19_exercise4_multi_model.py --set 'model_types=[random_forest,lightgbm]'
"""

from __future__ import annotations

from suiro import pipeline, task, unmapped
from suiro.ml import evaluate, load_dataset, pick_best, split, train


@task
def report(best) -> dict:
    print(f"best model: {best.model} ({best.metric} {best.value:.4f})")
    return {"model": best.model, "metric": best.metric, "value": best.value}


@pipeline(description="Multi-Model Training Pipeline")
def multi_model_training_pipeline(
    model_types: list[str] = ["random_forest", "xgboost", "lightgbm"],  # noqa: B006
    test_size: float = 0.2,
):
    data = split(load_dataset("sklearn:breast_cancer"), test_size=test_size, seed=42)
    trained = train.map(unmapped(data), model_types)
    return report(pick_best(evaluate.map(trained, unmapped(data)), trained, metric="accuracy"))
