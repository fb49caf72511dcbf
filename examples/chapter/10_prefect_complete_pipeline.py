"""Section 3.4, listing "Prefect 2.0 完全な例" (Prefect ``ML Training Pipeline``), ported.

collect -> validate -> preprocess -> train -> evaluate -> register (only above an accuracy
floor). What differs:

- ``@task(name=..., retries=3, retry_delay_seconds=60, cache_key_fn=None, timeout_seconds=300)``
  is ``@task(retries=3, retry_delay=60, cache=False)``. Task names are the
  function names (``name=`` sets another; the listing's names are Japanese display names).
- ``get_run_logger()`` is ``get_logger()``; ``log_prints=True`` is always on.
- ``validate_data(data_path)`` returns nothing the next task takes, so in a traced graph it
  would run beside ``preprocess_data``; ``validated >> split`` keeps the listing's order.
- Paths to ``/tmp`` CSV files become returned DataFrames, stored by suiro; the model is
  registered in suiro's registry (``suiro models list``) rather than copied to ``/tmp/models``.
- The listing's data has a random target (accuracy about 0.5), so its ``register_model`` would
  never register at its own floor of 0.7; this port generates data with signal
  (``make_classification``). ``--set min_accuracy=0.99`` shows the refusal.
- ``ConcurrentTaskRunner`` is the default threads executor (``--executor processes`` for
  processes).
- ``Deployment.build_from_flow(flow=ml_training_pipeline, name="daily-ml-training",
  schedule=CronSchedule(cron="0 2 * * *"), work_queue_name="ml-training",
  parameters={"n_estimators": 100})`` is a suiro deployment, checked (the pipeline loads,
  ``n_estimators=100`` fits its annotation, the cron parses) and saved in the local database;
  ``suiro scheduler`` runs it at 02:00 UTC (no work queue, no agent; ``max_active_runs`` bounds
  its concurrent runs). It is ``daily-ml-training`` in ``11_suiro.yaml``, or on the command line
  (below); see ``11_prefect_deployment.py`` for the Python form and docs/scheduling.md.

    suiro run examples/chapter/10_prefect_complete_pipeline.py && suiro models list
    suiro deploy examples/chapter/10_prefect_complete_pipeline.py:ml_training_pipeline \
        --name daily-ml-training --cron "0 2 * * *" --set n_estimators=100 --max-active 1
"""

from __future__ import annotations

import pandas as pd

from suiro import context, get_logger, pipeline, task


@task(retries=3, retry_delay=60, cache=False)
def collect_data(n_samples: int) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    features, target = make_classification(
        n_samples=n_samples, n_features=3, n_informative=2, n_redundant=0, random_state=42
    )
    get_logger().info("collected %d rows", len(target))
    return pd.DataFrame(features, columns=["feature1", "feature2", "feature3"]).assign(target=target)


@task
def validate_data(data: pd.DataFrame) -> bool:
    checks = {
        "no_nulls": not data.isna().any().any(),
        "sufficient_size": len(data) >= 500,
        "feature_count": data.shape[1] >= 4,
    }
    get_logger().info("checks: %s", checks)
    failed = sorted(name for name, ok in checks.items() if not ok)
    if failed:
        raise ValueError(f"data validation failed: {', '.join(failed)}")
    return True


@task
def preprocess_data(data: pd.DataFrame) -> dict:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(data, test_size=0.2, random_state=42)
    return {"train": train, "test": test}


@task
def train_model(split: dict, n_estimators: int = 100):
    from sklearn.ensemble import RandomForestClassifier

    get_logger().info("training with n_estimators=%d", n_estimators)
    train = split["train"]
    return RandomForestClassifier(n_estimators=n_estimators, random_state=42).fit(
        train.drop(columns="target"), train["target"]
    )


@task
def evaluate_model(model, split: dict) -> dict:
    test = split["test"]
    accuracy = float(model.score(test.drop(columns="target"), test["target"]))
    return {"accuracy": accuracy, "test_samples": len(test)}


@task
def register_model(model, metrics: dict, min_accuracy: float) -> str | bool:
    """Register above the floor; below it, warn and return False (as the listing does)."""
    from suiro.registry import Registry

    if metrics["accuracy"] < min_accuracy:
        get_logger().warning("model quality too low: accuracy=%.3f", metrics["accuracy"])
        return False
    version = Registry().register("chapter_prefect", model, metrics=metrics, run_id=context().run_id)
    return f"chapter_prefect v{version.version}"


@pipeline(description="A complete ML training pipeline")
def ml_training_pipeline(n_samples: int = 1000, n_estimators: int = 50, min_accuracy: float = 0.7):
    data = collect_data(n_samples)
    validated = validate_data(data)
    split = preprocess_data(data)
    validated >> split  # the listing's order: validate before preprocessing
    model = train_model(split, n_estimators)
    metrics = evaluate_model(model, split)
    return {"model": register_model(model, metrics, min_accuracy), "metrics": metrics}
