"""Exercise 4 (問題4), Prefect multi-model training with the best model picked, ported.

Random forest, XGBoost and LightGBM trained in parallel on one split, each evaluated, the best
kept. ``suiro.ml`` has these as ready tasks, with XGBoost and LightGBM themselves (the answer
falls back to a random forest when they are missing). What differs:

- The answer's flow body is kept as written: ``@pipeline(dynamic=True)`` runs it at run time, so
  ``if model_types is None`` picks the defaults, a ``for`` loop submits one ``train`` call per
  model type (in parallel) and another evaluates each model; every call is a recorded task
  attempt (``train``, ``train_2``, ...). ``04_airflow_best_practices.py`` shows the static way.
- The answer's data has a random target (every model near 0.5); this port uses scikit-learn's
  bundled breast-cancer data so the comparison means something.
- ``save_best_model`` to ``/tmp/best_model.pkl``: the best model is the pipeline's stored output;
  ``suiro.ml`` also has a registry step (see the built-in pipeline).

    suiro run examples/chapter/19_exercise4_multi_model.py --set 'model_types=[random_forest,lightgbm]'
"""

from __future__ import annotations

from suiro import pipeline, task
from suiro.ml import evaluate, load_dataset, pick_best, split, train


@task
def report(best) -> dict:
    print(f"best model: {best.model} ({best.metric} {best.value:.4f})")
    return {"model": best.model, "metric": best.metric, "value": best.value}


@pipeline(description="Multi-Model Training Pipeline", dynamic=True)
def multi_model_training_pipeline(model_types: list[str] | None = None, test_size: float = 0.2):
    if model_types is None:
        model_types = ["random_forest", "xgboost", "lightgbm"]
    data = split(load_dataset("sklearn:breast_cancer"), test_size=test_size, seed=42)
    futures = [train.submit(data, model_type) for model_type in model_types]  # in parallel
    trained = [future.result() for future in futures]
    metrics = [evaluate(model, data) for model in trained]
    return report(pick_best(metrics, trained, metric="accuracy"))
