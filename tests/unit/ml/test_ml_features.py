"""build_preprocessor and the no-leakage property of trained pipelines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from suiro.errors import DataValidationError
from suiro.ml import build_preprocessor, split, train


def _mixed(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    a[::10] = np.nan
    return pd.DataFrame(
        {
            "a": a,
            "b": rng.integers(0, 100, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "flag": rng.choice([True, False], n),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
            "target": np.tile([0, 1], n // 2),
        }
    )


def test_numeric_and_categorical_columns_get_their_branches():
    x = _mixed().drop(columns="target")
    pre = build_preprocessor(x)
    branches = {name: cols for name, _, cols in pre.transformers}
    assert branches == {"numeric": ["a", "b"], "categorical": ["color", "flag", "size"]}
    with pytest.raises(NotFittedError):
        check_is_fitted(pre)


def test_missing_values_in_text_and_bool_columns_are_imputed():
    x = pd.DataFrame({"n": [1.0, None, 3.0], "t": ["x", None, "x"], "f": [True, None, False]})
    out = build_preprocessor(x).fit(x)
    encoded = out.transform(x)
    assert not np.isnan(encoded).any()
    names = list(out.get_feature_names_out())
    assert names == ["numeric__n", "categorical__t_x", "categorical__f_False", "categorical__f_True"]


def test_unencodable_columns_are_an_error():
    x = pd.DataFrame({"n": [1.0, 2.0], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    with pytest.raises(
        DataValidationError, match=r"cannot encode feature column 'when' \(datetime64.*\); convert"
    ):
        build_preprocessor(x)
    with pytest.raises(DataValidationError, match=r"the frame has no feature columns; pass at least one"):
        build_preprocessor(pd.DataFrame(index=range(3)))


def test_no_leakage_preprocessing_is_fitted_on_training_rows_only():
    df = _mixed(400)
    data = split(df, seed=3)
    # Shift the held-out rows: statistics fitted on all rows would move, train-only ones would not.
    shifted = data.X_test.assign(a=data.X_test["a"] + 100.0, b=data.X_test["b"] + 1000, color="purple")
    data = dataclasses.replace(data, X_test=shifted)
    model = train(data, "logistic_regression")

    numeric = model.pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    imputer, scaler = numeric.named_steps["impute"], numeric.named_steps["scale"]
    train_rows = data.X_train[["a", "b"]]
    all_rows = pd.concat([data.X_train, data.X_test])[["a", "b"]]
    np.testing.assert_allclose(imputer.statistics_, train_rows.median())
    imputed = train_rows.fillna(train_rows.median())
    np.testing.assert_allclose(scaler.mean_, imputed.mean())
    np.testing.assert_allclose(scaler.scale_, imputed.std(ddof=0))
    assert not np.allclose(imputer.statistics_, all_rows.median())
    assert not np.allclose(scaler.mean_, all_rows.fillna(all_rows.median()).mean())

    encoder = (
        model.pipeline.named_steps["preprocess"].named_transformers_["categorical"].named_steps["encode"]
    )
    assert list(encoder.categories_[0]) == ["blue", "green", "red"]  # "purple" exists only in test rows
    assert len(model.pipeline.predict(data.X_test)) == len(data.X_test)  # unseen categories are ignored
