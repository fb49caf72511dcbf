"""``suiro serve`` and missing values: what a model's preprocessing imputes is accepted and shown.

A model whose preprocessing imputes a column (suiro's own ``build_preprocessor`` imputes every
column: numbers with the median, text and booleans with the most frequent value) takes null,
NaN or "nan" there, and ``GET /model`` says which value replaces it; a column nothing imputes
refuses a missing value with a 422 naming the field (``test_serving.py`` covers a model with no
imputer). A record with every value missing is refused even when all could be imputed: the
answer would come from the imputed values alone. The built-in pipeline's model is served in a
subprocess on 127.0.0.1; the other models in process with FastAPI's TestClient.
"""

from __future__ import annotations

import json
import warnings

import httpx
import numpy as np
import pandas as pd
import pytest
from pipelines.serve_harness import serving as serving_process
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from suiro.ml.models import model_pipeline
from suiro.registry import Registry
from suiro.server.serving import create_app

with warnings.catch_warnings():  # Starlette's notice that its TestClient will move to httpx2
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

NOT_IMPUTED = "the model has no imputation for this column, so send a value"
ALL_MISSING = (
    "every value is missing, so the answer would come from imputed values alone; send the record's values"
)


@pytest.fixture(scope="module")
def cancer():
    """The built-in pipeline's preprocessing and a logistic regression, fitted on breast-cancer data."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    model = model_pipeline(x_train, "logistic_regression", "classification").fit(x_train, y_train)
    return model, x_train, x_test.head(10)


@pytest.fixture(scope="module")
def client(tmp_path_factory, cancer):
    model, x_train, _ = cancer
    home = tmp_path_factory.mktemp("imputed") / "home"
    registry = Registry(home)
    registry.register("imputed", model, input_schema=x_train, stage="production")
    registry.close()
    log = home.parent / "server.log"
    with serving_process(home, "imputed@production", log) as (url, _, _), httpx.Client(base_url=url) as http:
        yield http


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def test_model_says_which_value_replaces_a_missing_one(client, cancer):
    _, x_train, _ = cancer
    schema = client.get("/model").json()["input_schema"]
    assert schema == [
        {
            "name": c,
            "dtype": "float64",
            "nullable": True,
            "imputation": {"strategy": "median", "value": float(x_train[c].median())},
        }
        for c in x_train.columns
    ]


def test_missing_values_in_imputed_columns_are_imputed_as_in_process(client, cancer):
    model, _, x_test = cancer
    frame = x_test.head(4).copy()
    rows = records(frame)
    rows[0]["mean radius"] = None
    rows[1]["worst area"] = "nan"
    rows[2]["mean texture"] = "__NAN__"
    rows[3] = {c: (v if c == "worst radius" else None) for c, v in rows[3].items()}  # one value is enough
    body = json.dumps({"records": rows}).replace('"__NAN__"', "NaN")
    for i, column in [(0, "mean radius"), (1, "worst area"), (2, "mean texture")]:
        frame.iloc[i, frame.columns.get_loc(column)] = np.nan
    frame.iloc[3, frame.columns != "worst radius"] = np.nan

    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(frame).tolist()
    assert response.json()["probabilities"] == model.predict_proba(frame).tolist()


def test_a_record_with_every_value_missing_gets_422_even_when_all_could_be_imputed(client, cancer):
    columns = list(cancer[2].columns)
    rows = [{c: None for c in columns}, records(cancer[2].head(1))[0], {c: "nan" for c in columns}]
    response = client.post("/predict", json={"records": rows})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"field": "records[0]", "message": ALL_MISSING},
        {"field": "records[2]", "message": ALL_MISSING},
    ]
    assert client.get("/health").status_code == 200


# -- in process ------------------------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "home")
    yield reg
    reg.close()


FRUIT = pd.DataFrame(
    {
        "color": ["red", "red", "blue", "green", "red", "blue"] * 5,
        "size": np.arange(30, dtype="int64"),
        "weight": np.linspace(0.5, 3.0, 30),
        "fresh": [True, False, True] * 10,
    }
)
TARGET = (FRUIT["size"] % 3 == 0).astype(int)


def test_every_kind_of_column_takes_what_the_built_in_preprocessing_imputes(registry):
    model = model_pipeline(FRUIT, "logistic_regression", "classification").fit(FRUIT, TARGET)
    registry.register("fruit", model, input_schema=FRUIT)
    rows = records(FRUIT.head(4))
    for i, column in enumerate(FRUIT.columns):
        rows[i][column] = None
    expected = pd.DataFrame(rows, columns=FRUIT.columns)
    with TestClient(create_app(registry, "fruit")) as http:
        schema = http.get("/model").json()["input_schema"]
        response = http.post("/predict", json={"records": rows})
    assert [(c["name"], c["nullable"], c["imputation"]) for c in schema] == [
        ("color", True, {"strategy": "most_frequent", "value": "red"}),
        ("size", True, {"strategy": "median", "value": 14.5}),
        ("weight", True, {"strategy": "median", "value": 1.75}),
        ("fresh", True, {"strategy": "most_frequent", "value": "True"}),  # booleans are encoded as text
    ]
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(expected).tolist()
    assert response.json()["probabilities"] == model.predict_proba(expected).tolist()


def test_a_missing_integer_in_an_all_integer_frame_is_imputed(registry):
    frame = pd.DataFrame({"a": np.arange(40, dtype="int64"), "b": np.arange(40, dtype="int64") % 7})
    target = (frame["a"] > 20).astype(int)
    model = model_pipeline(frame, "logistic_regression", "classification").fit(frame, target)
    registry.register("ints", model, input_schema=frame)
    rows = [{"a": 30, "b": None}, {"a": "nan", "b": 3}, {"a": 2, "b": 5}]
    expected = pd.DataFrame({"a": [30.0, np.nan, 2.0], "b": [np.nan, 3.0, 5.0]})
    with TestClient(create_app(registry, "ints")) as http:
        response = http.post("/predict", json={"records": rows})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(expected).tolist()


def test_only_the_columns_an_imputer_covers_may_be_missing(registry):
    frame = pd.DataFrame({"a": np.linspace(0, 1, 20), "b": np.linspace(1, 0, 20) ** 2})
    target = [0, 1] * 10
    model = make_pipeline(
        make_column_transformer((SimpleImputer(strategy="mean"), ["a"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, target)
    registry.register("half", model, input_schema=frame)
    with TestClient(create_app(registry, "half")) as http:
        schema = http.get("/model").json()["input_schema"]
        ok = http.post("/predict", json={"records": [{"a": None, "b": 0.5}]})
        bad = http.post("/predict", json={"records": [{"a": None, "b": None}, {"a": 0.5, "b": "nan"}]})
    assert [(c["name"], c["nullable"], c["imputation"]) for c in schema] == [
        ("a", True, {"strategy": "mean", "value": 0.5}),
        ("b", False, None),
    ]
    assert ok.status_code == 200, ok.text
    assert ok.json()["predictions"] == model.predict(pd.DataFrame({"a": [np.nan], "b": [0.5]})).tolist()
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"] == [
        {"field": "records[0].b", "message": f"missing value (null); {NOT_IMPUTED}"},
        {"field": "records[1].b", "message": f'missing value ("nan"); {NOT_IMPUTED}'},
    ]


@pytest.mark.filterwarnings("ignore:X has feature names, but SimpleImputer was fitted without")
def test_an_imputer_fitted_without_column_names_covers_the_schema_in_order(registry):
    frame = pd.DataFrame({"a": np.linspace(0, 1, 20), "b": np.linspace(1, 0, 20) ** 2})
    model = make_pipeline(SimpleImputer(strategy="constant", fill_value=0.0), LogisticRegression())
    model.fit(frame.to_numpy(), [0, 1] * 10)
    registry.register("plain", model, input_schema=frame)
    with TestClient(create_app(registry, "plain")) as http:
        schema = http.get("/model").json()["input_schema"]
        response = http.post("/predict", json={"records": [{"a": None, "b": 0.25}]})
    assert [c["imputation"] for c in schema] == [{"strategy": "constant", "value": 0.0}] * 2
    assert response.status_code == 200, response.text


INT64 = "expected an integer from -9223372036854775808 to 9223372036854775807, got a number"
INTEGERS = {
    "2**63": (2**63, f"{INT64} 9223372036854775808"),
    "-2**63-1": (-(2**63) - 1, f"{INT64} -9223372036854775809"),
    "10**400": (10**400, f"{INT64} 1{'0' * 36}..."),
    "1e20": (1e20, f"{INT64} 1e+20"),
    "Infinity": (float("inf"), "expected an integer, got Infinity"),
    "'²'": ("²", 'expected an integer, got a string "\\u00b2"'),
    "a 5000-digit string": ("1" * 5000, f'expected an integer, got a string "{"1" * 36}...'),
}


@pytest.mark.parametrize("kind", list(INTEGERS))
def test_integers_out_of_range_get_422_naming_the_field(registry, kind):
    value, message = INTEGERS[kind]
    model = model_pipeline(FRUIT, "logistic_regression", "classification").fit(FRUIT, TARGET)
    registry.register("fruit", model, input_schema=FRUIT)
    row = {**records(FRUIT.head(1))[0], "size": value}
    with TestClient(create_app(registry, "fruit")) as http:
        response = http.post(
            "/predict", content=json.dumps({"records": [row]}), headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "records[0].size", "message": message}]


@pytest.mark.parametrize(("column", "kind"), [("color", "a string"), ("fresh", "true or false")])
def test_infinity_in_a_text_or_boolean_column_gets_422(registry, column, kind):
    model = model_pipeline(FRUIT, "logistic_regression", "classification").fit(FRUIT, TARGET)
    registry.register("fruit", model, input_schema=FRUIT)
    row = {**records(FRUIT.head(1))[0], column: "__INF__"}
    body = json.dumps({"records": [row]}).replace('"__INF__"', "-Infinity")
    with TestClient(create_app(registry, "fruit")) as http:
        response = http.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"field": f"records[0].{column}", "message": f"expected {kind}, got -Infinity"}
    ]
