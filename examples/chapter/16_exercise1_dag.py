"""Exercise 1 (問題1) and the DAG figure of section 3.1, ported.

The exercise asks what a DAG is and why ML pipelines use one; the figure draws the chapter's
DAG: acquire -> validate -> preprocess -> feature engineering -> split -> (train, tune) ->
evaluate -> OK? -> register -> deploy, or alert. This port is that figure as a pipeline:
``suiro graph examples/chapter/16_exercise1_dag.py --format mermaid`` draws it from the code,
and a run executes it in that order, ``train`` and ``tune`` in parallel (they share an input
and nothing else). What the exercise's answer says, suiro enforces: edges come from data, so a
task can only use what ran before it (no cycles), and a failed step is re-run alone with
``suiro resume``.

What differs: the figure's "train" and "tune" both feed "evaluate"; here ``tune`` picks the
parameters and ``evaluate`` scores the model trained with them against the untuned one.

    suiro run examples/chapter/16_exercise1_dag.py --set threshold=0.999   # alert
"""

from __future__ import annotations

import pandas as pd

from suiro import pipeline, task, when


@task
def acquire() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


@task
def validate(data: pd.DataFrame) -> pd.DataFrame:
    if data.isna().any().any():
        raise ValueError("the data has missing values; clean the source")
    return data


@task
def preprocess(data: pd.DataFrame) -> pd.DataFrame:
    return data.drop_duplicates()


@task
def engineer_features(data: pd.DataFrame) -> pd.DataFrame:
    return data.assign(area_per_radius=data["mean area"] / data["mean radius"])


@task
def split(data: pd.DataFrame) -> dict:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(data, test_size=0.25, random_state=0, stratify=data["target"])
    return {"train": train, "test": test}


def _forest(**params):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=10, random_state=0, **params)


@task
def train(data: dict):
    train = data["train"]
    return _forest().fit(train.drop(columns="target"), train["target"])


@task
def tune(data: dict) -> dict:
    from sklearn.model_selection import GridSearchCV

    train = data["train"]
    search = GridSearchCV(_forest(), {"max_depth": [3, 6]}, cv=3).fit(
        train.drop(columns="target"), train["target"]
    )
    return dict(search.best_params_)


@task
def evaluate(model, best_params: dict, data: dict) -> dict:
    train, test = data["train"], data["test"]
    tuned = _forest(**best_params).fit(train.drop(columns="target"), train["target"])
    X, y = test.drop(columns="target"), test["target"]  # noqa: N806
    return {"accuracy": max(model.score(X, y), tuned.score(X, y)), "best_params": best_params}


@task
def register(metrics: dict) -> str:
    return f"registered (accuracy {metrics['accuracy']:.3f})"


@task
def deploy(registered: str) -> str:
    return f"deployed: {registered}"


@task
def alert(metrics: dict, threshold: float) -> str:
    return f"alert: accuracy {metrics['accuracy']:.3f} below {threshold}"


@task(trigger_rule="one_success")
def outcome(deployed: str | None, alerted: str | None) -> str:
    return deployed or alerted


@pipeline
def chapter_dag(threshold: float = 0.9):
    """The chapter's ML pipeline DAG (section 3.1 figure)."""
    data = split(engineer_features(preprocess(validate(acquire()))))
    metrics = evaluate(train(data), tune(data), data)
    ok = metrics["accuracy"] >= threshold
    with when(ok):
        deployed = deploy(register(metrics))
    with when(~ok):
        alerted = alert(metrics, threshold)
    return outcome(deployed, alerted)
