"""validate: each check failing alone, several failing together in one error, and passing frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from suiro.errors import DataValidationError, ParameterError
from suiro.ml import validate


@pytest.fixture
def people() -> pd.DataFrame:
    """10 clean rows: numbers, text and a balanced binary target."""
    return pd.DataFrame(
        {
            "age": [23, 35, 41, 52, 29, 61, 38, 45, 33, 27],
            "income": [1.2, 2.5, 3.1, 4.0, 1.8, 5.2, 2.9, 3.3, 2.2, 1.5],
            "city": ["Kyoto", "Osaka", "Nara", "Kobe", "Kyoto", "Osaka", "Nara", "Kobe", "Kyoto", "Osaka"],
            "target": [0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        }
    )


def test_a_passing_frame_is_returned_unchanged(people):
    checks = {
        "required_columns": {"age": "int", "income": "float", "city": "string", "target": "int64"},
        "min_rows": 10,
        "min_class_share": 0.5,
        "ranges": {"age": (18, 99), "income": (0, None)},
        "allow_duplicates": False,
    }
    assert validate(people, **checks) is people
    assert validate(people, required_columns=["age", "city"], target=None) is people


def _failure(people: pd.DataFrame, **checks: object) -> list[str]:
    with pytest.raises(DataValidationError) as err:
        validate(people, **checks)
    return err.value.failures


def test_min_rows(people):
    assert _failure(people, min_rows=500) == ["rows 10 < min_rows 500"]


def test_missing_required_column(people):
    assert _failure(people, required_columns=["age", "height"]) == ["column 'height' is missing"]


def test_required_dtype(people):
    failures = _failure(people, required_columns={"age": "float", "city": "numeric", "income": "float64"})
    assert failures == ["column 'age' dtype int64 is not float", "column 'city' dtype str is not numeric"]


def test_null_share(people):
    people = people.assign(income=[np.nan, np.nan, *people["income"].tolist()[2:]])
    assert _failure(people) == ["column 'income' null share 0.20 > 0.00"]
    assert validate(people, max_null_share=0.2) is people  # the limit itself is allowed


def test_missing_target(people):
    assert _failure(people, target="label") == ["target column 'label' is missing"]


def test_class_share(people):
    people = people.assign(target=[0] * 9 + [1])
    assert _failure(people, min_class_share=0.2) == ["class 1 share 0.10 < 0.20"]


def test_ranges_low_and_high(people):
    people = people.assign(age=[-3, *people["age"].tolist()[1:-1], 130])
    assert _failure(people, ranges={"age": (0, 120)}) == [
        "column 'age' min -3 < 0",
        "column 'age' max 130 > 120",
    ]


def test_range_on_a_missing_or_text_column(people):
    failures = _failure(people, ranges={"height": (0, 3), "city": (0, 1)})
    assert failures == [
        "column 'height' (in ranges) is missing",
        "column 'city' dtype str is not numeric, so its range cannot be checked",
    ]


def test_duplicate_rows(people):
    people = pd.concat([people, people.iloc[:2]], ignore_index=True)
    assert validate(people) is people  # duplicates are allowed by default
    assert _failure(people, allow_duplicates=False) == ["2 duplicate rows (allow_duplicates=False)"]


def test_every_failure_in_one_error_with_measured_values(people):
    small = people.iloc[:5].assign(age=[np.nan, 35, 41, 52, 29], target=[0, 0, 0, 0, 1])
    with pytest.raises(
        DataValidationError,
        match=r"^3 checks failed: rows 5 < min_rows 500; column 'age' null share 0\.20 > 0\.00; "
        r"class 1 share 0\.20 < 0\.25; fix the data or relax the checks\.$",
    ) as err:
        validate(small, min_rows=500, min_class_share=0.25)
    assert len(err.value.failures) == 3
    assert isinstance(err.value, ValueError)


def test_one_failure_says_check_not_checks(people):
    with pytest.raises(DataValidationError, match=r"^1 check failed: rows 10 < min_rows 11; fix the data"):
        validate(people, min_rows=11)


def test_badly_set_checks_are_parameter_errors(people):
    with pytest.raises(ParameterError, match=r"validate: max_null_share must be between 0 and 1, got 1\.5"):
        validate(people, max_null_share=1.5)
    with pytest.raises(ParameterError, match=r"required_columns\['age'\] = 'integr' is neither a dtype kind"):
        validate(people, required_columns={"age": "integr"})
