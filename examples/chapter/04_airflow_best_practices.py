"""Section 3.2, listing "Airflow ベストプラクティス" (Airflow best practices), ported.

The five practices and what becomes of them in suiro:

1. Idempotent tasks: a task returns its output; suiro writes it atomically, keyed by content.
2. "XCom only for small data, pass large data as a file path": not needed. Outputs are stored
   in suiro's artifact store whatever their size, so ``prepare`` returns the DataFrame itself.
3. One task per step: ``prepare``, ``train`` and ``compare`` are separate tasks, each retried,
   cached and logged on its own.
4. Dynamic task generation (a ``for`` loop creating one ``PythonOperator`` per model):
   ``train.map(...)`` makes one task run per item of a list, run in parallel; the list may be a
   parameter or another task's output.
5. ``FileSensor`` (wait for ``/data/input.csv``, poking every 60 s for at most an hour):
   ``wait_for_file(input_csv, poke_interval=60, timeout=3600)``, in reschedule mode (no worker is
   held between pokes; each poke is a line in ``suiro logs RUN wait_for_file``). It returns the
   matching paths, which ``prepare`` reads.

Make the input first (scikit-learn's bundled iris data), or the run waits up to an hour for it:

    python examples/chapter/04_airflow_best_practices.py      # writes chapter_work/input.csv
    suiro run examples/chapter/04_airflow_best_practices.py --set 'models=[random_forest]'
"""

from __future__ import annotations

import pandas as pd

from suiro import pipeline, task, unmapped
from suiro.sensors import wait_for_file

_MODELS = {
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier", {"n_estimators": 20, "random_state": 0}),
    "gradient_boosting": (
        "sklearn.ensemble",
        "GradientBoostingClassifier",
        {"n_estimators": 10, "random_state": 0},
    ),
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression", {"max_iter": 1000}),
}


@task
def prepare(paths: list[str]) -> pd.DataFrame:
    """The whole DataFrame is the output: no path to agree on downstream, no file to clean up."""
    return pd.read_csv(paths[0])


@task
def train(data: pd.DataFrame, model_type: str) -> dict:
    """One task run per model type (the listing's ``train_{model_name}`` operators)."""
    import importlib

    from sklearn.model_selection import cross_val_score

    module, name, kwargs = _MODELS[model_type]
    estimator = getattr(importlib.import_module(module), name)(**kwargs)
    scores = cross_val_score(estimator, data.drop(columns="target"), data["target"], cv=3)
    return {"model": model_type, "accuracy": float(scores.mean())}


@task
def compare(results: list[dict]) -> str:
    return max(results, key=lambda r: r["accuracy"])["model"]


@pipeline
def best_practices(
    input_csv: str = "chapter_work/input.csv",
    models: list[str] = ["random_forest", "gradient_boosting", "logistic_regression"],  # noqa: B006
):
    """Airflow's best practices, most of them carried by suiro itself."""
    found = wait_for_file(input_csv, poke_interval=60, timeout=3600)
    return compare(train.map(unmapped(prepare(found)), models))


def write_input(path: str = "chapter_work/input.csv") -> None:
    """Write the iris data where the sensor waits for it (written whole, then renamed into place)."""
    import os

    from sklearn.datasets import load_iris

    os.makedirs(os.path.dirname(path), exist_ok=True)
    load_iris(as_frame=True).frame.to_csv(path + ".tmp", index=False)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    write_input()
