"""Section 3.4, listing "動的タスク生成" (Prefect ``Multi-Model Training``), ported.

The listing's flow body, as written: ``@pipeline(dynamic=True)`` runs it at run time, so
``if model_types is None:`` picks the default list, and a ``for`` loop calls
``train_model.submit(...)`` once per model type (the calls run in parallel; ``.result()`` waits).
Each call is a recorded, cached task attempt (``train_model``, ``train_model_2``, ...), and
``suiro graph`` draws what the latest run called. What differs:

- The listing returns a fixed accuracy of 0.85 for every model; this port trains real
  scikit-learn models on the bundled wine data so that ``select_best_model`` has a choice to make.
- xgboost/lightgbm/catboost become scikit-learn models (``19_exercise4_multi_model.py`` uses the
  real xgboost and lightgbm through ``suiro.ml``).
- ``04_airflow_best_practices.py`` shows the static way, ``map`` over a list known before the run.

    suiro run examples/chapter/09_prefect_dynamic_tasks.py --set 'model_types=[random_forest,naive_bayes]'
"""

from __future__ import annotations

from suiro import pipeline, task


@task
def train_model(model_type: str, data_path: str) -> dict:
    """Train and score one model type (cross-validated accuracy)."""
    from sklearn.datasets import load_wine
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.model_selection import cross_val_score
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    models = {
        "random_forest": RandomForestClassifier(n_estimators=20, random_state=0),
        "extra_trees": ExtraTreesClassifier(n_estimators=20, random_state=0),
        "decision_tree": DecisionTreeClassifier(random_state=0),
        "naive_bayes": GaussianNB(),
    }
    if model_type not in models:
        raise ValueError(f"unknown model type {model_type!r}; use one of {sorted(models)}")
    if data_path != "sklearn:wine":
        raise ValueError(f"this example reads only 'sklearn:wine', not {data_path!r}")
    X, y = load_wine(return_X_y=True)  # noqa: N806
    print(f"training {model_type}")
    return {"model": model_type, "accuracy": float(cross_val_score(models[model_type], X, y, cv=3).mean())}


@task
def select_best_model(results: list[dict]) -> dict:
    best = max(results, key=lambda r: r["accuracy"])
    print(f"best model: {best['model']} (accuracy={best['accuracy']:.3f})")
    return best


@pipeline(description="Multi-Model Training", dynamic=True)
def multi_model_training(data_path: str = "sklearn:wine", model_types: list[str] | None = None):
    if model_types is None:
        model_types = ["random_forest", "extra_trees", "decision_tree", "naive_bayes"]
    futures = [train_model.submit(model_type, data_path) for model_type in model_types]
    results = [future.result() for future in futures]
    return select_best_model(results)
