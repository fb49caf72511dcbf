"""The catalogue and train: every model learns, training is reproducible byte for byte, errors are clear."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, r2_score

from suiro.errors import ParameterError, UnknownModelError
from suiro.ml import (
    LabelEncodedClassifier,
    Split,
    TrainedModel,
    load_dataset,
    make_estimator,
    model_names,
    split,
    train,
)

CLASSIFIERS = ["gradient_boosting", "lightgbm", "logistic_regression", "random_forest", "xgboost"]
REGRESSORS = ["gradient_boosting", "lightgbm", "linear_regression", "random_forest", "xgboost"]
SMALL = {"random_forest": {"n_estimators": 30}, "gradient_boosting": {"n_estimators": 30}}
SMALL |= {"lightgbm": {"n_estimators": 30}, "xgboost": {"n_estimators": 30}}


def _train(data: Split, name: str, seed: int = 0) -> TrainedModel:
    return train(data, name, SMALL.get(name), seed)


def _bytes(model: TrainedModel) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model.pipeline, buffer)
    return buffer.getvalue()


def test_catalogue_names():
    assert model_names("classification") == CLASSIFIERS
    assert model_names("regression") == REGRESSORS


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_beats_the_majority_class(name, cancer_split):
    model = _train(cancer_split, name)
    majority = cancer_split.y_test.value_counts(normalize=True).max()
    assert accuracy_score(cancer_split.y_test, model.pipeline.predict(cancer_split.X_test)) > majority
    assert model.classes == [0, 1]
    assert model.task_type == "classification"


@pytest.mark.parametrize("name", REGRESSORS)
def test_every_regressor_beats_the_mean(name, diabetes_split):
    model = _train(diabetes_split, name)
    assert r2_score(diabetes_split.y_test, model.pipeline.predict(diabetes_split.X_test)) > 0
    assert model.classes is None


@pytest.mark.parametrize(
    ("kind", "name"), [("classification", n) for n in CLASSIFIERS] + [("regression", n) for n in REGRESSORS]
)
def test_same_seed_gives_identical_predictions_and_bytes(kind, name, cancer_split, diabetes_split):
    data = cancer_split if kind == "classification" else diabetes_split
    first, second = _train(data, name, seed=5), _train(data, name, seed=5)
    assert first.pipeline is not second.pipeline
    np.testing.assert_array_equal(first.pipeline.predict(data.X_test), second.pipeline.predict(data.X_test))
    assert _bytes(first) == _bytes(second)


def test_the_seed_matters(cancer_split):
    assert _bytes(_train(cancer_split, "random_forest", seed=1)) != _bytes(
        _train(cancer_split, "random_forest", seed=2)
    )


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_estimators_are_seeded_and_single_threaded(kind):
    for name in model_names(kind):
        estimator = make_estimator(name, kind, seed=11)
        if isinstance(estimator, LabelEncodedClassifier):
            estimator = estimator.estimator
        params = estimator.get_params()
        assert params.get("n_jobs") in (None, 1), name
        assert params.get("random_state", 11) == 11, name


def test_lightgbm_is_quiet_and_deterministic():
    params = make_estimator("lightgbm", "classification").get_params()
    assert (params["verbose"], params["deterministic"], params["force_row_wise"]) == (-1, True, True)


def test_trained_model_records_its_inputs(cancer_split):
    model = train(cancer_split, "logistic_regression", {"C": 0.5}, seed=3)
    assert model.name == "logistic_regression"
    assert model.params == {"C": 0.5}
    assert model.seed == 3
    assert model.target == "target"
    assert model.feature_names == list(cancer_split.X_train.columns)
    assert model.feature_dtypes["mean radius"] == "float64"
    assert model.pipeline.named_steps["model"].C == 0.5


def test_text_labels_and_mixed_features_train_on_xgboost():
    iris = load_dataset("sklearn:iris")
    iris = iris.assign(
        target=iris["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"}),
        petal_band=np.where(iris["petal length (cm)"] > 4, "long", "short"),
    )
    data = split(iris, seed=0)
    model = train(data, "xgboost", {"n_estimators": 10})
    assert model.classes == ["setosa", "versicolor", "virginica"]
    predicted = model.pipeline.predict(data.X_test)
    assert set(predicted) <= set(model.classes)
    assert (predicted == data.y_test.to_numpy()).mean() > 0.8
    assert model.pipeline.predict_proba(data.X_test).shape == (len(data.X_test), 3)


def test_unknown_model_lists_the_known_ones_with_a_close_name(cancer_split):
    known = "gradient_boosting, lightgbm, logistic_regression, random_forest, xgboost"
    with pytest.raises(
        UnknownModelError,
        match=rf"^unknown classification model 'random_forrest' \(did you mean \"random_forest\"\?\); "
        rf"the classification models are {known}\.$",
    ) as err:
        train(cancer_split, "random_forrest")
    assert isinstance(err.value, KeyError)
    assert err.value.known == known.split(", ")


def test_a_model_of_the_other_task_type_says_so(diabetes_split):
    with pytest.raises(
        UnknownModelError,
        match=r"^model 'logistic_regression' is for classification only; the regression models are "
        r"gradient_boosting, lightgbm, linear_regression, random_forest, xgboost\.$",
    ):
        train(diabetes_split, "logistic_regression")


def test_unknown_parameter_names_the_close_one():
    with pytest.raises(
        ParameterError,
        match=r"model 'random_forest' has no parameter 'n_estimator' \(did you mean \"n_estimators\"\?\)",
    ):
        make_estimator("random_forest", "classification", {"n_estimator": 10})


def test_native_lightgbm_parameters_pass_through(cancer_split):
    model = train(cancer_split, "lightgbm", {"n_estimators": 5, "min_data_in_leaf": 5})
    assert model.pipeline.named_steps["model"].get_params()["min_data_in_leaf"] == 5


def test_unknown_task_type():
    with pytest.raises(
        ParameterError, match=r"task_type 'clustering' is not one of classification, regression"
    ):
        make_estimator("random_forest", "clustering")


def test_trained_models_predict_from_a_plain_frame(cancer_split):
    model = _train(cancer_split, "random_forest")
    rows = pd.DataFrame(cancer_split.X_test.head(3).to_dict("records"))
    assert list(model.pipeline.predict(rows)) == list(model.pipeline.predict(cancer_split.X_test.head(3)))
