"""Browsing many runs in the web UI (FastAPI's test client, runs recorded for real): the runs
list's filters (dates, a parameter, a metric) and sorting by a metric, the same through the page
and ``/api/v1/runs``; comparing runs; a metric across a pipeline's runs; output previews.

One home per module: three runs of ``tuned`` (lr 0.1, 0.3, 0.2: the later two reuse ``prepare``
from the first) and one of the ``<script>`` pipeline.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from fastapi.testclient import TestClient
from pipelines import ui_compare, ui_example

import suiro
from suiro.ui import preview
from suiro.ui.app import create_app

SCRIPT = re.compile(r"<script>alert", re.IGNORECASE)
ROW = re.compile(r'<td class="mono"><a href="/runs/([0-9a-f-]+)">')


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("browse") / "home"
    ids = [suiro.run(ui_compare.tuned, params={"lr": lr}, home=home).run_id for lr in (0.1, 0.3, 0.2)]
    hostile = suiro.run(ui_example.hostile, home=home).run_id
    return home, ids, hostile


@pytest.fixture(scope="module")
def client(home):
    with TestClient(create_app(home[0])) as client:
        yield client


def api_ids(client, **query) -> list[str]:
    answer = client.get("/api/v1/runs", params=query)
    assert answer.status_code == 200, answer.text
    return [r["id"] for r in answer.json()["runs"]]


def test_runs_filter_by_parameter_metric_and_date(client, home):
    _, (r1, r2, r3), hostile = home
    assert api_ids(client, **{"param.lr": "0.3"}) == [r2]
    assert api_ids(client, **{"param.lr": "0.3", "param.n": "3"}) == [r2]
    assert api_ids(client, **{"param.lr": "0.3", "param.n": "4"}) == []
    assert api_ids(client, param="lr=0.1") == [r1]  # the page's one field: NAME=VALUE
    assert api_ids(client, metric="roc_auc", min="0.65") == [r3, r2]
    assert api_ids(client, metric="roc_auc", min="0.65", max="0.75") == [r3]
    today = dt.date.today()
    assert api_ids(client, since=str(today), pipeline="tuned") == [r3, r2, r1]
    assert api_ids(client, since=str(today + dt.timedelta(days=1))) == []
    assert api_ids(client, until=str(today - dt.timedelta(days=1))) == []
    assert api_ids(client, until=str(today)) == [hostile, r3, r2, r1]  # the "until" day is included


def test_runs_sort_by_a_metric_on_the_page_and_in_the_api(client, home):
    _, (r1, r2, r3), _ = home
    body = client.get("/api/v1/runs", params={"sort": "roc_auc"}).json()
    assert [(r["id"], r["metric"]) for r in body["runs"]] == [(r2, 0.8), (r3, 0.7), (r1, 0.6)]
    assert api_ids(client, sort="roc_auc", order="asc") == [r1, r3, r2]
    assert "roc_auc" in body["metrics"] and body["filter"]["sort"] == "roc_auc"
    page = client.get("/runs", params={"sort": "roc_auc", "metric": "roc_auc", "min": "0.65"}).text
    assert ROW.findall(page) == [r2, r3]
    assert '<th scope="col">roc_auc</th>' in page and '<td class="num">0.8</td>' in page
    assert '<option value="roc_auc" selected>' in page  # the form shows what is applied


def test_runs_filters_are_kept_in_the_pager_links(client, home, monkeypatch):
    from suiro.ui import reads

    monkeypatch.setattr(reads, "PAGE_SIZE", 1)
    page = client.get("/runs", params={"sort": "roc_auc", "param.n": "3"}).text
    assert 'rel="next" href="/runs?sort=roc_auc&amp;param.n=3&amp;page=2"' in page
    assert ROW.findall(page) == [home[1][1]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "since must be a date like 2026-11-30"),
        ({"min": "high"}, "min must be a number, not 'high'"),
        ({"param": "lr"}, "needs the form NAME=VALUE"),
        ({"param.a-b": "1"}, "param.a-b does not name a parameter"),
        ({"param.a": "1", "param.b": "1", "param.c": "1", "param.d": "1"}, "at most 3 param.NAME filters"),
        ({"order": "sideways"}, "order must be desc or asc"),
        # each of these was ignored, or answered no run, as if nothing matched
        ({"state": "bogus"}, "state must be one of running, success, failed"),
        ({"min": "0.5"}, "min and max bound a metric's value: give metric=NAME with them"),
        ({"metric": "auc", "min": "0.99", "max": "0.9"}, "min (0.99) is above max (0.9)"),
        ({"page": str(10**20)}, "query parameter page: Input should be less than or equal to 1000000"),
        ({"page": "0"}, "query parameter page: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_filter_is_one_sentence_and_a_400(client, query, message):
    page = client.get("/runs", params=query)
    assert page.status_code == 400 and message in html.unescape(page.text) and "Traceback" not in page.text
    api = client.get("/api/v1/runs", params=query)
    assert api.status_code in (400, 422)
    detail = api.json()["detail"]  # 422: what FastAPI checks itself (order, page), in the same form
    assert message in detail if api.status_code == 400 else detail.startswith("query parameter "), detail


def test_an_attempt_number_past_what_sqlite_holds_is_refused_in_one_sentence(client, home):
    answer = client.get(f"/api/v1/runs/{home[1][0]}/logs", params={"attempt": str(10**20)})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("query parameter attempt: ")


def test_the_runs_page_has_checkboxes_and_a_compare_button(client, home):
    page = client.get("/runs").text
    assert '<form id="compare" method="get" action="/compare"' in page
    for run_id in home[1]:
        assert f'<input type="checkbox" id="pick-{run_id}" name="run" value="{run_id}" form="compare"' in page


def test_compare_runs_side_by_side(client, home):
    _, (r1, r2, _), _ = home
    answer = client.get("/compare", params=[("run", r1), ("run", r2)])
    assert answer.status_code == 200
    text = answer.text
    assert re.search(r'<tr class="differs">\s*<th scope="row" class="mono">lr</th>', text)
    assert re.search(r'<tr>\s*<th scope="row" class="mono">n</th>', text)  # the same in both: not marked
    assert '<td class="num">0.8 <span class="up">(+0.2)</span></td>' in text  # roc_auc and its delta
    assert f'cache hit from <a class="mono" href="/runs/{r1}">' in text  # prepare, reused by r2
    body = client.get("/api/v1/compare", params=[("run", r1), ("run", r2)]).json()
    assert [r["id"] for r in body["runs"]] == [r1, r2]
    lr = next(p for p in body["params"] if p["name"] == "lr")
    assert lr == {"name": "lr", "values": [0.1, 0.3], "present": [True, True], "differs": True}
    auc = next(m for m in body["metrics"] if m["name"] == "roc_auc")
    assert auc["values"] == [0.6, 0.8] and auc["deltas"] == [None, pytest.approx(0.2)]
    prepare = next(t for t in body["tasks"] if t["task_key"] == "prepare")
    assert [c["state"] for c in prepare["runs"]] == ["success", "cached"]
    assert prepare["runs"][1]["cached_from"] == r1


def test_compare_needs_two_known_runs_and_escapes_names(client, home):
    _, (r1, _, _), hostile = home
    one = client.get("/compare", params={"run": r1})
    assert one.status_code == 400 and "at least two runs" in one.text
    assert (
        client.get("/api/v1/compare", params=[("run", r1), ("run", "20990101-000000-abcdef")]).status_code
        == 404
    )
    assert client.get("/compare", params=[("run", r1), ("run", "../etc")]).status_code == 400
    text = client.get("/compare", params=[("run", r1), ("run", hostile)]).text
    assert not SCRIPT.search(text) and "&lt;script&gt;alert(&#39;pipeline&#39;)&lt;/script&gt;" in text


def test_pipeline_page_charts_a_metric_across_its_runs(client, home):
    text = client.get("/pipelines/tuned").text
    assert '<svg class="chart runs-chart"' in text and text.count('<circle class="point') == 3
    assert '<option value="roc_auc" selected>' in text
    body = client.get("/api/v1/pipelines/tuned", params={"metric": "roc_auc"}).json()
    assert [p["value"] for p in body["metric_history"]] == [0.6, 0.8, 0.7]  # oldest first
    assert body["metric"] == "roc_auc" and "loss" in body["metric_names"]


def test_run_page_previews_stored_outputs(client, home):
    _, (r1, _, _), _ = home
    text = client.get(f"/runs/{r1}").text
    assert '<table class="preview">' in text and "<th>feature</th>" in text and "<td>f0</td>" in text
    assert "30 rows, 2 columns" in text
    assert "&lt;b&gt;inline&lt;/b&gt;" in text  # a dict's value, as text
    outputs = client.get(f"/api/v1/runs/{r1}").json()["outputs"]
    shown = {o["task_key"]: (o["serializer"], o["preview"]) for o in outputs}
    assert {k: (s, p["type"]) for k, (s, p) in shown.items()} == {
        "prepare": ("pickle", "mapping"),  # builtin values only: loaded
        "score": ("json", "value"),
        "frame": ("parquet", "table"),  # its head read with pyarrow alone
        "calendar": ("pickle", "unavailable"),  # names datetime.date: refused before importing it
    }
    assert shown["calendar"][1]["text"] == "not shown: it holds a datetime.date, which the UI does not load"
    assert ["shape", "(3, 2)"] in shown["prepare"][1]["items"]


def test_a_preview_is_read_only_after_its_digest_is_verified_and_only_when_small(home, monkeypatch):
    from suiro.store.home import Store

    store = Store(home[0])
    frame = next(o for o in store_outputs(store, home[1][0]) if o["task_key"] == "frame")
    path = store.artifacts.path(frame["digest"])
    original = path.read_bytes()
    try:
        path.chmod(0o644)
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit flipped
        shown = preview.of_output(store, frame)
        assert shown == {"type": "unavailable", "text": "not shown: its bytes do not match its digest"}
    finally:
        path.write_bytes(original)
    monkeypatch.setattr(preview, "MAX_BYTES", 10)
    assert preview.of_output(store, frame)["text"].startswith("not shown: larger than")


def store_outputs(store, run_id):
    from suiro.store import queries

    return queries.artifacts(store.reader, run_id)


def test_metric_names_in_the_filters_sort_and_charts_are_text(client, home):
    hostile_metric = "<script>metric</script>"
    for path, query in [
        ("/runs", {}),
        ("/runs", {"sort": hostile_metric}),
        ("/runs", {"metric": hostile_metric, "min": "0"}),
        ("/pipelines/<script>alert('pipeline')</script>", {"metric": hostile_metric}),
    ]:
        page = client.get(path, params=query)
        assert page.status_code == 200, (path, query)
        assert "<script>" not in page.text and "&lt;script&gt;metric&lt;/script&gt;" in page.text, (
            path,
            query,
        )
    assert api_ids(client, sort=hostile_metric) == [home[2]]


def test_the_new_routes_need_the_token_when_one_is_set(home):
    token = "t0ken-for-the-browse-tests-0123456789"
    _, (r1, r2, _), _ = home
    pairs = [("run", r1), ("run", r2)]
    with TestClient(create_app(home[0], token=token)) as anonymous:
        for path in ("/compare", "/api/v1/compare", "/api/v1/runs", "/runs", "/pipelines/tuned"):
            query = pairs if "compare" in path else {"sort": "roc_auc"}
            assert (
                anonymous.get(path, params=query, headers={"accept": "application/json"}).status_code == 401
            )
            allowed = anonymous.get(path, params=query, headers={"Authorization": f"Bearer {token}"})
            assert allowed.status_code == 200, path
