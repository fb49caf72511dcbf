"""Section 3.4, listing "動的タスク生成" (Prefect ``Multi-Model Training``), ported.

A ``for`` loop over model types calling ``train_model`` in the flow becomes ``train_model.map``:
one task run per model type, in parallel, the results arriving as one list in order. What
differs:

- The listing's loop runs in Python as the flow runs; here the list is a parameter and the
  fan-out is part of the traced graph (``suiro graph`` shows it before anything runs). A loop
  over values only known at run time (``if model_types is None: ...``) waits for dynamic
  pipelines (``@pipeline(dynamic=True)``, issue 12).
- The listing returns a fixed accuracy of 0.85 for every model; this port trains real
  scikit-learn models on the bundled wine data so that ``select_best_model`` has a choice to make.
- xgboost/lightgbm/catboost become scikit-learn models (``19_exercise4_multi_model.py`` uses the
  real xgboost and lightgbm through ``suiro.ml``).

    suiro run examples/chapter/09_prefect_dynamic_tasks.py --set 'model_types=[random_forest,naive_bayes]'
"""

from __future__ import annotations

from suiro import pipeline, task, unmapped


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


@pipeline(description="Multi-Model Training")
def multi_model_training(
    data_path: str = "sklearn:wine",
    model_types: list[str] = ["random_forest", "extra_trees", "decision_tree", "naive_bayes"],  # noqa: B006
):
    return select_best_model(train_model.map(model_types, unmapped(data_path)))
