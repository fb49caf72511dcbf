"""Preprocess and features: the column transform that goes in front of every model.

Owns choosing a transform per column (numeric: median imputation then scaling; text,
category and bool: most-frequent imputation then one-hot encoding). Must not fit anything:
the transform is fitted inside the model's Pipeline on the training split only (see
``models.train``), so no statistic of the test data leaks into training, and the same
fitted transform travels with the model to serving.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from suiro.errors import DataValidationError
from suiro.task import task


@task
def build_preprocessor(X: pd.DataFrame) -> ColumnTransformer:  # noqa: N803 - X is the ML convention
    """An unfitted ColumnTransformer suited to the columns of ``X``.

    Models need numbers without gaps on comparable scales; these defaults give that
    for any mix of numeric and categorical columns, and unseen categories at prediction
    time are ignored instead of failing.

    Args:
        X: the feature columns (the target already removed); only dtypes are read.

    Returns:
        A ``ColumnTransformer`` with a ``numeric`` and/or a ``categorical`` branch, dense
        output, not fitted.

    Raises:
        DataValidationError: ``X`` has no columns, or a column of a type that cannot be encoded
            (datetime, timedelta, period, ...).
    """
    numeric, categorical, other = split_columns(X)
    if other:
        described = ", ".join(f"{c!r} ({X[c].dtype})" for c in other)
        message = f"cannot encode feature column{'s' if len(other) > 1 else ''} {described}"
        raise DataValidationError(
            f"{message}; convert them to numbers or text, or drop them before training.", failures=[message]
        )
    if not numeric and not categorical:
        message = "the frame has no feature columns"
        raise DataValidationError(
            f"{message}; pass at least one column besides the target.", failures=[message]
        )
    branches: list[tuple[str, Any, list[str]]] = []
    if numeric:
        scale = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        branches.append(("numeric", scale, numeric))
    if categorical:
        encode = Pipeline(
            [
                ("as_text", FunctionTransformer(as_text, feature_names_out="one-to-one")),
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        branches.append(("categorical", encode, categorical))
    return ColumnTransformer(branches, remainder="drop", sparse_threshold=0.0)


def split_columns(X: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:  # noqa: N803
    """Column names of ``X`` as (numeric, categorical, unsupported), each in frame order."""
    numeric, categorical, other = [], [], []
    for column in X.columns:
        series = X[column]
        if ptypes.is_bool_dtype(series) or isinstance(series.dtype, pd.CategoricalDtype):
            categorical.append(column)
        elif ptypes.is_numeric_dtype(series):
            numeric.append(column)
        elif ptypes.is_object_dtype(series) or ptypes.is_string_dtype(series):
            categorical.append(column)
        else:
            other.append(column)
    return numeric, categorical, other


def as_text(X: Any) -> pd.DataFrame:  # noqa: N803
    """Categorical values as text with NaN for missing ones.

    SimpleImputer cannot read bool columns and does not see ``None`` as missing, and
    OneHotEncoder cannot sort mixed types; text with NaN works for all three, and the same
    conversion runs at prediction time. Public (module-level) so fitted models pickle.
    """
    frame = pd.DataFrame(X)
    text = frame.astype(str).astype(object)
    return text.where(frame.notna(), np.nan)
