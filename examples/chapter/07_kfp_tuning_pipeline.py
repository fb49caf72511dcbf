"""Section 3.3, listing "Kubeflow パイプライン実行例" (``Complete ML Pipeline with Tuning``), ported.

load -> preprocess (train/test split) -> hyperparameter tuning (grid search, cross-validated)
-> train the final model with the best parameters -> evaluate. What differs:

- ``Output[Dataset]`` train/test files and ``Output[Metrics]`` JSON files: the split, the best
  parameters and the metrics are returned values, stored by suiro; the metrics are also recorded
  with ``log_metric`` (``suiro metrics last``). Typed file outputs wait for files-as-outputs.
- ``tuning_task.output`` (the component's return value) is just the task's return value.
- The listing reuses the five-row ``load_data`` from the basic KFP pipeline, on which a 3-fold
  grid search cannot run; this port loads scikit-learn's bundled breast-cancer data.
- The grid is a parameter (smaller by default so the example runs in seconds), not a constant.
- Compiling to YAML waits for the KFP compiler.

    suiro run examples/chapter/07_kfp_tuning_pipeline.py --set test_size=0.3
"""

from __future__ import annotations

import pandas as pd

from suiro import log_metric, pipeline, task


@task
def load_data() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


@task
def preprocess_data(data: pd.DataFrame, test_size: float) -> dict:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(data, test_size=test_size, random_state=42, stratify=data["target"])
    print(f"train rows: {len(train)}, test rows: {len(test)}")
    return {"train": train, "test": test}


@task
def hyperparameter_tuning(split: dict, grid: dict) -> dict:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    train = split["train"]
    search = GridSearchCV(RandomForestClassifier(random_state=42), grid, cv=3)
    search.fit(train.drop(columns="target"), train["target"])
    log_metric("cv_accuracy", float(search.best_score_))
    return dict(search.best_params_)


@task
def train_final_model(split: dict, best_params: dict):
    from sklearn.ensemble import RandomForestClassifier

    train = split["train"]
    return RandomForestClassifier(**best_params, random_state=42).fit(
        train.drop(columns="target"), train["target"]
    )


@task
def evaluate_final_model(split: dict, model) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    test = split["test"]
    y, predicted = test["target"], model.predict(test.drop(columns="target"))
    metrics = {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_score": float(f1_score(y, predicted)),
        "precision": float(precision_score(y, predicted)),
        "recall": float(recall_score(y, predicted)),
    }
    for name, value in metrics.items():
        log_metric(name, value)
    return metrics


@pipeline(description="A complete ML pipeline with hyperparameter tuning")
def complete_ml_pipeline(
    test_size: float = 0.2,
    grid: dict = {"n_estimators": [10, 20], "max_depth": [3, 6]},  # noqa: B006
):
    split = preprocess_data(load_data(), test_size)
    best_params = hyperparameter_tuning(split, grid)
    model = train_final_model(split, best_params)
    return {"best_params": best_params, "metrics": evaluate_final_model(split, model)}
