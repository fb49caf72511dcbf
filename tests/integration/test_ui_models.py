"""Comparing model versions in the web UI (FastAPI's test client, runs and versions recorded for
real): the page and ``/api/v1/models/NAME/compare``, and the API documentation page.

One home per module: a run of ``mapped``, a failed run of ``failing`` and its resume; model
``churn`` v1 and v2 from the ``mapped`` run (same data, depth 3 then 5), v3 from the resume,
trained on other data, with a metric and a parameter named like HTML.
"""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from pipelines import ui_example

import suiro
from suiro.registry import Registry
from suiro.ui.app import create_app

SCRIPT = re.compile(r"<script>alert", re.IGNORECASE)
TOKEN = "t0ken-for-the-model-tests-0123456789"
HOSTILE = "<script>alert('m')</script>"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("models") / "home"
    mapped = suiro.run(ui_example.mapped, home=home).run_id
    failed = suiro.run(ui_example.failing, home=home).run_id
    resumed = suiro.resume(failed, home=home).run_id
    registry = Registry(home)
    same, other = "d" * 64, "e" * 64
    registry.register(
        "churn", {"v": 1}, metrics={"auc": 0.8, "loss": 0.5}, params={"depth": 3, "lr": 0.1},
        data_digest=same, run_id=mapped, task_key="train",
    )  # fmt: skip
    registry.register(
        "churn", {"v": 2}, metrics={"auc": 0.85, "loss": 0.4}, params={"depth": 5, "lr": 0.1},
        data_digest=same, run_id=mapped, task_key="train",
    )  # fmt: skip
    registry.register(
        "churn", {"v": 3}, metrics={"auc": 0.83, HOSTILE: 1.0},
        params={"depth": 5, "lr": 0.1, "<script>alert('p')</script>": "<script>alert('v')</script>"},
        data_digest=other, run_id=resumed, task_key="after",
    )  # fmt: skip
    registry.promote("churn", 2, "production", reason="better auc", actor="alice")
    registry.close()
    return home, {"mapped": mapped, "failed": failed, "resumed": resumed}


@pytest.fixture(scope="module")
def client(home):
    with TestClient(create_app(home[0])) as client:
        yield client


THREE = [("version", "1"), ("version", "2"), ("version", "3")]


def test_api_compares_versions_metrics_params_data_and_lineage(client, home):
    runs = home[1]
    answer = client.get("/api/v1/models/churn/compare", params=THREE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == "churn"
    versions = body["versions"]
    assert [(v["version"], v["stage"]) for v in versions] == [(1, "none"), (2, "production"), (3, "none")]
    params = {p["name"]: p for p in body["params"]}
    assert params["depth"]["values"] == [3, 5, 5] and params["depth"]["differs"] is True
    assert params["lr"]["differs"] is False
    assert params["<script>alert('p')</script>"]["present"] == [False, False, True]
    auc = next(m for m in body["metrics"] if m["name"] == "auc")
    assert auc["values"] == [0.8, 0.85, 0.83]
    assert auc["deltas"] == [None, pytest.approx(0.05), pytest.approx(0.03)]
    assert [v["other_data"] for v in versions] == [False, False, True]  # v3: trained on other data
    assert versions[0]["run"]["pipeline"] == "mapped" and versions[0]["run"]["state"] == "success"
    assert (
        versions[2]["run"]["id"] == runs["resumed"] and versions[2]["run"]["parent_run_id"] == runs["failed"]
    )
    assert versions[2]["task_key"] == "after"
    change = versions[1]["stage_change"]
    assert (change["to_stage"], change["actor"], change["reason"]) == ("production", "alice", "better auc")


def test_compare_page_shows_versions_side_by_side(client, home):
    runs = home[1]
    answer = client.get("/models/churn/compare", params=THREE)
    assert answer.status_code == 200
    text = answer.text
    assert "<h1>Compare 3 versions of churn</h1>" in text
    assert re.search(r'<tr class="differs">\s*<th scope="row" class="mono">depth</th>', text)
    assert re.search(r'<tr>\s*<th scope="row" class="mono">lr</th>', text)  # the same in all: not marked
    assert '<td class="num">0.85 <span class="up">(+0.05)</span></td>' in text
    assert re.search(r'<td class="mono differs" title="e{64}">e{12} <span>other data</span></td>', text)
    assert f'<a class="mono" href="/runs/{runs["mapped"]}">' in text
    assert f'resumed from <a class="mono" href="/runs/{runs["failed"]}">' in text
    assert f'href="/runs/{runs["resumed"]}#task-after"' in text
    assert "better auc" in text and "alice" in text


def test_model_page_has_version_checkboxes_and_a_compare_button(client):
    page = client.get("/models/churn").text
    assert '<form id="compare-versions" method="get" action="/models/churn/compare"' in page
    for n in (1, 2, 3):
        assert (
            f'<input type="checkbox" id="pick-version-{n}" name="version" value="{n}" form="compare-versions"'
            in page
        )


def test_html_in_metric_and_parameter_names_renders_as_text(client):
    text = client.get("/models/churn/compare", params=THREE).text
    assert not SCRIPT.search(text)
    assert "&lt;script&gt;alert(&#39;m&#39;)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(&#39;p&#39;)&lt;/script&gt;" in text


@pytest.mark.parametrize(
    ("name", "query", "status", "message"),
    [
        ("churn", [("version", "1")], 400, "at least two versions"),
        ("churn", [("version", "1"), ("version", "1")], 400, "at least two versions"),
        ("churn", [("version", "1"), ("version", "9")], 404, "model churn has no version 9"),
        ("churn", [("version", "1"), ("version", "x")], 400, "'x' is not a version of model churn"),
        ("nope", [("version", "1"), ("version", "2")], 404, "no model named 'nope'"),
        ("<script>alert(1)", [("version", "1"), ("version", "2")], 400, "is not a valid model name"),
    ],
)
def test_bad_compare_requests_are_one_sentence(client, name, query, status, message):
    page = client.get(f"/models/{name}/compare", params=query)
    assert page.status_code == status and message in html.unescape(page.text)
    assert not SCRIPT.search(page.text) and "Traceback" not in page.text
    api = client.get(f"/api/v1/models/{name}/compare", params=query)
    assert api.status_code == status and message in api.json()["detail"]


def test_compare_routes_need_the_token(home):
    with TestClient(create_app(home[0], token=TOKEN)) as anonymous:
        for path in ("/models/churn/compare", "/api/v1/models/churn/compare"):
            assert anonymous.get(path, params=THREE).status_code == 401
            allowed = anonymous.get(path, params=THREE, headers={"Authorization": f"Bearer {TOKEN}"})
            assert allowed.status_code == 200, path
