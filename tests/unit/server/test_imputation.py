"""``suiro.server.imputation``: which columns a fitted scikit-learn model imputes, and with what.

Real fitted models; each case is one way a preprocessing can select columns or impute them. What
cannot be traced must count as not imputed, since the server then refuses missing values there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from suiro.server.imputation import Imputation, imputations

FRAME = pd.DataFrame(
    {
        "a": [1.0, 2.0, 3.0, 10.0],
        "b": [4.0, np.nan, 6.0, 8.0],
        "c": ["x", "y", "x", "x"],
        "d": [np.nan] * 4,
    }
)
Y = [0.0, 1.0, 2.0, 3.0]
NUMERIC = ["a", "b", "d"]


def fitted(*steps, clean=False):
    """The steps and a linear regression fitted on the numeric columns (NaN as 0 if ``clean``)."""
    x = FRAME[NUMERIC].fillna(0.0) if clean else FRAME[NUMERIC]
    with warnings.catch_warnings():  # "d" is all NaN: SimpleImputer warns that it drops it
        warnings.simplefilter("ignore")
        return make_pipeline(*steps, LinearRegression()).fit(x, Y)


CASES = {
    "the first step": (
        lambda: fitted(SimpleImputer(strategy="median")),
        {"a": Imputation("median", 2.5), "b": Imputation("median", 6.0), "d": Imputation("median", None)},
    ),
    "after a scaler, NaN reaches the model": (lambda: fitted(StandardScaler(), SimpleImputer()), {}),
    "another marker than NaN": (lambda: fitted(SimpleImputer(missing_values=-1.0), clean=True), {}),
    "after a column-preserving function": (
        lambda: fitted(FunctionTransformer(feature_names_out="one-to-one"), SimpleImputer(strategy="mean")),
        {"a": Imputation("mean", 4.0), "b": Imputation("mean", 6.0), "d": Imputation("mean", None)},
    ),
    "after a function that may change columns": (lambda: fitted(FunctionTransformer(), SimpleImputer()), {}),
    "knn": (lambda: fitted(KNNImputer(n_neighbors=1)), dict.fromkeys(["a", "b", "d"], Imputation("knn"))),
    "a branch chosen by position": (
        lambda: fitted(
            make_column_transformer(
                (SimpleImputer(strategy="constant", fill_value=0.0), [1]), remainder="drop"
            )
        ),
        {"b": Imputation("constant", 0.0)},
    ),
    "a branch chosen by a mask, the rest passed through": (
        lambda: fitted(
            make_column_transformer((SimpleImputer(), [True, False, False]), remainder="passthrough"),
            clean=True,
        ),
        {"a": Imputation("mean", 4.0)},
    ),
    "a branch chosen by a selector": (
        lambda: fitted(
            make_column_transformer((SimpleImputer(), make_column_selector(pattern="^b$")), remainder="drop")
        ),
        {"b": Imputation("mean", 6.0)},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_imputed_columns(case):
    make, expected = CASES[case]
    assert imputations(make(), NUMERIC) == expected


def test_the_most_frequent_text_and_nothing_for_a_model_without_preprocessing():
    imputer = SimpleImputer(strategy="most_frequent").fit(FRAME[["c"]])
    assert imputations(imputer, ["c"]) == {"c": Imputation("most_frequent", "x")}
    assert imputations(LinearRegression().fit(FRAME[["a"]], Y), ["a"]) == {}
    assert Imputation("median", 2.5).to_dict() == {"strategy": "median", "value": 2.5}
