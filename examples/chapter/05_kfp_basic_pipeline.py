"""Section 3.3, listing "基本的なパイプライン" (the Kubeflow ``ML Training Pipeline``), ported.

Three KFP lightweight components, load_data -> train_model -> evaluate_model, become three
tasks with the listing's typed file outputs: ``Output[Dataset]``, ``Output[Model]`` and
``Output[Metrics]`` give each task a fresh ``.path`` to write and a ``.metadata`` dict, and the
consumer reads ``Input[Dataset]``/``Input[Model]`` at ``.path``. suiro stores each file by its
bytes and records its kind and metadata (``suiro artifacts last``, ``--json``). What differs:

- ``base_image``/``packages_to_install``: every task runs in the local Python environment;
  containers are not part of suiro.
- ``kfp.compiler.Compiler().compile(...)`` to YAML: ``suiro compile
  examples/chapter/05_kfp_basic_pipeline.py --target kfp -o ml_pipeline.yaml`` writes it with the
  kfp SDK's compiler, each file output a typed KFP artifact (``docs/compile.md``).

    suiro run examples/chapter/05_kfp_basic_pipeline.py --set n_estimators=10
    suiro artifacts last
"""

from __future__ import annotations

import json

from suiro import Dataset, Input, Metrics, Model, Output, pipeline, task

FEATURES = ["feature1", "feature2"]


@task
def load_data(dataset: Output[Dataset]) -> None:
    """The listing's five-row dummy data set, written as CSV."""
    import pandas as pd

    df = pd.DataFrame({"feature1": [1, 2, 3, 4, 5], "feature2": [2, 4, 6, 8, 10], "target": [0, 0, 1, 1, 1]})
    df.to_csv(dataset.path, index=False)
    dataset.metadata["rows"] = len(df)


@task
def train_model(dataset: Input[Dataset], n_estimators: int, model: Output[Model]) -> None:
    # Output parameters last: suiro binds the caller's arguments by position to the others.
    import joblib
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    df = pd.read_csv(dataset.path)
    fitted = RandomForestClassifier(n_estimators=n_estimators, random_state=42)
    joblib.dump(fitted.fit(df[FEATURES], df["target"]), model.path)
    model.metadata["n_estimators"] = n_estimators


@task
def evaluate_model(dataset: Input[Dataset], model: Input[Model], metrics: Output[Metrics]) -> None:
    """Accuracy on the training rows, as in the listing (no held-out data in five rows)."""
    import joblib
    import pandas as pd
    from sklearn.metrics import accuracy_score

    df = pd.read_csv(dataset.path)
    accuracy = float(accuracy_score(df["target"], joblib.load(model.path).predict(df[FEATURES])))
    print(f"accuracy: {accuracy:.3f}")
    with open(metrics.path, "w") as f:
        json.dump({"accuracy": accuracy}, f)
    metrics.metadata["accuracy"] = accuracy


@pipeline(description="A basic ML training pipeline")
def ml_pipeline(n_estimators: int = 100):
    dataset = load_data()
    evaluate_model(dataset, train_model(dataset, n_estimators))
