"""``suiro serve``: the real server in a subprocess on 127.0.0.1, called over HTTP (G9, S1, S3, S8).

A scikit-learn Pipeline fitted on the bundled breast-cancer data is registered and promoted in a
temporary home; ``python -m suiro serve cancer@production`` serves it on a free port. Good input
must give exactly the in-process predictions and probabilities; every kind of bad input gets a
422 naming the field (413 for an oversized body, 415 for one not sent as JSON) and the server
keeps answering. This model has no imputer, so every missing value is refused (models that
impute: ``test_serving_missing.py``). The app is also tested in process with FastAPI's
TestClient for what needs no network.
"""

from __future__ import annotations

import json
import re
import socket
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from pipelines.serve_harness import serving as serving_process
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from suiro.errors import ModelNotFoundError, RegistryError
from suiro.registry import Registry
from suiro.server import serving
from suiro.server.serving import MAX_BODY_BYTES, create_app, is_loopback

with warnings.catch_warnings():  # Starlette's notice that its TestClient will move to httpx2
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

MAX_BATCH = 50
NOT_IMPUTED = "the model has no imputation for this column, so send a value"


@pytest.fixture(scope="module")
def cancer():
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    return model, x_train, x_test.head(40)


@pytest.fixture(scope="module")
def home(tmp_path_factory, cancer):
    """A suiro home where version 2 of ``cancer`` is in production (version 1 is archived)."""
    model, x_train, _ = cancer
    home = tmp_path_factory.mktemp("serving") / "home"
    registry = Registry(home)
    old = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=1000)).fit(
        x_train, model.predict(x_train)
    )
    registry.register("cancer", old, input_schema=x_train, stage="production")
    registry.register("cancer", model, input_schema=x_train, metrics={"accuracy": 0.96}, stage="production")
    registry.close()
    return home


@pytest.fixture(scope="module")
def server(home, tmp_path_factory):
    """The base URL of ``suiro serve cancer@production`` running in a subprocess."""
    log = tmp_path_factory.mktemp("serving-log") / "server.log"
    with serving_process(home, "cancer@production", log, "--max-batch", str(MAX_BATCH)) as (url, port, proc):
        yield url, port, proc, log


@pytest.fixture
def client(server):
    url, *_ = server
    with httpx.Client(base_url=url, timeout=30) as http:
        yield http
    assert httpx.get(f"{url}/health", timeout=1).json() == {"status": "ok"}, "the server keeps serving"


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


# -- over HTTP ---------------------------------------------------------------------------------------


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_model_describes_the_served_version(client, cancer):
    _, x_train, _ = cancer
    info = client.get("/model").json()
    assert (info["name"], info["version"], info["stage"]) == ("cancer", 2, "production")
    assert info["metrics"] == {"accuracy": 0.96}
    # This model has no imputer, so no column may be missing (null, NaN or "nan").
    assert info["input_schema"] == [
        {"name": c, "dtype": "float64", "nullable": False, "imputation": None} for c in x_train.columns
    ]
    assert (info["task_type"], info["classes"]) == ("classification", [0, 1])
    assert len(info["artifact_digest"]) == 64


def test_predictions_and_probabilities_equal_the_in_process_ones(client, cancer):
    model, _, x_test = cancer
    response = client.post("/predict", json={"records": records(x_test)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("cancer", 2)
    assert body["predictions"] == model.predict(x_test).tolist()
    assert body["probabilities"] == model.predict_proba(x_test).tolist()


def test_columns_in_any_order_and_numeric_strings_are_accepted(client, cancer):
    model, _, x_test = cancer
    shuffled = [dict(reversed(list(r.items()))) for r in records(x_test.head(3))]
    shuffled[0]["mean radius"] = str(shuffled[0]["mean radius"])
    body = client.post("/predict", json={"records": shuffled}).json()
    assert body["predictions"] == model.predict(x_test.head(3)).tolist()


def _bad(x_test: pd.DataFrame, change) -> dict:
    rows = records(x_test.head(3))
    change(rows)
    return {"records": rows}


BAD_REQUESTS = {
    "missing column": (
        lambda rows: rows[1].pop("mean area"),
        "records[1].mean area",
        r"^records\[1\]\.mean area: missing column\.$",
    ),
    "unknown column": (
        lambda rows: rows[0].update({"mean radiuss": 1.0}),
        "records[0].mean radiuss",
        r"^records\[0\]\.mean radiuss: unknown column \(did you mean \"mean radius\"\?\); the model takes "
        r"'mean radius', ",
    ),
    "wrong type": (
        lambda rows: rows[2].update({"worst area": "big"}),
        "records[2].worst area",
        r"^records\[2\]\.worst area: expected a number, got a string \"big\"\.$",
    ),
    "a boolean for a number": (
        lambda rows: rows[0].update({"mean texture": True}),
        "records[0].mean texture",
        r"^records\[0\]\.mean texture: expected a number, got a boolean true\.$",
    ),
    "a list for a number": (
        lambda rows: rows[0].update({"mean texture": [1, 2]}),
        "records[0].mean texture",
        r"expected a number, got a list \[1, 2\]",
    ),
    "a record that is not an object": (
        lambda rows: rows.__setitem__(1, [1, 2, 3]),
        "records[1]",
        r"^records\[1\]: must be an object \{column: value\}, not a list\.$",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_REQUESTS))
def test_bad_records_get_422_naming_the_field(client, cancer, kind):
    change, field, message = BAD_REQUESTS[kind]
    response = client.post("/predict", json=_bad(cancer[2], change))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert body["detail"] == f"{field}: {body['errors'][0]['message']}."
    assert re.search(message, body["detail"]), body["detail"]


def test_every_problem_is_listed_at_once(client, cancer):
    def change(rows):
        rows[0].pop("mean area")
        rows[2]["worst area"] = "big"

    body = client.post("/predict", json=_bad(cancer[2], change)).json()
    assert [e["field"] for e in body["errors"]] == ["records[0].mean area", "records[2].worst area"]
    assert body["detail"].endswith("(and 1 more problem).")


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        (b'{"records": [', "body", r"^body: the body is not JSON \(Expecting value: line 1 column 14"),
        (b"", "body", r"^body: the body is not JSON"),
        (b"\xff\xfe", "body", r"^body: the body is not JSON"),
        (
            b"[1, 2]",
            "body",
            r'^body: the body must be a JSON object like \{"records": \[\{\.\.\.\}, \.\.\.\]\}\.$',
        ),
        (b"{}", "records", r"^records: the body has no 'records' field; send a list of records in it\.$"),
        (b'{"records": []}', "records", r"^records: 'records' is empty; send at least one record\.$"),
        (
            b'{"records": {"a": 1}}',
            "records",
            r"^records: 'records' must be a list of objects, not an object\.$",
        ),
        (b'{"records": [], "x": 1}', "x", r"^x: unknown field 'x' in the body; send only 'records'\.$"),
        (b"[" * 100_000 + b"]" * 100_000, "body", r"^body: the body is not JSON"),
    ],
    ids=[
        "truncated",
        "empty",
        "not-utf8",
        "a-list",
        "no-records",
        "empty-records",
        "records-object",
        "extra",
        "deep",
    ],
)
def test_bad_bodies_get_422_naming_the_field(client, content, field, message):
    response = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert re.search(message, response.json()["detail"]), response.json()["detail"]


def _one_record(x_test: pd.DataFrame, column: str, literal: str) -> bytes:
    """A body with the first test record, ``column`` set to the raw JSON text ``literal``."""
    row = records(x_test.head(1))[0]
    row[column] = "__VALUE__"
    return json.dumps({"records": [row]}).replace('"__VALUE__"', literal).encode()


OUT_OF_RANGE = "expected a finite number, got a number beyond ±1.8e308"
NOT_FINITE = {  # Python's json reads all of these; none is a number a model can use
    "1e400": ("1e400", OUT_OF_RANGE),
    "-1e400": ("-1e400", OUT_OF_RANGE),
    "10**400": ("1" + "0" * 400, OUT_OF_RANGE),
    "-10**400": ("-1" + "0" * 400, OUT_OF_RANGE),
    "10**5000": ("1" + "0" * 5000, OUT_OF_RANGE),  # over Python's 4300-digit limit for int()
    "Infinity": ("Infinity", "expected a finite number, got Infinity"),
    "-Infinity": ("-Infinity", "expected a finite number, got -Infinity"),
    "'inf'": ('"inf"', 'expected a finite number, got a string "inf"'),
    "'-Infinity'": ('"-Infinity"', 'expected a finite number, got a string "-Infinity"'),
    "'1e999'": ('"1e999"', 'expected a finite number, got a string "1e999"'),
}


@pytest.mark.parametrize("kind", list(NOT_FINITE))
def test_numbers_out_of_range_and_infinities_get_422_naming_the_field(client, cancer, kind):
    literal, message = NOT_FINITE[kind]
    body = _one_record(cancer[2], "worst area", literal)
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "records[0].worst area", "message": message}]
    assert response.json()["detail"] == f"records[0].worst area: {message}."


MISSING = {
    "null": ("null", "null"),
    "NaN": ("NaN", "NaN"),
    "'nan'": ('"nan"', '"nan"'),
    "'NaN'": ('"NaN"', '"NaN"'),
}


@pytest.mark.parametrize("kind", list(MISSING))
def test_a_missing_value_in_a_column_that_is_not_imputed_gets_422(client, cancer, kind):
    literal, shown = MISSING[kind]
    body = _one_record(cancer[2], "mean area", literal)
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    message = f"missing value ({shown}); {NOT_IMPUTED}"
    assert response.json()["errors"] == [{"field": "records[0].mean area", "message": message}]


def test_records_with_every_value_missing_get_422_naming_every_field(client, cancer):
    columns = list(cancer[2].columns)
    rows = [{c: None for c in columns}, records(cancer[2].head(1))[0], {c: "nan" for c in columns}]
    response = client.post("/predict", json={"records": rows})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [f"records[{i}].{c}" for i in (0, 2) for c in columns]
    assert {e["message"] for e in errors} == {
        f"missing value (null); {NOT_IMPUTED}",
        f'missing value ("nan"); {NOT_IMPUTED}',
    }
    assert response.json()["detail"].endswith(f"(and {2 * len(columns) - 1} more problems).")


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "text/plain"),  # what a web page may POST to any server without asking (CORS)
        ("text/plain;charset=UTF-8", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=x", "multipart/form-data"),
        (None, "no Content-Type"),
    ],
)
def test_bodies_not_sent_as_json_get_415(client, cancer, content_type, shown):
    body = json.dumps({"records": records(cancer[2].head(1))}).encode()
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json() == {
        "detail": f"send the records as JSON with Content-Type: application/json, not {shown}."
    }


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_types_with_parameters_or_capitals_are_accepted(client, cancer, content_type):
    body = json.dumps({"records": records(cancer[2].head(1))}).encode()
    response = client.post("/predict", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


def test_too_large_a_batch_gets_422(client, cancer):
    rows = records(cancer[2].head(1)) * (MAX_BATCH + 1)
    response = client.post("/predict", json={"records": rows})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"records: 'records' has {MAX_BATCH + 1} records, over the limit of {MAX_BATCH}; split it."
    )
    assert client.post("/predict", json={"records": rows[:MAX_BATCH]}).status_code == 200


def test_an_oversized_body_is_refused_before_it_is_read(server):
    url, port, *_ = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # Only the headers are sent: the 413 must come without waiting for 100 MB.
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after a 413
            reply += chunk
        head = reply.decode()
    assert head.startswith("HTTP/1.1 413 ")
    assert json.loads(head.split("\r\n\r\n", 1)[1]) == {
        "detail": f"the request body is larger than {MAX_BODY_BYTES} bytes; send fewer records per request."
    }
    assert httpx.get(f"{url}/health", timeout=1).status_code == 200


def test_oversized_bodies_sent_in_full_or_chunked_get_413_and_the_server_keeps_serving(client):
    big = b" " * (MAX_BODY_BYTES + 1)
    assert (
        client.post("/predict", content=big, headers={"content-type": "application/json"}).status_code == 413
    )

    def chunks():
        for _ in range(12):
            yield b" " * (1024 * 1024)

    assert client.post("/predict", content=chunks()).status_code == 413
    assert client.get("/health").status_code == 200
    started = time.monotonic()
    assert client.get("/health").json() == {"status": "ok"}
    assert time.monotonic() - started < 1.0


def test_the_server_listens_on_loopback_only(server):
    _, port, *_ = server
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("no /proc/net/tcp on this system")
    listening = []
    for line in table.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            listening.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    assert listening == ["127.0.0.1"]


def test_the_log_shows_what_is_served(server):
    *_, log = server
    text = log.read_text()
    assert "serving model cancer@2 (production) on http://127.0.0.1:" in text
    assert "warning" not in text.lower()


# -- in process ------------------------------------------------------------------------------------


@pytest.fixture
def registry(home):
    reg = Registry(home)
    yield reg
    reg.close()


def test_in_process_app_predicts_like_the_model(registry, cancer):
    x_test = cancer[2]
    with TestClient(create_app(registry, "cancer@1")) as http:
        body = http.post("/predict", json={"records": records(x_test)}).json()
        assert body["version"] == 1
        old = registry.load(registry.get("cancer", 1))
        assert body["predictions"] == old.predict(x_test).tolist()
        assert body["probabilities"] == old.predict_proba(x_test).tolist()
        assert http.get("/model").json()["stage"] == "archived"


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_values_the_model_rejects_get_422(tmp_path, cancer):
    model, x_train, x_test = cancer
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x_train, model.predict(x_train))
    registry = Registry(tmp_path / "home")
    registry.register("forest", forest, input_schema=x_train)
    rows = records(x_test.head(2))
    rows[1]["mean area"] = 1e300  # finite, but over float32, which the trees use
    with TestClient(create_app(registry, "forest")) as http:
        response = http.post("/predict", json={"records": rows})
        assert response.status_code == 422
        assert response.json()["detail"].startswith(
            "records: the model rejected the records (ValueError: Input X contains infinity or a value "
            "too large for dtype('float32')"
        )
        assert http.get("/health").status_code == 200
    registry.close()


def test_in_process_body_limit(registry, cancer):
    app = create_app(registry, "cancer@production", max_body=1000)
    with TestClient(app) as http:
        assert http.post("/predict", content=b" " * 1001).status_code == 413
        assert http.post("/predict", json={"records": records(cancer[2].head(1))}).status_code == 200
        assert http.post("/predict", content=b"{}", headers={"content-length": "x1"}).status_code == 400


def test_mixed_dtypes_are_checked_and_passed_in_the_schema_order(tmp_path):
    train = pd.DataFrame(
        {
            "color": ["red", "blue", "green", "red", "blue", "green"] * 5,
            "size": np.arange(30, dtype="int64"),
            "weight": np.linspace(0.5, 3.0, 30),
            "fresh": [True, False] * 15,
        }
    )
    target = (train["size"] % 3 == 0).astype(int)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["color"]), remainder="passthrough"),
        LogisticRegression(max_iter=1000),
    ).fit(train, target)
    registry = Registry(tmp_path / "home")
    registry.register("fruit", model, input_schema=train)
    with TestClient(create_app(registry, "fruit")) as http:
        rows = [dict(reversed(list(r.items()))) for r in records(train.head(6))]
        body = http.post("/predict", json={"records": rows}).json()
        assert body["predictions"] == model.predict(train.head(6)).tolist()
        assert body["probabilities"] == model.predict_proba(train.head(6)).tolist()
        bad = [
            {**rows[0], "size": 1.5},
            {**rows[1], "color": 3},
            {**rows[2], "fresh": "yes"},
            {**rows[3], "size": None},
        ]
        errors = http.post("/predict", json={"records": bad}).json()["errors"]
        assert errors == [
            {"field": "records[0].size", "message": "expected an integer, got a number 1.5"},
            {"field": "records[1].color", "message": "expected a string, got a number 3"},
            {"field": "records[2].fresh", "message": 'expected true or false, got a string "yes"'},
            {"field": "records[3].size", "message": f"missing value (null); {NOT_IMPUTED}"},
        ]
    registry.close()


def test_a_model_without_input_schema_cannot_be_served(tmp_path, cancer):
    model, x_train, _ = cancer
    registry = Registry(tmp_path / "home")
    registry.register("bare", clone(model).fit(x_train.to_numpy(), model.predict(x_train)))
    with pytest.raises(
        RegistryError, match=r"^model bare@1 has no input schema, so records cannot be checked"
    ):
        create_app(registry, "bare")
    with pytest.raises(ModelNotFoundError, match=r"model bare has no version in stage production"):
        create_app(registry, "bare@production")
    registry.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.7", False),
        ("example.org", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_serving_on_a_public_address_warns(home, monkeypatch, capsys):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    serving.serve("cancer@production", host="0.0.0.0", port=9999, home=home)
    assert calls == [{"host": "0.0.0.0", "port": 9999, "log_level": "info"}]
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0 makes model cancer@2 reachable from other machines" in err
    serving.serve("cancer@production", home=home)
    assert calls[-1]["host"] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err
