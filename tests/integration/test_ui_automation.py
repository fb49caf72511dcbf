"""Deployments in the web UI, and starting runs from it, over HTTP (FastAPI's test client).

One home per module: a pipeline file run once by hand, deployed twice (``nightly`` in Tokyo with
a parameter, ``paused`` paused with a file trigger), with one scheduled run of ``nightly``
recorded for real. Runs started from the UI run in real child processes (no scheduler runs
here, so the UI starts them itself); each test that starts one waits for it (about a second).
"""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from pipelines.daily_source import DAILY

import suiro
from suiro import deployments
from suiro.api import load_pipeline
from suiro.config import resolve_params
from suiro.errors import ParameterError
from suiro.scheduler import manual
from suiro.store import leases
from suiro.store.home import Store
from suiro.ui import launches
from suiro.ui.app import create_app

TOKEN = "t0ken-for-the-automation-tests-42"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("automation")
    home = root / "home"
    source = root / "daily.py"
    source.write_text(DAILY)
    target = f"{source}:daily"
    by_hand = suiro.run(target, home=home).run_id
    deployments.deploy(
        name="nightly", pipeline=target, cron="0 2 * * *", timezone="Asia/Tokyo", params={"n": 3}, home=home
    )
    deployments.deploy(
        name="paused",
        pipeline=target,
        triggers=[{"on_file": str(root / "in/*.csv"), "param": "label"}],
        home=home,
    )
    deployments.set_paused("paused", True, home=home)
    store = Store(home)
    scheduled = manual.trigger(store, "nightly")
    assert manual.run_now(store, scheduled)
    store.close()
    return {"home": home, "root": root, "target": target, "by_hand": by_hand, "scheduled": scheduled}


@pytest.fixture(scope="module")
def open_client(home):
    with TestClient(create_app(home["home"])) as client:
        yield client


@pytest.fixture
def client(home):
    with TestClient(create_app(home["home"], token=TOKEN), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def _ended(client: TestClient, run_id: str, timeout: float = 20.0) -> dict:
    """The run's states once it has ended (its child process has to start it first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/api/v1/runs/{run_id}/states")
        if answer.status_code == 200 and answer.json()["state"] != "running":
            return answer.json()
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end: {client.get(f'/runs/{run_id}').text[-800:]}")


# --- reading deployments ---------------------------------------------------------------------


def test_deployments_page_lists_schedule_next_times_paused_last_run_and_triggers(open_client, home):
    page = open_client.get("/deployments")
    assert page.status_code == 200
    nightly = page.text.split('id="deployment-nightly"')[1].split("</tr>")[0]
    assert "at 02:00 every day (Asia/Tokyo)" in nightly
    assert len(re.findall(r"\d{4}-\d\d-\d\d 02:00 JST", nightly)) == 3
    assert "success" in nightly and home["scheduled"] in nightly
    paused = page.text.split('id="deployment-paused"')[1].split("</tr>")[0]
    assert ">paused<" in paused and "on file " in paused and "(as label)" in paused
    assert 'href="/deployments"' in page.text  # in the navigation


def test_deployment_page_has_details_fire_times_in_zone_and_utc_runs_and_queued_ticks(open_client, home):
    store = Store(home["home"])
    queued = manual.trigger(store, "paused", ["label=q"])  # paused: it stays queued
    store.close()
    text = open_client.get("/deployments/nightly").text
    upcoming = text.split('id="upcoming"')[1].split("</table>")[0]
    assert len(re.findall(r"02:00 JST</td><td class=\"mono\">\d{4}-\d\d-\d\d 17:00 UTC", upcoming)) == 5
    runs = text.split('id="deployment-runs"')[1]
    assert home["scheduled"] in runs and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? JST", runs)
    assert '<td class="mono">n</td><td class="mono">3</td>' in text  # its parameters
    paused = open_client.get("/deployments/paused").text
    assert 'id="paused"' in paused and queued in paused.split('id="queued"')[1]
    assert "label=&#34;q&#34;" in paused, "a parameter's JSON text, escaped for HTML like any text"
    assert open_client.get("/deployments/nighty").status_code == 404
    assert "nightly" in open_client.get("/deployments/nighty").text  # did you mean


def test_runs_filter_by_deployment_and_show_deployment_and_logical_time(open_client, home):
    text = open_client.get("/runs", params={"deployment": "nightly"}).text
    assert re.findall(r'<a href="/runs/([0-9a-f-]+)">', text) == [home["scheduled"]]
    assert '<th scope="col">logical time</th>' in text and re.search(r"\d\d:\d\d JST", text)
    assert 'id="filter-deployment"' in text and '<option value="nightly" selected>' in text
    everything = open_client.get("/runs").text
    assert home["by_hand"] in everything and home["scheduled"] in everything
    api = open_client.get("/api/v1/runs", params={"deployment": "nightly"}).json()
    assert [r["id"] for r in api["runs"]] == [home["scheduled"]] and api["deployments"] == [
        "nightly",
        "paused",
    ]
    run = open_client.get(f"/runs/{home['scheduled']}").text
    assert 'href="/deployments/nightly">nightly</a> <span class="muted">(manual)</span>' in run
    assert re.search(r'id="logical-time">\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? JST<', run)
    assert "data interval" in run and "data interval" not in open_client.get(f"/runs/{home['by_hand']}").text


def test_api_deployments(open_client, home):
    listed = open_client.get("/api/v1/deployments").json()
    assert [d["name"] for d in listed] == ["nightly", "paused"] and len(listed[0]["next"]) == 3
    one = open_client.get("/api/v1/deployments/nightly").json()
    assert one["params"] == {"n": 3} and len(one["next"]) == 5 and one["timezone"] == "Asia/Tokyo"
    assert one["runs"][0]["id"] == home["scheduled"] and one["runs"][0]["logical"].endswith("JST")
    assert {"queued", "queued_ticks", "catchup", "trigger_specs"} <= set(one)
    assert open_client.get("/api/v1/deployments/nope").status_code == 404


# --- writes ----------------------------------------------------------------------------------


def test_without_a_token_nothing_can_be_started_or_paused(open_client, home):
    assert open_client.post("/deployments/nightly/pause").status_code == 403
    assert open_client.post("/trigger", data={"deployment": "nightly"}).status_code == 403
    assert open_client.post(f"/runs/{home['by_hand']}/rerun").status_code == 403
    assert open_client.post("/api/v1/trigger", json={"deployment": "nightly"}).status_code == 403
    assert "read-only" in open_client.get("/deployments/nightly").text
    assert open_client.get("/api/v1/deployments/nightly").json()["paused"] is False


def test_pause_and_resume_from_the_page_need_the_csrf_field(home):
    with TestClient(create_app(home["home"], token=TOKEN)) as browser:
        browser.post("/login", data={"token": TOKEN})
        page = browser.get("/deployments/nightly").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        assert browser.post("/deployments/nightly/pause").status_code == 403  # no CSRF field
        paused = browser.post("/deployments/nightly/pause", data={"csrf": csrf})
        assert (
            paused.status_code == 200 and "nightly: paused." in paused.text and 'id="paused"' in paused.text
        )
        assert browser.get("/api/v1/deployments", headers={"Authorization": f"Bearer {TOKEN}"}).json()[0][
            "paused"
        ]
        resumed = browser.post("/deployments/nightly/resume", data={"csrf": csrf})
        assert "nightly: resumed." in resumed.text and 'id="paused"' not in resumed.text
        assert browser.post("/deployments/nope/pause", data={"csrf": csrf}).status_code == 404


def test_api_pause_and_resume(client):
    assert client.post("/api/v1/deployments/paused/resume").json() == {"name": "paused", "paused": False}
    assert client.post("/api/v1/deployments/paused/pause").json() == {"name": "paused", "paused": True}


def test_trigger_form_is_the_signature_with_the_deployments_values(client, home):
    text = client.get("/trigger", params={"deployment": "nightly"}).text
    fields = dict(re.findall(r'<input name="p\.(\w+)" id="param-\d" data-param="\w+" value="([^"]*)"', text))
    assert fields == {"n": "3", "label": "x", "flag": ""}
    assert '<td class="mono muted">int</td>' in text
    pattern = r'<input name="p\.(\w+)" id="param-\d" data-param="\w+" value="([^"]*)"'
    of_pipeline = client.get("/trigger", params={"pipeline": "daily"}).text  # its signature's defaults
    assert dict(re.findall(pattern, of_pipeline)) == {"n": "2", "label": "x", "flag": ""}
    again = client.get("/trigger", params={"run": home["scheduled"]}).text  # the values that run had
    assert dict(re.findall(pattern, again)) == {"n": "3", "label": "x", "flag": ""}
    assert 'action="/trigger"' in client.get("/pipelines/daily").text  # "Run it..." on its page
    assert client.get("/trigger", params={"deployment": "nope"}).status_code == 404
    assert client.get("/trigger").status_code == 400


def test_a_bad_value_shows_the_same_error_as_set_naming_the_form_and_starts_nothing(client, home):
    before = client.get("/api/v1/deployments/nightly").json()["queued"]
    page = client.post(
        "/trigger", data={"deployment": "nightly", "p.n": "many", "p.label": "x", "p.flag": ""}
    )
    assert page.status_code == 400
    with pytest.raises(ParameterError) as expected:
        pipe = load_pipeline(home["target"])
        resolve_params(pipe.params, pipeline=pipe.name, values={"n": 3}, overrides=["n=many"])
    assert "from --set" in str(expected.value)  # the command line's wording, where the value came from
    in_form = str(expected.value).replace("from --set", "from the form")
    assert str(escape(in_form)) in page.text and "from --set" not in page.text
    pipe_page = client.post(
        "/trigger", data={"pipeline": "daily", "p.n": "many", "p.label": "x", "p.flag": ""}
    )
    assert pipe_page.status_code == 400 and "&#39;many&#39; from the form is not a valid" in pipe_page.text
    assert 'value="many" size="40"  aria-invalid="true"' in page.text  # kept, and marked
    runs = client.get("/api/v1/runs", params={"deployment": "nightly"}).json()["runs"]
    assert len(runs) == 1 and client.get("/api/v1/deployments/nightly").json()["queued"] == before
    unknown = client.post("/api/v1/trigger", json={"deployment": "nightly", "params": {"nn": "1"}})
    assert unknown.status_code == 400 and "did you mean" in unknown.json()["detail"]
    # a JSON number is read as its value ({"n": 7} was refused as "not a valid string"); checked alike
    wrong = client.post("/api/v1/trigger", json={"deployment": "nightly", "params": {"n": 7.5}})
    assert (
        wrong.status_code == 400
        and "parameter n = '7.5' from params is not a valid int" in wrong.json()["detail"]
    )


def test_a_good_value_runs_the_deployment_with_no_scheduler_running(client):
    answer = client.post(
        "/trigger",
        data={"deployment": "nightly", "p.n": "4", "p.label": "y", "p.flag": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    run_id = answer.headers["location"].removeprefix("/runs/")
    first = client.get(f"/runs/{run_id}").text  # starting, or already running or done
    assert run_id in first
    assert _ended(client, run_id)["state"] == "success"
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["params"] == {"n": 4, "label": "y", "flag": ""}
    assert run["deployment"] == "nightly" and run["trigger"] == "manual"


def test_with_a_scheduler_leading_the_ui_leaves_the_run_to_it(client, home):
    store = Store(home["home"])
    lease = leases.acquire(store.db, "another-scheduler", 60.0, now=time.time())
    try:
        answer = client.post("/api/v1/trigger", json={"deployment": "nightly"})
        assert answer.status_code == 200 and answer.json()["waiting"] == "queued: the scheduler starts it"
        page = client.get(f"/runs/{answer.json()['run_id']}").text
        assert ">queued<" in page and 'http-equiv="refresh"' in page
    finally:
        leases.release(store.db, lease, now=time.time())
        store.close()


def test_a_pipeline_run_a_rerun_and_a_resume_run_in_child_processes(client, home):
    flag = home["root"] / "flag"
    started = client.post("/api/v1/trigger", json={"pipeline": "daily", "params": {"flag": str(flag)}})
    failed = started.json()["run_id"]
    assert _ended(client, failed)["state"] == "failed"
    page = client.get(f"/runs/{failed}").text
    assert f'action="/runs/{failed}/resume"' in page and f'action="/runs/{failed}/rerun"' in page
    flag.touch()
    resumed = client.post(f"/runs/{failed}/resume", follow_redirects=False).headers["location"][6:]
    rerun = client.post(f"/api/v1/runs/{failed}/rerun").json()["run_id"]
    assert _ended(client, resumed)["state"] == "success" and _ended(client, rerun)["state"] == "success"
    assert client.get(f"/api/v1/runs/{resumed}").json()["parent_run_id"] == failed
    again = client.get(f"/api/v1/runs/{rerun}").json()
    assert again["parent_run_id"] is None and again["params"]["flag"] == str(flag)
    refused = client.post(f"/api/v1/runs/{rerun}/resume")
    assert refused.status_code == 400 and "succeeded" in refused.json()["detail"]


def test_a_run_that_cannot_start_says_why_on_its_page(client, home, tmp_path):
    gone = tmp_path / "gone.py"
    gone.write_text(DAILY)
    first = suiro.run(f"{gone}:daily", home=home["home"]).run_id
    gone.write_text(DAILY.replace("def daily(", "def renamed("))
    assert client.post(f"/api/v1/runs/{first}/rerun").status_code == 400  # checked first: no child
    assert "no pipeline &#39;daily&#39;" in client.get("/trigger", params={"run": first}).text
    registry = client.app.state.registry  # its child finds the pipeline gone (changed after the check)
    started = launches.run_pipeline(registry, f"{gone}:daily", params={}, overrides=[])
    deadline = time.monotonic() + 20
    while "could not start" not in (page := client.get(f"/runs/{started.run_id}").text):
        assert time.monotonic() < deadline, page[-600:]
        time.sleep(0.1)
    assert "no pipeline &#39;daily&#39;" in page and 'http-equiv="refresh"' not in page
