"""split: stratification, sizes, reproducibility, task type inference, and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from suiro.errors import ParameterError
from suiro.ml import Split, infer_task_type, split


def _assert_stratified(y_all: pd.Series, part: pd.Series) -> None:
    """Each class's count in ``part`` is its overall share of ``len(part)``, within one row."""
    shares = y_all.value_counts(normalize=True)
    counts = part.value_counts()
    for label, share in shares.items():
        assert abs(counts.get(label, 0) - share * len(part)) <= 1, (
            label,
            counts.get(label, 0),
            share * len(part),
        )


def test_stratified_train_and_test(cancer):
    data = split(cancer, test_size=0.25, seed=1)
    assert len(data.X_test) == 143 and len(data.X_train) == 426
    for part in (data.y_train, data.y_test):
        _assert_stratified(cancer["target"], part)


def test_stratified_train_valid_and_test(cancer):
    data = split(cancer, test_size=0.2, valid_size=0.2, seed=2)
    assert data.X_valid is not None and data.y_valid is not None
    assert len(data.X_test) == 114 and len(data.X_valid) == 114 and len(data.X_train) == 341
    for part in (data.y_train, data.y_valid, data.y_test):
        _assert_stratified(cancer["target"], part)
    indexes = [set(data.X_train.index), set(data.X_valid.index), set(data.X_test.index)]
    assert set.union(*indexes) == set(cancer.index)
    assert sum(map(len, indexes)) == len(cancer)  # disjoint


def test_same_seed_same_split_other_seed_other_split(cancer):
    first, again, other = split(cancer, seed=7), split(cancer, seed=7), split(cancer, seed=8)
    assert list(first.X_test.index) == list(again.X_test.index)
    pd.testing.assert_frame_equal(first.X_train, again.X_train)
    assert list(first.X_test.index) != list(other.X_test.index)


def test_features_exclude_the_target_and_rows_stay_aligned(cancer_split: Split, cancer):
    assert "target" not in cancer_split.X_train.columns
    assert cancer_split.target == "target"
    assert (cancer_split.y_test == cancer.loc[cancer_split.X_test.index, "target"]).all()
    assert cancer_split.X_valid is None and cancer_split.y_valid is None


def test_task_type_is_inferred(cancer_split, diabetes_split):
    assert cancer_split.task_type == "classification"
    assert diabetes_split.task_type == "regression"
    assert infer_task_type(pd.Series(["cat", "dog"])) == "classification"
    assert infer_task_type(pd.Series([True, False])) == "classification"
    assert infer_task_type(pd.Series(np.arange(100))) == "regression"  # many integer values: a quantity
    assert infer_task_type(pd.Series([0.0, 1.0])) == "regression"  # floats are values, not labels


def test_task_type_can_be_forced(diabetes_split, cancer):
    data = split(cancer, task_type="regression", stratify=True)
    assert data.task_type == "regression"


def test_unknown_target_names_close_columns(cancer):
    with pytest.raises(
        ParameterError, match=r"split: no target column 'targt' \(did you mean \"target\"\?\)"
    ):
        split(cancer, target="targt")


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"test_size": 0.0}, r"test_size must be in \(0, 1\), got 0\.0"),
        ({"test_size": 0.5, "valid_size": 0.5}, r"valid_size must be >= 0 with test_size \+ valid_size < 1"),
    ],
)
def test_bad_sizes(cancer, sizes, message):
    with pytest.raises(ParameterError, match=message):
        split(cancer, **sizes)


def test_missing_target_values(cancer):
    broken = cancer.assign(target=cancer["target"].astype(float).where(cancer.index > 2))
    with pytest.raises(ParameterError, match=r"target column 'target' has 3 missing values; drop those rows"):
        split(broken)


def test_a_class_too_small_to_stratify(cancer):
    odd = cancer.assign(target=[2, *cancer["target"].tolist()[1:]])
    with pytest.raises(ParameterError, match=r"class 2 of the target has fewer than 2 rows.*stratify=False"):
        split(odd)
    assert len(split(odd, stratify=False).X_test) == 114
