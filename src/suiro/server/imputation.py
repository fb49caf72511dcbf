"""Which input columns a served model imputes, read from its fitted scikit-learn preprocessing.

Owns the answer to "may this column be missing?". A column is imputed when the first step that
reads it is a fitted imputer from ``sklearn.impute`` that replaces NaN: the model itself, the
first step of a Pipeline (after column-preserving FunctionTransformers, like the built-in
preprocessing's ``as_text``), or a ColumnTransformer branch that starts so. Must not guess:
whatever it cannot trace (custom transformers, column selections it cannot resolve, models that
take NaN themselves) counts as not imputed, so a missing value there is refused, never passed on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Imputation:
    """How a model replaces a missing value in one column.

    Attributes:
        strategy: the imputer's strategy (``median``, ``mean``, ``most_frequent``, ``constant``),
            or ``knn``/``iterative`` for imputers that do not use one value.
        value: the value that replaces a missing one (None when there is no single value).
    """

    strategy: str
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        """As ``GET /model`` shows it."""
        return {"strategy": self.strategy, "value": self.value}


def imputations(model: Any, columns: list[str]) -> dict[str, Imputation]:
    """The columns among ``columns`` (the model's input, in order) that ``model`` imputes, and how."""
    found: dict[str, Imputation] = {}
    _trace(model, list(columns), found)
    return {column: found[column] for column in columns if column in found}


def _trace(step: Any, columns: list[str], found: dict[str, Imputation]) -> None:
    """Record the imputations of ``step``, which reads ``columns``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            preserving = isinstance(inner, FunctionTransformer) and inner.feature_names_out == "one-to-one"
            if not (inner is None or inner == "passthrough" or preserving):
                _trace(inner, columns, found)  # only the first real step sees the columns as sent
                return
    elif isinstance(step, ColumnTransformer) and hasattr(step, "transformers_"):
        names = [str(n) for n in getattr(step, "feature_names_in_", columns)]
        for _, inner, selection in step.transformers_:
            selected = _selected(selection, names)
            if selected and not isinstance(inner, str):  # "drop" and "passthrough" impute nothing
                _trace(inner, selected, found)
    elif type(step).__module__.startswith("sklearn.impute"):
        _imputer(step, columns, found)


def _imputer(imputer: Any, columns: list[str], found: dict[str, Imputation]) -> None:
    marker = getattr(imputer, "missing_values", None)
    if not (isinstance(marker, float) and math.isnan(marker)):
        return  # it replaces another marker (0, -1, None...), so NaN would still reach the model
    names = getattr(imputer, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
    elif getattr(imputer, "n_features_in_", None) == len(columns):
        names = columns  # fitted on an array: its columns are the ones it reads, in order
    else:
        return
    statistics = getattr(imputer, "statistics_", None)
    if statistics is None:  # KNNImputer, IterativeImputer
        strategy = {"KNNImputer": "knn", "IterativeImputer": "iterative"}.get(type(imputer).__name__)
        for name in names:
            found[name] = Imputation(strategy or type(imputer).__name__)
        return
    for name, value in zip(names, statistics, strict=False):
        found[name] = Imputation(str(imputer.strategy), _plain(value))


def _selected(selection: Any, names: list[str]) -> list[str]:
    """The column names a ColumnTransformer ``selection`` picks from ``names``; [] if unclear."""
    import numpy as np

    if isinstance(selection, str):
        return [selection]
    if isinstance(selection, int | np.integer):
        return [names[selection]] if -len(names) <= selection < len(names) else []
    if isinstance(selection, slice) and not isinstance(selection.start or selection.stop, str):
        return names[selection]
    if not isinstance(selection, list | tuple | np.ndarray):
        return []  # a callable or anything else not resolved at fit time
    picked = list(selection)
    if picked and all(isinstance(p, bool | np.bool_) for p in picked):
        return [n for n, keep in zip(names, picked, strict=False) if keep]
    if all(isinstance(p, int | np.integer) for p in picked):
        return [names[p] for p in picked if -len(names) <= p < len(names)]
    return [str(p) for p in picked]


def _plain(value: Any) -> Any:
    """A JSON-able form of an imputer statistic (None for NaN: the column was dropped)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
