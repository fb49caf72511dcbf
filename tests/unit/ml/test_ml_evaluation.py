"""evaluate: every metric equals scikit-learn's own function on the same predictions."""

from __future__ import annotations

from sklearn import metrics as skm

from suiro.ml import CLASSIFICATION_METRICS, REGRESSION_METRICS, evaluate, train


def test_binary_classification_metrics_match_sklearn(cancer_split):
    model = train(cancer_split, "logistic_regression")
    result = evaluate(model, cancer_split)
    y, x = cancer_split.y_test, cancer_split.X_test
    predicted, proba = model.pipeline.predict(x), model.pipeline.predict_proba(x)[:, 1]
    assert result.model == "logistic_regression" and result.task_type == "classification"
    assert tuple(result.metrics) == CLASSIFICATION_METRICS
    assert result.metrics == (
        {
            "accuracy": skm.accuracy_score(y, predicted),
            "precision": skm.precision_score(y, predicted),
            "recall": skm.recall_score(y, predicted),
            "f1": skm.f1_score(y, predicted),
            "roc_auc": skm.roc_auc_score(y, proba),
        }
    )
    assert result.confusion_matrix == skm.confusion_matrix(y, predicted).tolist()
    assert result.classes == [0, 1]
    assert all(isinstance(v, float) for v in result.metrics.values())


def test_multiclass_metrics_are_macro_averaged(wine_split):
    model = train(wine_split, "random_forest", {"n_estimators": 20})
    result = evaluate(model, wine_split)
    y, x = wine_split.y_test, wine_split.X_test
    predicted = model.pipeline.predict(x)
    expected = {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, average="macro"),
        "recall": skm.recall_score(y, predicted, average="macro"),
        "f1": skm.f1_score(y, predicted, average="macro"),
        "roc_auc": skm.roc_auc_score(y, model.pipeline.predict_proba(x), multi_class="ovr", average="macro"),
    }
    assert result.metrics == expected
    matrix = result.confusion_matrix
    assert len(matrix) == 3 and sum(map(sum, matrix)) == len(y)


def test_regression_metrics_match_sklearn(diabetes_split):
    model = train(diabetes_split, "linear_regression")
    result = evaluate(model, diabetes_split)
    y, predicted = diabetes_split.y_test, model.pipeline.predict(diabetes_split.X_test)
    assert tuple(result.metrics) == REGRESSION_METRICS
    assert result.metrics == (
        {
            "rmse": skm.root_mean_squared_error(y, predicted),
            "mae": skm.mean_absolute_error(y, predicted),
            "r2": skm.r2_score(y, predicted),
        }
    )
    assert result.confusion_matrix is None and result.classes is None
