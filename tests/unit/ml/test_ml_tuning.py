"""tune: grid and random search over the whole Pipeline, reproducible CV tables, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score

from suiro.errors import ParameterError, UnknownModelError
from suiro.ml import model_pipeline, tune

GRID = {"n_estimators": [5, 15], "max_depth": [2, 4]}


def test_grid_search_returns_a_grid_point_and_a_four_row_table(cancer_split):
    result = tune(cancer_split, "random_forest", GRID)
    assert result.model == "random_forest"
    assert result.scoring == "accuracy"
    assert result.best_params["n_estimators"] in GRID["n_estimators"]
    assert result.best_params["max_depth"] in GRID["max_depth"]
    table = result.cv_results
    assert len(table) == 4
    assert list(table.columns) == [
        "n_estimators",
        "max_depth",
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "split0_test_score",
        "split1_test_score",
        "split2_test_score",
    ]
    best_row = table.loc[table["rank_test_score"] == 1].iloc[0]
    assert result.best_score == pytest.approx(table["mean_test_score"].max())
    assert {k: int(best_row[k]) for k in GRID} == result.best_params


def test_search_is_reproducible(cancer_split):
    first = tune(cancer_split, "lightgbm", GRID, seed=4)
    second = tune(cancer_split, "lightgbm", GRID, seed=4)
    assert first.best_params == second.best_params
    pd.testing.assert_frame_equal(first.cv_results, second.cv_results)


def test_random_search_samples_n_iter_points(cancer_split):
    result = tune(cancer_split, "xgboost", GRID, search="random", n_iter=2, scoring="roc_auc")
    assert len(result.cv_results) == 2
    assert result.scoring == "roc_auc"
    assert set(result.best_params) == set(GRID)
    # More iterations than points: every point once, as a grid search would.
    assert len(tune(cancer_split, "xgboost", GRID, search="random", n_iter=50).cv_results) == 4


def test_empty_grid_scores_the_defaults(cancer_split):
    result = tune(cancer_split, "logistic_regression", {}, cv=3, seed=0)
    assert result.best_params == {}
    assert len(result.cv_results) == 1
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    pipeline = model_pipeline(cancer_split.X_train, "logistic_regression", "classification")
    expected = cross_val_score(pipeline, cancer_split.X_train, cancer_split.y_train, cv=folds).mean()
    assert result.best_score == pytest.approx(expected)


def test_regression_uses_r2(diabetes_split):
    result = tune(diabetes_split, "linear_regression", {"fit_intercept": [True, False]})
    assert result.scoring == "r2"
    assert result.best_params == {"fit_intercept": True}


def test_unknown_grid_parameter(cancer_split):
    with pytest.raises(
        ParameterError,
        match=r"model 'random_forest' has no parameter 'depth' \(did you mean \"max_depth\"\?\)",
    ):
        tune(cancer_split, "random_forest", {"depth": [2, 3]})


def test_unknown_model(cancer_split):
    with pytest.raises(UnknownModelError, match=r"unknown classification model 'svm'"):
        tune(cancer_split, "svm", {})


def test_bad_search_settings_are_reported_together(cancer_split):
    with pytest.raises(
        ParameterError,
        match=r"tune: search 'bayes' is not one of grid, random; cv must be an integer >= 2, got 1; "
        r"grid\['max_depth'\] must be a non-empty list of candidate values, got 3\.",
    ):
        tune(cancer_split, "random_forest", {"max_depth": 3}, search="bayes", cv=1)
