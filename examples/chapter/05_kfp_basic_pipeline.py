"""Section 3.3, listing "基本的なパイプライン" (the Kubeflow ``ML Training Pipeline``), ported.

Three KFP lightweight components, load_data -> train_model -> evaluate_model, become three
tasks. What differs:

- ``Output[Dataset]``/``Input[Model]`` with ``.path``: suiro passes the values themselves (a
  DataFrame, a fitted model) and stores them content-addressed; files as typed outputs wait for
  files-as-outputs (issue 12, ``Output[Dataset]``).
- ``base_image``/``packages_to_install``: every task runs in the local Python environment;
  containers are not part of suiro.
- ``kfp.compiler.Compiler().compile(...)`` to YAML: waits for the KFP compiler. ``suiro graph
  examples/chapter/05_kfp_basic_pipeline.py --format mermaid`` draws the pipeline instead.

    suiro run examples/chapter/05_kfp_basic_pipeline.py --set n_estimators=10
"""

from __future__ import annotations

import pandas as pd

from suiro import pipeline, task


@task
def load_data() -> pd.DataFrame:
    """The listing's five-row dummy data set."""
    return pd.DataFrame(
        {"feature1": [1, 2, 3, 4, 5], "feature2": [2, 4, 6, 8, 10], "target": [0, 0, 1, 1, 1]}
    )


@task
def train_model(dataset: pd.DataFrame, n_estimators: int = 100):
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=n_estimators, random_state=42)
    return model.fit(dataset[["feature1", "feature2"]], dataset["target"])


@task
def evaluate_model(dataset: pd.DataFrame, model) -> float:
    """Accuracy on the training rows, as in the listing (no held-out data in five rows)."""
    from sklearn.metrics import accuracy_score

    accuracy = float(accuracy_score(dataset["target"], model.predict(dataset[["feature1", "feature2"]])))
    print(f"accuracy: {accuracy:.3f}")
    return accuracy


@pipeline(description="A basic ML training pipeline")
def ml_pipeline(n_estimators: int = 100):
    dataset = load_data()
    return evaluate_model(dataset, train_model(dataset, n_estimators))
