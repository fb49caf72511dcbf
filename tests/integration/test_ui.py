"""The web UI and its JSON API over HTTP (FastAPI's test client) against runs recorded for real.

One home is filled once per module: a mapped run with metrics over steps, a run that failed
after a retry, a run of a pipeline (and task) named ``<script>``, and a registered model with
two versions. Every route is checked for its status and shape, for escaping, and (walking
the app's route table) for needing the token.
"""

from __future__ import annotations

import html
import os
import re
import stat

import pytest
from fastapi.testclient import TestClient
from pipelines import ui_example

import suiro
from suiro.errors import UiError
from suiro.registry import Registry
from suiro.ui import auth
from suiro.ui.app import create_app

TOKEN = "t0ken-for-the-ui-tests-0123456789"
SCRIPT = re.compile(r"<script>alert", re.IGNORECASE)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui") / "home"
    runs = {
        "mapped": suiro.run(ui_example.mapped, home=home).run_id,
        "failing": suiro.run(ui_example.failing, home=home).run_id,
        "hostile": suiro.run(ui_example.hostile, home=home).run_id,
    }
    registry = Registry(home)
    registry.register("churn", {"kind": "first"}, metrics={"auc": 0.8}, run_id=runs["mapped"])
    registry.register("churn", {"kind": "second"}, metrics={"auc": 0.85}, run_id=runs["mapped"])
    registry.promote("churn", 1, "production", reason="first release")
    registry.close()
    return home, runs


@pytest.fixture(scope="module")
def open_client(home):
    """The UI with no token: read-only, this machine only."""
    with TestClient(create_app(home[0])) as client:
        yield client


@pytest.fixture
def client(home):
    """The UI with a token, the client sending it in the header."""
    with TestClient(create_app(home[0], token=TOKEN), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


# --- pages -----------------------------------------------------------------------------------


def test_runs_page_lists_runs_newest_first_and_filters_by_state(open_client, home):
    runs = home[1]
    page = open_client.get("/runs")
    assert page.status_code == 200
    shown = re.findall(r'<a href="/runs/([0-9a-f-]+)">', page.text)
    assert shown == [runs["hostile"], runs["failing"], runs["mapped"]]
    failed = open_client.get("/runs", params={"state": "failed"}).text
    assert re.findall(r'<a href="/runs/([0-9a-f-]+)">', failed) == [runs["failing"]]
    assert open_client.get("/runs", params={"pipeline": "mapped"}).text.count('<a href="/runs/') == 1


def test_run_page_has_graph_timeline_logs_and_metric_chart(open_client, home):
    page = open_client.get(f"/runs/{home[1]['mapped']}")
    assert page.status_code == 200
    text = page.text
    assert '<svg class="dag"' in text and 'data-task="square"' in text
    assert "3 items: 3 success" in text  # the map node counts its items
    assert '<svg class="gantt"' in text and text.count('class="bar st-success"') == 5  # 1 + 3 + 1 attempts
    assert "squaring 2" in text  # a mapped item's log
    assert "<figcaption>loss</figcaption>" in text and "<polyline" in text
    assert "data-events" not in text  # a finished run is not watched live
    assert "ran: " in text  # explain: the first run of each task says why it ran


def test_failed_run_page_shows_each_attempt_and_the_traceback(open_client, home):
    text = open_client.get(f"/runs/{home[1]['failing']}").text
    assert "fragile attempt 1" in text and "fragile attempt 2" in text
    assert text.count('<pre class="traceback">Traceback (most recent call last):') == 2  # retry + failure
    assert "ConnectionError: first attempt fails" in text
    assert "the value 7 is &lt;b&gt;wrong&lt;/b&gt;" in text  # the error message is text, not markup
    assert 'class="bar st-retrying"' in text and 'class="bar st-failed"' in text


def test_html_names_logs_and_metrics_render_as_text(open_client, home):
    for path in ("/runs", f"/runs/{home[1]['hostile']}", "/pipelines"):
        text = open_client.get(path).text
        assert not SCRIPT.search(text), path
    run = open_client.get(f"/runs/{home[1]['hostile']}").text
    assert "&lt;script&gt;alert(&#39;pipeline&#39;)&lt;/script&gt;" in run
    assert "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;" in run
    assert "&lt;script&gt;metric&lt;/script&gt;" in run
    name = "<script>alert('pipeline')</script>"
    page = open_client.get("/pipelines/" + name)
    assert page.status_code == 200 and not SCRIPT.search(page.text)


def test_pipeline_page_has_its_graph_parameters_and_runs(open_client, home):
    text = open_client.get("/pipelines/failing").text
    assert '<svg class="dag"' in text and 'data-task="fragile"' in text
    assert '<td class="mono">x</td>' in text and '<td class="mono">7</td>' in text
    assert home[1]["failing"] in text
    assert open_client.get("/pipelines/nope").status_code == 404


def test_models_pages_show_versions_stages_and_history(open_client):
    assert "churn" in open_client.get("/models").text
    text = open_client.get("/models/churn").text
    assert "production" in text and "first release" in text and "auc=0.85" in text
    assert "read-only" in text and 'action="/models/churn/promote"' not in text  # no token: no form


def test_unknown_run_is_404_and_a_path_as_run_id_is_400(open_client):
    assert "<h1>Not found</h1>" in open_client.get("/no/such/page").text
    assert open_client.get("/runs/20990101-000000-abcdef").status_code == 404
    assert open_client.get("/api/v1/runs/zzz").json()["detail"].startswith("no run 'zzz'")
    for bad in ("..%2f..%2fetc", "a%00b", "x" * 65):
        assert open_client.get(f"/api/v1/runs/{bad}").status_code in (400, 404)
    assert open_client.get("/api/v1/runs/a%00b").status_code == 400


# --- the JSON API ----------------------------------------------------------------------------


def test_api_runs_pages_and_run_shape(open_client, home):
    body = open_client.get("/api/v1/runs", params={"state": "failed"}).json()
    assert [r["id"] for r in body["runs"]] == [home[1]["failing"]] and body["more"] is False
    run = open_client.get(f"/api/v1/runs/{home[1]['failing']}").json()
    assert {"id", "state", "params", "tasks", "attempts", "logs", "metrics", "outputs", "graph"} <= set(run)
    assert run["params"] == {"x": 7} and run["state"] == "failed"
    assert all("log_path" not in a for a in run["attempts"])
    failed = [a for a in run["logs"] if a["state"] == "failed"]
    assert failed[0]["traceback"].rstrip().endswith("ValueError: the value 7 is <b>wrong</b>")
    logs = open_client.get(f"/api/v1/runs/{home[1]['failing']}/logs", params={"task": "fragile"}).json()
    assert [(a["attempt"], a["lines"]) for a in logs] == [
        (1, ["fragile attempt 1"]),
        (2, ["fragile attempt 2"]),
    ]
    states = open_client.get(f"/api/v1/runs/{home[1]['mapped']}/states").json()
    assert {t["task_key"]: t["state"] for t in states["tasks"]} == dict.fromkeys(
        ["items", "square", "train"], "success"
    )


def test_api_pipelines_and_models(open_client):
    names = [p["name"] for p in open_client.get("/api/v1/pipelines").json()]
    assert names == sorted(["mapped", "failing", "<script>alert('pipeline')</script>"])
    assert [n["key"] for n in open_client.get("/api/v1/pipelines/mapped").json()["graph"]["nodes"]] == [
        "items",
        "square",
        "train",
    ]
    model = open_client.get("/api/v1/models/churn").json()
    assert [(v["version"], v["stage"]) for v in model["versions"]] == [(1, "production"), (2, "none")]
    assert open_client.get("/api/v1/models/nope").status_code == 404


def test_runs_are_paged_newest_first(open_client, home, monkeypatch):
    from suiro.ui import reads

    monkeypatch.setattr(reads, "PAGE_SIZE", 2)
    first = open_client.get("/runs", params={"page": 1}).text
    second = open_client.get("/runs", params={"page": 2}).text
    ids = lambda text: re.findall(r'<a href="/runs/([0-9a-f-]+)">', text)  # noqa: E731
    assert ids(first) == [home[1]["hostile"], home[1]["failing"]] and ids(second) == [home[1]["mapped"]]
    assert 'rel="next" href="/runs?page=2"' in first and 'rel="next"' not in second
    assert 'rel="prev" href="/runs?page=1"' in second
    assert open_client.get("/api/v1/runs", params={"page": 2}).json()["more"] is False


def test_a_run_past_the_page_limit_lists_what_did_not_succeed_and_counts_the_rest(
    open_client, home, monkeypatch
):
    from suiro.ui import reads

    monkeypatch.setattr(reads, "PAGE_TASKS", 1)
    rows = lambda text: re.findall(r'<tr id="task-([^"]+)"', text)  # noqa: E731
    text = open_client.get(f"/runs/{home[1]['mapped']}").text
    assert rows(text) == ["items"]
    assert "2 more tasks not listed (2 success), nor their logs and outputs" in text
    assert "squaring 2" not in text, "the log of a task not listed is not read"
    every = open_client.get(f"/runs/{home[1]['mapped']}", params={"tasks": "all"}).text
    assert rows(every) == ["items", "square", "train"] and "squaring 2" in every
    assert "more tasks not listed" not in every
    failed = open_client.get(f"/runs/{home[1]['failing']}").text
    assert rows(failed) == ["fragile"], "the failed task first"
    assert "ConnectionError: first attempt fails" in failed
    api = open_client.get(f"/api/v1/runs/{home[1]['mapped']}").json()
    assert [t["task_key"] for t in api["tasks"]] == ["items", "square", "train"], "the API has every task"


def test_a_runs_tasks_are_filtered_by_part_of_their_key_and_by_state(open_client, home):
    rows = lambda text: re.findall(r'<tr id="task-([^"]+)"', text)  # noqa: E731
    page = f"/runs/{home[1]['mapped']}"
    found = open_client.get(page, params={"find": "qua"}).text
    assert rows(found) == ["square"] and "1 of 3 tasks match" in found
    assert "squaring 2" in found and 'id="log-train-' not in found, "the logs of the tasks listed only"
    assert 'id="log-train-' in open_client.get(page).text
    assert 'data-task="train"' in found and 'class="node st-success" data-task="train"' in found, (
        "the graph still shows every task's state"
    )
    assert rows(open_client.get(page, params={"state": "failed"}).text) == []
    failing = open_client.get(f"/runs/{home[1]['failing']}", params={"state": "failed"}).text
    assert rows(failing) == ["fragile"] and 'name="find"' in failing


def test_the_api_keeps_a_runs_tasks_by_count_key_and_state(open_client, home):
    url = f"/api/v1/runs/{home[1]['mapped']}"
    keys = lambda data: [t["task_key"] for t in data["tasks"]]  # noqa: E731
    one = open_client.get(url, params={"tasks": 1}).json()
    assert keys(one) == ["items"] and one["task_count"] == 3 and one["tasks_left"] == {"success": 2}
    assert "every_task" not in one
    assert {entry["task_key"] for entry in one["logs"]} <= {"items"}, "only the listed tasks' logs"
    found = open_client.get(url, params={"find": "qua"}).json()
    assert keys(found) == ["square"] and {e["task_key"] for e in found["logs"]} == {"square"}
    assert keys(open_client.get(url, params={"state": "failed"}).json()) == []
    failing = f"/api/v1/runs/{home[1]['failing']}"
    assert keys(open_client.get(failing, params={"state": "failed"}).json()) == ["fragile"]
    for (name, value), words in [
        (("state", "burning"), "'failed' or 'upstream_failed' (got 'burning')"),
        (("tasks", "0"), "greater than or equal to 1 (got '0')"),
        (("tasks", "many"), "valid integer"),
    ]:
        answer = open_client.get(url, params={name: value})
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert detail.startswith(f"query parameter {name}: ") and words in detail, detail
    page = open_client.get("/runs", params={"page": "x<b>"})
    assert page.status_code == 400 and "text/html" in page.headers["content-type"], page.text
    assert "query parameter page: Input should be a valid integer" in html.unescape(page.text)
    assert "x<b>" not in page.text, "what was sent is escaped"


def test_the_pages_and_the_api_show_the_same_runs(open_client):
    api = [r["id"] for r in open_client.get("/api/v1/runs").json()["runs"]]
    assert re.findall(r'<a href="/runs/([0-9a-f-]+)">', open_client.get("/runs").text) == api


def test_live_events_of_a_finished_run_send_its_states_then_end(open_client, home):
    with open_client.stream("GET", f"/runs/{home[1]['mapped']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    assert body.startswith("data: {") and '"state": "success"' in body
    assert body.endswith("event: end\ndata: {}\n\n")


# --- writes and the token --------------------------------------------------------------------


def test_without_a_token_writes_are_refused(open_client):
    assert open_client.post("/api/v1/models/churn/promote", json={"version": "2"}).status_code == 403
    form = open_client.post("/models/churn/promote", data={"version": "2"})
    assert form.status_code == 403 and "<h1>Not allowed</h1>" in form.text and "read-only" in form.text
    assert open_client.get("/api/v1/models/churn").json()["versions"][1]["stage"] == "none"


def test_api_promote_and_rollback_with_the_token(client, tmp_path):
    promoted = client.post("/api/v1/models/churn/promote", json={"version": "2", "reason": "better auc"})
    assert promoted.status_code == 200 and promoted.json()["stage"] == "production"
    history = client.get("/api/v1/models/churn").json()["history"]
    assert history[-1]["reason"] == "better auc" and history[-1]["actor"].endswith("(suiro ui)")
    back = client.post("/api/v1/models/churn/rollback", json={"reason": "oops"})
    assert back.status_code == 200 and back.json()["version"] == 1
    bad = client.post("/api/v1/models/churn/promote", json={"version": "1", "stage": "heaven"})
    assert bad.status_code == 400 and "heaven" in bad.json()["detail"]
    as_number = client.post("/api/v1/models/churn/promote", json={"version": 2})  # refused: "not a string"
    assert as_number.status_code == 200 and as_number.json()["version"] == 2
    too_long = client.post("/api/v1/models/churn/promote", json={"version": "x" * 200})
    assert too_long.json()["detail"] == "body version: String should have at most 100 characters."
    huge = client.post("/api/v1/models/churn/promote", content=b"{" * 70_000)
    assert huge.status_code == 413 and "send a shorter reason or fewer values" in huge.json()["detail"]


def test_cookie_login_then_a_form_needs_its_csrf_field(home):
    with TestClient(create_app(home[0], token=TOKEN)) as browser:
        assert (
            browser.get("/runs", headers={"accept": "text/html"}, follow_redirects=False).headers["location"]
            == "/login?next=/runs"
        )
        assert browser.post("/login", data={"token": TOKEN[:-1] + "x"}).status_code == 401
        logged = browser.post(
            "/login", data={"token": TOKEN, "next": "/models/churn"}, follow_redirects=False
        )
        assert logged.status_code == 303 and logged.headers["location"] == "/models/churn"
        page = browser.get("/models/churn").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        assert browser.post("/models/churn/promote", data={"version": "2"}).status_code == 403  # no field
        assert (
            browser.post("/models/churn/promote", data={"version": "2", "csrf": "0" * 64}).status_code == 403
        )
        done = browser.post("/models/churn/promote", data={"version": "2", "csrf": csrf, "reason": "form"})
        assert done.status_code == 200 and "promoted" in done.text, done.text
        assert (
            browser.post("/api/v1/models/churn/rollback", json={}).status_code == 403
        )  # cookie: no API write
        assert (
            browser.post(
                "/login", data={"token": TOKEN, "next": "//evil.example"}, follow_redirects=False
            ).headers["location"]
            == "/runs"
        )


def _paths(routes, prefix: str = "") -> list[tuple[str, str]]:
    """Every (method, path) in a route table, included routers too, with path parameters filled in."""
    found = []
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI >= 0.160 keeps included routers as such
            found += _paths(route.original_router.routes, prefix + route.include_context.prefix)
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                found.append((method, prefix + re.sub(r"\{[^}]+\}", "x", route.path)))
    return found


def test_every_route_but_health_and_login_needs_the_token(home):
    app = create_app(home[0], token=TOKEN)
    paths = _paths(app.routes)
    assert ("GET", "/api/v1/runs/x") in paths and ("POST", "/models/x/promote") in paths and len(paths) > 20
    assert ("POST", "/trigger") in paths and ("POST", "/api/v1/deployments/x/pause") in paths
    assert ("GET", "/api/v1/docs") in paths and ("GET", "/api/v1/models/x/compare") in paths
    assert ("GET", "/models/x/compare") in paths
    with TestClient(app) as anonymous:
        for method, path in paths:
            exempt = path in auth.EXEMPT
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Bearer {TOKEN[:-1]}!"},
            ):
                answer = anonymous.request(method, path, headers=headers)
                refused = answer.status_code == 401 and answer.headers.get("www-authenticate") == "Bearer"
                assert refused != exempt, (method, path, headers, answer.status_code)
            query = anonymous.request(method, path, params={"token": TOKEN}).status_code
            assert exempt or query == 401, (method, path)  # never from a query string
        anonymous.cookies.set(auth.COOKIE, TOKEN)  # the cookie holds a value derived from the token, not it
        for method, path in paths:
            assert path in auth.EXEMPT or anonymous.request(method, path).status_code == 401, (method, path)
        assert anonymous.get("/health").json() == {"status": "ok"}


def test_write_bodies_are_limited(client):
    big = client.post(
        "/api/v1/models/churn/promote", content=b"x" * 200_000, headers={"content-type": "application/json"}
    )
    assert big.status_code == 413
    assert client.get("/health").status_code == 200


def test_log_files_outside_the_home_are_not_read(home, tmp_path):
    from suiro.store.home import Store
    from suiro.store.queries import logs

    store = Store(home[0])
    inside = logs(store.reader, home[1]["failing"], "fragile", within=store.home)
    assert inside[0]["lines"] == ["fragile attempt 1"]
    assert logs(store.reader, home[1]["failing"], "fragile", within=tmp_path)[0]["lines"] == []


def test_on_loopback_a_foreign_host_name_is_refused(home):
    from suiro.ui.serve import loopback_hosts

    app = create_app(home[0], allowed_hosts=loopback_hosts("127.0.0.1"))
    with TestClient(app, base_url="http://rebound.example:8080") as rebound:
        assert rebound.get("/api/v1/runs").status_code == 400  # DNS rebinding: a page's own name
    for base in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        with TestClient(app, base_url=base) as local:
            assert local.get("/api/v1/runs").status_code == 200, base
    assert loopback_hosts("0.0.0.0") is None


def test_security_headers(open_client):
    headers = open_client.get("/runs").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


# --- starting it -----------------------------------------------------------------------------


def test_token_file_is_made_0600_and_a_readable_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(auth.TOKEN_VARIABLE, raising=False)
    path = tmp_path / "ui.token"
    token = auth.load_token(path)
    assert len(token) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.load_token(path) == token
    os.chmod(path, 0o644)
    with pytest.raises(UiError, match=r"can be read by other users \(mode 0644\); run: chmod 600"):
        auth.load_token(path)
    monkeypatch.setenv(auth.TOKEN_VARIABLE, "short")
    with pytest.raises(UiError, match="shorter than 16 characters"):
        auth.load_token(None)


def test_a_remote_address_without_a_token_is_refused_naming_the_override():
    refused = r"will not listen on 0\.0\.0\.0 without a token.*--insecure-allow-remote"
    with pytest.raises(UiError, match=refused):
        auth.check_bind("0.0.0.0", None)
    auth.check_bind("0.0.0.0", TOKEN)
    auth.check_bind("0.0.0.0", None, allow_remote=True)
    auth.check_bind("127.0.0.1", None)
    auth.check_bind("::1", None)


def test_a_mapped_tasks_list_is_previewed_by_its_items(open_client, home):
    # It said "not shown: the stored object is missing": a manifest's bytes are on its row
    outputs = open_client.get(f"/api/v1/runs/{home[1]['mapped']}").json()["outputs"]
    (listed,) = [o for o in outputs if o["task_key"] == "square" and o["map_index"] == -1]
    assert listed["serializer"] == "manifest"
    assert listed["preview"] == {"type": "sequence", "items": ["0", "1", "4"], "length": 3}
    assert "the stored object is missing" not in open_client.get(f"/runs/{home[1]['mapped']}").text


def test_a_parameter_shows_as_its_text_not_as_json_escapes(open_client, tmp_path):
    # Jinja's tojson wrote "\\u6771\\u4eac \\u0026" for 東京 &: safe, and unreadable
    home = tmp_path / "params-home"
    run_id = suiro.run(ui_example.labelled, {"label": '東京 & "q" <b>'}, home=home).run_id
    page = TestClient(create_app(home)).get(f"/runs/{run_id}").text
    assert "&#34;東京 &amp; \\&#34;q\\&#34; &lt;b&gt;&#34;" in page and "\\u6771" not in page
