"""Validate: declarative checks on a DataFrame, all reported at once.

Owns the checks (rows, required columns and dtypes, null shares, target presence and class
balance, value ranges, duplicate rows) and the one error that lists every failure with its
measured value. Must not change the data: a frame that passes is returned as it came.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
from pandas.api import types as ptypes

from suiro.errors import DataValidationError, ParameterError
from suiro.task import task

#: Dtype names ``required_columns`` accepts besides exact pandas names such as ``"int64"``.
DTYPE_KINDS: dict[str, Callable[[pd.Series], bool]] = {
    "numeric": lambda s: ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s),
    "int": lambda s: ptypes.is_integer_dtype(s) and not ptypes.is_bool_dtype(s),
    "integer": lambda s: ptypes.is_integer_dtype(s) and not ptypes.is_bool_dtype(s),
    "float": ptypes.is_float_dtype,
    "bool": ptypes.is_bool_dtype,
    "string": ptypes.is_string_dtype,
    "category": lambda s: isinstance(s.dtype, pd.CategoricalDtype),
    "datetime": ptypes.is_datetime64_any_dtype,
}
# Shares are compared with this slack so that 0.1 of 10 rows is not "above" 0.1.
_EPS = 1e-12


@task
def validate(
    df: pd.DataFrame,
    *,
    required_columns: dict[str, str] | list[str] | None = None,
    max_null_share: float = 0.0,
    min_rows: int = 1,
    target: str | None = "target",
    min_class_share: float | None = None,
    ranges: dict[str, tuple[float | None, float | None]] | None = None,
    allow_duplicates: bool = True,
) -> pd.DataFrame:
    """Check a frame before training and stop the run with every problem listed.

    Bad data is cheaper to reject here than to discover as a good-looking model; and one
    error naming every failure (with the measured value) saves a fix-rerun loop per check.

    Args:
        df: the data.
        required_columns: columns that must exist; as a dict, also their dtype: a kind from
            ``DTYPE_KINDS`` (``"numeric"``, ``"float"``, ``"string"``...) or an exact pandas
            dtype name (``"int64"``).
        max_null_share: the largest share of missing values allowed in any column.
        min_rows: the fewest rows accepted.
        target: the label column, which must exist; None skips target checks.
        min_class_share: when set, every class of ``target`` must have at least this share.
        ranges: ``{column: (low, high)}`` inclusive bounds; None leaves a side open.
        allow_duplicates: False makes fully duplicated rows a failure.

    Returns:
        ``df`` itself, unchanged.

    Raises:
        DataValidationError: one or more checks failed; ``err.failures`` lists them.
        ParameterError: a check is itself set up wrongly (e.g. a share outside 0..1).
    """
    _check_settings(max_null_share, min_rows, min_class_share, required_columns)
    failures: list[str] = []
    if len(df) < min_rows:
        failures.append(f"rows {len(df)} < min_rows {min_rows}")
    failures += _column_failures(df, required_columns)
    failures += _null_failures(df, max_null_share)
    failures += _target_failures(df, target, min_class_share)
    failures += _range_failures(df, ranges or {})
    if not allow_duplicates:
        duplicates = int(df.duplicated().sum())
        if duplicates:
            failures.append(
                f"{duplicates} duplicate row{'s' if duplicates > 1 else ''} (allow_duplicates=False)"
            )
    if failures:
        count = f"{len(failures)} check{'s' if len(failures) > 1 else ''} failed"
        raise DataValidationError(
            f"{count}: {'; '.join(failures)}; fix the data or relax the checks.", failures=failures
        )
    return df


def _check_settings(
    max_null_share: float,
    min_rows: int,
    min_class_share: float | None,
    required_columns: Mapping[str, str] | Sequence[str] | None,
) -> None:
    problems = []
    if not 0.0 <= max_null_share <= 1.0:
        problems.append(f"max_null_share must be between 0 and 1, got {max_null_share!r}")
    if min_class_share is not None and not 0.0 <= min_class_share <= 1.0:
        problems.append(f"min_class_share must be between 0 and 1, got {min_class_share!r}")
    if min_rows < 0:
        problems.append(f"min_rows must be >= 0, got {min_rows!r}")
    if isinstance(required_columns, Mapping):
        for column, kind in required_columns.items():
            if kind not in DTYPE_KINDS and not _is_dtype_name(kind):
                problems.append(
                    f"required_columns[{column!r}] = {kind!r} is neither a dtype kind "
                    f"({', '.join(sorted(DTYPE_KINDS))}) nor a pandas dtype name"
                )
    if problems:
        raise ParameterError(f"validate: {'; '.join(problems)}.", parameter="validate")


def _is_dtype_name(name: str) -> bool:
    try:
        pd.api.types.pandas_dtype(name)
    except TypeError:
        return False
    return True


def _column_failures(df: pd.DataFrame, required: Mapping[str, str] | Sequence[str] | None) -> list[str]:
    if required is None:
        return []
    kinds = dict(required) if isinstance(required, Mapping) else dict.fromkeys(required)
    failures = []
    for column, kind in kinds.items():
        if column not in df.columns:
            failures.append(f"column {column!r} is missing")
        elif kind is not None and not _has_dtype(df[column], kind):
            failures.append(f"column {column!r} dtype {df[column].dtype} is not {kind}")
    return failures


def _has_dtype(series: pd.Series, kind: str) -> bool:
    check = DTYPE_KINDS.get(kind)
    if check is not None:
        return bool(check(series))
    return series.dtype == pd.api.types.pandas_dtype(kind)


def _null_failures(df: pd.DataFrame, max_share: float) -> list[str]:
    if df.empty:
        return []
    shares = df.isna().mean()
    return [
        f"column {column!r} null share {share:.2f} > {max_share:.2f}"
        for column, share in shares.items()
        if share > max_share + _EPS
    ]


def _target_failures(df: pd.DataFrame, target: str | None, min_share: float | None) -> list[str]:
    if target is None:
        return []
    if target not in df.columns:
        return [f"target column {target!r} is missing"]
    if min_share is None:
        return []
    shares = df[target].value_counts(normalize=True, dropna=True)
    return [
        f"class {label} share {share:.2f} < {min_share:.2f}"
        for label, share in sorted(shares.items(), key=lambda item: str(item[0]))
        if share < min_share - _EPS
    ]


def _range_failures(df: pd.DataFrame, ranges: Mapping[str, tuple[float | None, float | None]]) -> list[str]:
    failures = []
    for column, (low, high) in ranges.items():
        if column not in df.columns:
            failures.append(f"column {column!r} (in ranges) is missing")
            continue
        values = df[column]
        if not ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
            failures.append(
                f"column {column!r} dtype {values.dtype} is not numeric, so its range cannot be checked"
            )
            continue
        if values.notna().sum() == 0:
            continue  # all missing: the null check reports it
        lowest, highest = values.min(), values.max()
        if low is not None and lowest < low:
            failures.append(f"column {column!r} min {lowest:g} < {low:g}")
        if high is not None and highest > high:
            failures.append(f"column {column!r} max {highest:g} > {high:g}")
    return failures
