"""Section 3.5, listing "テスト可能なパイプライン設計" (a testable pipeline design), ported.

Pure tasks (``preprocess``), dependency injection (``train_model`` takes the model class's name
and its hyper-parameters), and a check of the pipeline's output. What differs:

- A task called outside a pipeline is a plain function call, so the listing's ``unittest``
  cases call ``preprocess`` directly with a small DataFrame (tests/e2e/test_chapter.py does).
- The listing's end-to-end test patches ``load_data`` and ``save_model`` with mocks; with suiro
  the pipeline runs for real on bundled data in a throw-away ``SUIRO_HOME``, and the test reads
  what was recorded (states, output) instead of asserting that a mock was called.

    suiro run examples/chapter/15_testability.py
"""

from __future__ import annotations

import pandas as pd

from suiro import pipeline, task


@task
def load_data(source: str) -> pd.DataFrame:
    from sklearn.datasets import load_wine

    if source != "sklearn:wine":
        raise ValueError(f"this example reads only 'sklearn:wine', not {source!r}")
    return load_wine(as_frame=True).frame


@task
def preprocess(data: pd.DataFrame) -> pd.DataFrame:
    """Drop rows with missing values, then scale every feature to mean 0 and deviation 1."""
    clean = data.dropna()
    features = clean.drop(columns="target", errors="ignore")
    scaled = (features - features.mean()) / features.std(ddof=0).replace(0, 1)
    return scaled.join(clean[["target"]]) if "target" in clean else scaled


@task
def train_model(data: pd.DataFrame, model_class: str, hyperparams: dict):
    """The estimator is named, not built here, so a test can pass a cheap one."""
    import importlib

    module, _, name = model_class.rpartition(".")
    model = getattr(importlib.import_module(module), name)(**hyperparams)
    return model.fit(data.drop(columns="target"), data["target"])


@task
def validate_output(model, data: pd.DataFrame) -> float:
    """The listing's output check: the model exists and scores on its data."""
    score = float(model.score(data.drop(columns="target"), data["target"]))
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"score {score} is not a fraction")
    return score


@pipeline
def testable(
    source: str = "sklearn:wine",
    model_class: str = "sklearn.linear_model.LogisticRegression",
    hyperparams: dict = {"max_iter": 500},  # noqa: B006
):
    data = preprocess(load_data(source))
    return validate_output(train_model(data, model_class, hyperparams), data)
