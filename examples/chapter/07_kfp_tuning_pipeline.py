"""Section 3.3, listing "Kubeflow パイプライン実行例" (``Complete ML Pipeline with Tuning``), ported.

load -> preprocess (train/test split) -> hyperparameter tuning (grid search, cross-validated)
-> train the final model with the best parameters -> evaluate. What differs:

- As in the listing, the split is two ``Output[Dataset]`` CSV files (``split["train_data"]``,
  ``split["test_data"]``: a task with several outputs gives a dict by parameter name), the model
  an ``Output[Model]`` and the metrics an ``Output[Metrics]`` JSON file with the same values in
  ``.metadata``; suiro stores each by its bytes (``suiro artifacts last``). The metrics are also
  recorded with ``log_metric`` (``suiro metrics last``).
- ``tuning_task.output`` (the component's return value) is just the task's return value.
- The listing reuses the five-row ``load_data`` from the basic KFP pipeline, on which a 3-fold
  grid search cannot run; this port loads scikit-learn's bundled breast-cancer data.
- The grid is a parameter (smaller by default so the example runs in seconds), not a constant.
- Compiling to YAML: ``suiro compile examples/chapter/07_kfp_tuning_pipeline.py --target kfp -o
  tuning.yaml`` (``docs/compile.md``).

    suiro run examples/chapter/07_kfp_tuning_pipeline.py --set test_size=0.3
"""

from __future__ import annotations

import json

from suiro import Dataset, Input, Metrics, Model, Output, log_metric, pipeline, task


def _xy(path: str):
    import pandas as pd

    frame = pd.read_csv(path)
    return frame.drop(columns="target"), frame["target"]


@task
def load_data(data: Output[Dataset]) -> None:
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.to_csv(data.path, index=False)


@task
def preprocess_data(
    data: Input[Dataset], test_size: float, train_data: Output[Dataset], test_data: Output[Dataset]
) -> None:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(data.path)
    train, test = train_test_split(frame, test_size=test_size, random_state=42, stratify=frame["target"])
    train.to_csv(train_data.path, index=False)
    test.to_csv(test_data.path, index=False)
    train_data.metadata["rows"], test_data.metadata["rows"] = len(train), len(test)
    print(f"train rows: {len(train)}, test rows: {len(test)}")


@task
def hyperparameter_tuning(train_data: Input[Dataset], grid: dict) -> dict:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(RandomForestClassifier(random_state=42), grid, cv=3)
    search.fit(*_xy(train_data.path))
    log_metric("cv_accuracy", float(search.best_score_))
    return dict(search.best_params_)


@task
def train_final_model(train_data: Input[Dataset], best_params: dict, model: Output[Model]) -> None:
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    joblib.dump(RandomForestClassifier(**best_params, random_state=42).fit(*_xy(train_data.path)), model.path)
    model.metadata.update(best_params)


@task
def evaluate_final_model(test_data: Input[Dataset], model: Input[Model], metrics: Output[Metrics]) -> None:
    import joblib
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    X, y = _xy(test_data.path)  # noqa: N806
    predicted = joblib.load(model.path).predict(X)
    values = {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_score": float(f1_score(y, predicted)),
        "precision": float(precision_score(y, predicted)),
        "recall": float(recall_score(y, predicted)),
    }
    with open(metrics.path, "w") as f:
        json.dump(values, f)
    metrics.metadata.update(values)
    for name, value in values.items():
        log_metric(name, value)


@pipeline(description="A complete ML pipeline with hyperparameter tuning")
def complete_ml_pipeline(
    test_size: float = 0.2,
    grid: dict = {"n_estimators": [10, 20], "max_depth": [3, 6]},  # noqa: B006
):
    split = preprocess_data(load_data(), test_size)
    best_params = hyperparameter_tuning(split["train_data"], grid)
    model = train_final_model(split["train_data"], best_params)
    evaluate_final_model(split["test_data"], model)
    return best_params
