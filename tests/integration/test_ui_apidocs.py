"""The JSON API's documentation page (``/api/v1/docs``), rendered on the server from the app's
OpenAPI description: every route with its parameters, body and answer; no script, no CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from suiro.ui.app import create_app

TOKEN = "t0ken-for-the-apidocs-tests-0123456789"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(tmp_path_factory.mktemp("apidocs") / "home")


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield client


def test_every_api_route_is_documented(client, app):
    answer = client.get("/api/v1/docs")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    text = answer.text
    operations = [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops]
    assert len(operations) >= 18
    for method, path in operations:
        assert f'<span class="method">{method}</span> <span class="mono">{path}</span>' in text, (
            method,
            path,
        )
    assert "/api/v1/models/{name}/compare" in text
    assert "<script" not in text and "https://" not in text  # no script, nothing fetched elsewhere
    assert 'href="/api/v1/openapi.json"' in text


def test_parameters_show_type_default_and_constraints(client):
    text = client.get("/api/v1/docs").text
    runs = text[text.index('id="get-api-v1-runs"') :]
    runs = runs[: runs.index("</section>")]
    assert re.search(r"<td class=\"mono\">order</td><td>query</td><td class=\"mono\">string</td>"
                     r"<td class=\"mono\">&#34;desc&#34;</td>", runs)  # fmt: skip
    assert "pattern ^(desc|asc)$" in runs
    assert re.search(
        r'<td class="mono">page</td><td>query</td><td class="mono">integer</td><td class="mono">1</td>', runs
    )
    assert re.search(r'<td class="mono">min</td><td>query</td><td class="mono">number</td>', runs)
    assert "runs, page, more" in runs  # the answer's shape


def test_request_bodies_show_their_fields(client):
    text = client.get("/api/v1/docs").text
    promote = text[text.index('id="post-api-v1-models-name-promote"') :]
    promote = promote[: promote.index("</section>")]
    version = r'<td class="mono">version</td><td class="mono">string \| integer</td><td>required</td>'
    assert re.search(version, promote)
    assert re.search(
        r'<td class="mono">stage</td><td class="mono">string</td><td class="mono">&#34;production&#34;</td>',
        promote,
    )
    assert "max length 1000" in promote


def test_the_nav_links_the_docs_and_the_docs_escape_what_they_show(client, app):
    assert '<a href="/api/v1/docs"' in client.get("/runs").text

    @app.get("/api/v1/zz-hostile", summary="<script>alert('summary')</script>")
    def hostile(q: str = "<script>alert('default')</script>") -> dict:
        """A ``<script>alert('doc')</script>`` description."""
        return {}

    app.openapi_schema = None  # built again with the new route
    try:
        text = client.get("/api/v1/docs").text
        assert "<script" not in text
        assert "&lt;script&gt;alert(&#39;summary&#39;)&lt;/script&gt;" in text
        assert "<code>&lt;script&gt;alert(&#39;doc&#39;)&lt;/script&gt;</code>" in text
    finally:
        app.router.routes.pop()
        app.openapi_schema = None


def test_the_docs_need_the_token(tmp_path):
    with TestClient(create_app(tmp_path / "home", token=TOKEN)) as anonymous:
        assert anonymous.get("/api/v1/docs").status_code == 401
        login = anonymous.get("/api/v1/docs", headers={"accept": "text/html"}, follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"] == "/login?next=/api/v1/docs"
        assert anonymous.get("/api/v1/docs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
