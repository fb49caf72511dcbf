"""The model catalogue: estimator names to deterministic, single-threaded estimators.

Owns which estimator each name means per task type, the defaults that make training
reproducible (a seed everywhere, ``n_jobs=1`` so parallelism comes from suiro's executor
and results do not depend on thread scheduling), and checking parameter names. Must not
fit anything. LightGBM and XGBoost are imported only when one of their models is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.preprocessing import LabelEncoder

from suiro.errors import ParameterError, UnknownModelError, did_you_mean

#: Name of the estimator step in every model Pipeline (the preprocessor is ``preprocess``).
MODEL_STEP = "model"
PREPROCESS_STEP = "preprocess"
# Families that take native parameters beyond their constructor's (LightGBM/XGBoost aliases).
_NATIVE_PARAMS = {"lightgbm", "xgboost"}


def _random_forest(kind: str, seed: int) -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if kind == "classification" else RandomForestRegressor
    return cls(random_state=seed, n_jobs=1)


def _gradient_boosting(kind: str, seed: int) -> BaseEstimator:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    cls = GradientBoostingClassifier if kind == "classification" else GradientBoostingRegressor
    return cls(random_state=seed)


def _logistic_regression(kind: str, seed: int) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def _linear_regression(kind: str, seed: int) -> BaseEstimator:
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def _lightgbm(kind: str, seed: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMClassifier if kind == "classification" else LGBMRegressor
    return cls(random_state=seed, n_jobs=1, verbose=-1, deterministic=True, force_row_wise=True)


def _xgboost(kind: str, seed: int) -> BaseEstimator:
    from xgboost import XGBClassifier, XGBRegressor

    cls = XGBClassifier if kind == "classification" else XGBRegressor
    return cls(random_state=seed, n_jobs=1, tree_method="hist")


CATALOGUE: dict[str, dict[str, Callable[[str, int], BaseEstimator]]] = {
    "classification": {
        "gradient_boosting": _gradient_boosting,
        "lightgbm": _lightgbm,
        "logistic_regression": _logistic_regression,
        "random_forest": _random_forest,
        "xgboost": _xgboost,
    },
    "regression": {
        "gradient_boosting": _gradient_boosting,
        "lightgbm": _lightgbm,
        "linear_regression": _linear_regression,
        "random_forest": _random_forest,
        "xgboost": _xgboost,
    },
}


def model_names(task_type: str) -> list[str]:
    """The catalogue's model names for ``classification`` or ``regression``, sorted."""
    return sorted(CATALOGUE[_checked_type(task_type)])


def make_estimator(
    name: str, task_type: str, params: Mapping[str, Any] | None = None, seed: int = 0
) -> BaseEstimator:
    """A new, unfitted estimator from the catalogue, seeded and single-threaded.

    Not a task: an unfitted estimator is a building block of ``train`` and ``tune``, not a
    pipeline result. XGBoost classifiers come wrapped in ``LabelEncodedClassifier`` since
    XGBoost only accepts labels 0..k-1.

    Args:
        name: a name from ``model_names(task_type)``.
        task_type: ``classification`` or ``regression``.
        params: estimator parameters overriding the defaults (``n_estimators``...).
        seed: random seed (``random_state``), unless ``params`` sets ``random_state``.

    Raises:
        UnknownModelError: ``name`` is not in the catalogue for ``task_type``.
        ParameterError: ``task_type`` is unknown, or a parameter name is not one the
            estimator takes.
    """
    kind = _checked_type(task_type)
    factories = CATALOGUE[kind]
    if name not in factories:
        raise _unknown_model(name, kind)
    estimator = factories[name](kind, seed)
    params = dict(params or {})
    if name not in _NATIVE_PARAMS:
        _check_param_names(name, estimator, params)
    estimator.set_params(**params)
    if name == "xgboost" and kind == "classification":
        return LabelEncodedClassifier(estimator)
    return estimator


def param_prefix(estimator: BaseEstimator) -> str:
    """How plain estimator parameters are addressed inside a model Pipeline (for search grids)."""
    inner = "estimator__" if isinstance(estimator, LabelEncodedClassifier) else ""
    return f"{MODEL_STEP}__{inner}"


def _checked_type(task_type: str) -> str:
    if task_type not in CATALOGUE:
        raise ParameterError(
            f"task_type {task_type!r} is not one of {', '.join(sorted(CATALOGUE))}.", parameter="task_type"
        )
    return task_type


def _unknown_model(name: str, kind: str) -> UnknownModelError:
    known = sorted(CATALOGUE[kind])
    others = [other for other in CATALOGUE if other != kind and name in CATALOGUE[other]]
    if others:
        what = f"model {name!r} is for {others[0]} only"
    else:
        what = f"unknown {kind} model {name!r}{did_you_mean(name, known)}"
    return UnknownModelError(
        f"{what}; the {kind} models are {', '.join(known)}.", name=name, task_type=kind, known=known
    )


def _check_param_names(name: str, estimator: BaseEstimator, params: Mapping[str, Any]) -> None:
    valid = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listed = ", ".join(f"{u!r}{did_you_mean(u, valid)}" for u in unknown)
        raise ParameterError(
            f"model {name!r} has no parameter {listed}; its parameters are {', '.join(sorted(valid))}.",
            parameter=unknown[0],
        )


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):
    """Wraps a classifier that needs labels 0..k-1 so it takes and returns any labels.

    ``classes_`` and ``predict`` use the original labels; ``predict_proba`` columns follow
    ``classes_``. Parameters of the wrapped estimator are ``estimator__<name>``.
    """

    def __init__(self, estimator: BaseEstimator):
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelEncodedClassifier:  # noqa: N803
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        self.estimator_ = clone(self.estimator).fit(X, self.encoder_.transform(y), **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return self.encoder_.inverse_transform(np.asarray(self.estimator_.predict(X)).astype(int))

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        return self.estimator_.predict_proba(X)

    @property
    def feature_importances_(self) -> np.ndarray:
        """The wrapped estimator's feature importances."""
        return self.estimator_.feature_importances_
