"""Section 3.5, listing "設定のパラメータ化" (parameterisation), ported.

The listing's ``PipelineConfig`` dataclass, YAML file, environment variables and argparse
overrides are suiro's layered parameters, lowest first: the signature's defaults, a YAML file
(``-c``), ``SUIRO_PARAM_<NAME>`` variables, then ``--set``. What differs:

- No loader code: parameters are the pipeline function's arguments, validated against their
  annotations; a dataclass parameter takes a mapping (``pipeline:`` in the YAML) and
  ``--set pipeline.n_estimators=200`` sets one field (argparse's ``--n-estimators``).
- The YAML file is ``14_config.yaml`` beside this file, keyed like the listing's.
- ``data_source`` defaults to scikit-learn's bundled data instead of an S3 URL.

    suiro run examples/chapter/14_parameterization.py -c examples/chapter/14_config.yaml \\
        --set pipeline.n_estimators=20
"""

from __future__ import annotations

from dataclasses import dataclass

import suiro
from suiro import task


@dataclass
class PipelineConfig:
    data_source: str = "sklearn:breast_cancer"
    output_dir: str = "chapter_work"
    model_type: str = "random_forest"
    n_estimators: int = 100
    test_size: float = 0.2
    random_state: int = 42


@task
def describe(config: PipelineConfig, hyperparameters: dict) -> dict:
    """What the run was configured with (the listing prints it)."""
    print(
        f"data source: {config.data_source}, model: {config.model_type}, hyperparameters: {hyperparameters}"
    )
    return {"model_type": config.model_type, "n_estimators": config.n_estimators, **hyperparameters}


@task
def train_and_score(config: PipelineConfig, hyperparameters: dict) -> float:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    if config.data_source != "sklearn:breast_cancer" or config.model_type != "random_forest":
        raise ValueError("this example trains only random_forest on sklearn:breast_cancer")
    X, y = load_breast_cancer(return_X_y=True)  # noqa: N806
    X_train, X_test, y_train, y_test = train_test_split(  # noqa: N806
        X, y, test_size=config.test_size, random_state=config.random_state
    )
    model = RandomForestClassifier(
        n_estimators=config.n_estimators, random_state=config.random_state, **hyperparameters
    )
    return float(model.fit(X_train, y_train).score(X_test, y_test))


@suiro.pipeline
def parameterized(
    pipeline: PipelineConfig = PipelineConfig(),  # noqa: B008 - a default value, never mutated
    hyperparameters: dict = {"max_depth": 10, "min_samples_split": 5},  # noqa: B006
):
    return {
        "config": describe(pipeline, hyperparameters),
        "accuracy": train_and_score(pipeline, hyperparameters),
    }
