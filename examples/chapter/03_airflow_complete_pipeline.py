"""Section 3.2, listing "完全なMLパイプライン例" (the Airflow DAG ``complete_ml_pipeline``), ported.

collect -> validate -> preprocess -> train -> evaluate -> quality check, then register *or*
alert, then end (``trigger_rule="one_success"``). What differs:

- ``BranchPythonOperator`` returning a task id becomes an expression on the task output,
  ``passed = metrics["accuracy"] >= threshold``, and ``with when(passed)`` / ``when(~passed)``.
  The branch not taken is recorded ``skipped``.
- ``DummyOperator`` start/end: no start is needed; ``end`` is a task with ``one_success``
  that returns what the branch that ran returned.
- No ``/tmp/*.csv`` files between tasks: the DataFrames are returned and stored by suiro
  (content-addressed), so two runs never overwrite each other's files.
- The listing's data has a random target, so its accuracy is about 0.5 and the alert branch
  is taken at the listing's threshold of 0.8; ``--set threshold=0.4`` takes the register branch.
- ``register`` records a version in suiro's model registry instead of copying a pickle.
- ``schedule_interval='@daily'`` and ``start_date`` are ``@pipeline(schedule={"cron": "@daily",
  "start": "2025-01-01"})``: ``suiro deploy`` of this file makes the deployment
  ``complete_ml_pipeline``, run at midnight UTC by ``suiro scheduler``. ``catchup=False`` is
  suiro's default catch-up (``latest``: after downtime, one run for the latest missed day).
- ``send_alert`` ("実際はSlackやEmailで通知") sends a real ``gate_failed`` notification
  (``suiro.notices.gate_failed``, as the built-in pipeline's gate does) to the run's addresses:
  the project's (``SUIRO_NOTIFY_EMAIL``, ``SUIRO_NOTIFY_WEBHOOK``, suiro.yaml ``notify:``) and the
  pipeline's ``notify=``. With none set it is only logged; a delivery that fails is recorded
  (``suiro notifications``) and never fails the task.

    suiro run examples/chapter/03_airflow_complete_pipeline.py                    # alert
    suiro run examples/chapter/03_airflow_complete_pipeline.py --set threshold=0.4 # register
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from suiro import context, pipeline, task, when


@task
def collect_data(n_samples: int, seed: int) -> pd.DataFrame:
    """Generated data (the listing's stand-in for a database or an API)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"feature{i}": rng.standard_normal(n_samples) for i in (1, 2, 3)})
    return frame.assign(target=rng.integers(0, 2, n_samples))


@task
def validate_data(data: pd.DataFrame) -> pd.DataFrame:
    """Fail the run, naming every failed check, when the data is not fit to train on."""
    checks = {
        "no_nulls": not data.isna().any().any(),
        "sufficient_size": len(data) >= 500,
        "target_balance": data["target"].value_counts().min() / len(data) >= 0.3,
    }
    failed = sorted(name for name, ok in checks.items() if not ok)
    if failed:
        raise ValueError(f"data quality checks failed: {', '.join(failed)}")
    return data


@task
def preprocess(data: pd.DataFrame, test_size: float) -> dict:
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(  # noqa: N806
        data.drop(columns="target"), data["target"], test_size=test_size, random_state=42
    )
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


@task
def train_model(split: dict, n_estimators: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=n_estimators, random_state=42).fit(
        split["X_train"], split["y_train"]
    )


@task
def evaluate_model(model, split: dict) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(split["X_test"])
    return {
        "accuracy": float(accuracy_score(split["y_test"], predicted)),
        "f1_score": float(f1_score(split["y_test"], predicted)),
    }


@task
def register_model(model, metrics: dict) -> str:
    """Register the model in suiro's registry (the listing copies a timestamped pickle)."""
    from suiro.registry import Registry

    version = Registry().register("chapter_complete", model, metrics=metrics, run_id=context().run_id)
    return f"registered chapter_complete v{version.version} (accuracy {metrics['accuracy']:.3f})"


@task
def send_alert(metrics: dict, threshold: float) -> str:
    """Tell people (e-mail, Slack-compatible webhook) that the model was rejected."""
    from suiro import notices

    message = f"alert: model rejected, accuracy {metrics['accuracy']:.3f} < {threshold}"
    notices.gate_failed(message, {"metric": "accuracy", "value": metrics["accuracy"], "threshold": threshold})
    return message


@task(trigger_rule="one_success")
def end(registered: str | None, alerted: str | None) -> str:
    return registered or alerted


@pipeline(
    task_defaults={"retries": 3, "retry_delay": timedelta(minutes=5)},
    owner="data-science",
    schedule={"cron": "@daily", "start": "2025-01-01"},
)
def complete_ml_pipeline(
    n_samples: int = 1000,
    seed: int = 42,
    test_size: float = 0.2,
    n_estimators: int = 50,
    threshold: float = 0.8,
):
    """The complete ML pipeline, from collection to a quality-gated registration."""
    split = preprocess(validate_data(collect_data(n_samples, seed)), test_size)
    model = train_model(split, n_estimators)
    metrics = evaluate_model(model, split)
    passed = metrics["accuracy"] >= threshold
    with when(passed):
        registered = register_model(model, metrics)
    with when(~passed):
        alerted = send_alert(metrics, threshold)
    return end(registered, alerted)
