"""Split: hold out test (and optionally validation) rows, stratified and seeded.

Owns the ``Split`` record every later task takes, and deciding whether the target makes a
classification or a regression problem. Must not transform features: fitting anything on
the whole frame before splitting would leak test statistics into training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import train_test_split

from suiro.errors import ParameterError, did_you_mean
from suiro.task import task

TaskType = Literal["classification", "regression"]
TASK_TYPES: tuple[str, ...] = ("classification", "regression")
#: An integer target with at most this many distinct values is taken as class labels.
MAX_CLASSES = 20


@dataclass(frozen=True, eq=False)
class Split:
    """Features and target, held out into train / test (/ validation) parts.

    Attributes:
        X_train, X_test: feature frames (the target column removed), original index kept.
        y_train, y_test: the target values matching those rows.
        target: the target column's name.
        task_type: ``classification`` or ``regression``.
        X_valid, y_valid: the validation part, or None when ``valid_size`` was 0.
    """

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    target: str
    task_type: TaskType
    X_valid: pd.DataFrame | None = None
    y_valid: pd.Series | None = None


def infer_task_type(y: pd.Series) -> TaskType:
    """``classification`` for labels (text, bool, category, or integers with few values), else regression."""
    if ptypes.is_bool_dtype(y) or isinstance(y.dtype, pd.CategoricalDtype):
        return "classification"
    if ptypes.is_float_dtype(y):
        return "regression"
    if ptypes.is_integer_dtype(y):
        return "classification" if y.nunique() <= MAX_CLASSES else "regression"
    return "classification"


@task
def split(
    df: pd.DataFrame,
    target: str = "target",
    *,
    test_size: float = 0.2,
    valid_size: float = 0.0,
    seed: int = 0,
    stratify: bool = True,
    task_type: TaskType | None = None,
) -> Split:
    """Hold out a test part (and a validation part) of ``df``.

    Models are judged on rows they never saw; stratifying keeps each class's share the
    same in every part, so a rare class is not missing from the test rows by chance; the
    seed makes the split (and so everything after it) reproducible.

    Args:
        df: the data, target included.
        target: the target column.
        test_size: share of rows held out for testing, in (0, 1).
        valid_size: share of all rows held out for validation (0 for none).
        seed: random seed of the shuffle.
        stratify: keep class shares equal across parts (classification only).
        task_type: force ``classification`` or ``regression`` instead of inferring it.

    Returns:
        A ``Split``.

    Raises:
        ParameterError: unknown target column, bad sizes, missing target values, or a class
            too small to stratify.
    """
    _check_sizes(test_size, valid_size)
    if target not in df.columns:
        columns = [str(c) for c in df.columns]
        raise ParameterError(
            f"split: no target column {target!r}{did_you_mean(target, columns)}; "
            f"the columns are {', '.join(columns)}.",
            parameter="target",
        )
    y = df[target]
    missing = int(y.isna().sum())
    if missing:
        raise ParameterError(
            f"split: target column {target!r} has {missing} missing values; drop those rows first.",
            parameter="target",
        )
    if task_type is not None and task_type not in TASK_TYPES:
        raise ParameterError(
            f"split: task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}.", parameter="task_type"
        )
    kind: TaskType = task_type or infer_task_type(y)
    strata = kind == "classification" and stratify
    if strata:
        _check_strata(y)
    X = df.drop(columns=[target])  # noqa: N806
    X_rest, X_test, y_rest, y_test = train_test_split(  # noqa: N806
        X, y, test_size=test_size, random_state=seed, stratify=y if strata else None
    )
    X_valid = y_valid = None  # noqa: N806
    if valid_size:
        X_rest, X_valid, y_rest, y_valid = train_test_split(  # noqa: N806
            X_rest,
            y_rest,
            test_size=valid_size / (1 - test_size),
            random_state=seed,
            stratify=y_rest if strata else None,
        )
    return Split(X_rest, X_test, y_rest, y_test, target, kind, X_valid, y_valid)


def _check_sizes(test_size: float, valid_size: float) -> None:
    if not 0 < test_size < 1:
        raise ParameterError(f"split: test_size must be in (0, 1), got {test_size!r}.", parameter="test_size")
    if not 0 <= valid_size < 1 or test_size + valid_size >= 1:
        raise ParameterError(
            f"split: valid_size must be >= 0 with test_size + valid_size < 1, got {valid_size!r} "
            f"with test_size {test_size!r}; lower one of them.",
            parameter="valid_size",
        )


def _check_strata(y: pd.Series) -> None:
    counts = y.value_counts()
    rare = counts[counts < 2]
    if len(rare):
        labels = ", ".join(str(label) for label in sorted(rare.index, key=str))
        raise ParameterError(
            f"split: class{'es' if len(rare) > 1 else ''} {labels} of the target "
            f"{'have' if len(rare) > 1 else 'has'} fewer than 2 rows, too few to stratify; "
            "collect more rows, drop the class, or pass stratify=False.",
            parameter="stratify",
        )
