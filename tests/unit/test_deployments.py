"""Deployments are checked whole before anything is saved: pipeline, parameters, schedule, triggers."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from suiro import deployments, project
from suiro.errors import DeploymentError
from suiro.notify import Notify
from suiro.store import deployments as rows
from suiro.store.home import Store

PIPELINES = """
from suiro import pipeline, task

@task
def score(threshold: float, path: str) -> float:
    return threshold

@pipeline(schedule="0 3 * * *", sla="3h")
def train(threshold: float = 0.9, path: str = "data.csv", days: int = 1):
    return score(threshold, path)

@pipeline
def ingest(path: str):
    return score(0.5, path)
"""


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    (tmp_path / "flows.py").write_text(textwrap.dedent(PIPELINES), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def saved() -> dict[str, rows.DeploymentRow]:
    return {row.name: row for row in rows.all_deployments(Store().reader)}


def test_a_cron_deployment_is_saved_with_typed_params_and_its_next_fire_times(folder):
    done = deployments.deploy(
        name="nightly",
        pipeline="flows.py:train",
        cron="0 2 * * *",
        timezone="Asia/Tokyo",
        overrides=["threshold=0.95"],
    )
    row = saved()["nightly"]
    assert row.target == f"{folder / 'flows.py'}:train" and row.pipeline == "train"
    assert row.params == {"threshold": 0.95} and row.source == "python"
    assert row.schedule == {"cron": "0 2 * * *", "timezone": "Asia/Tokyo"}
    assert done.new and len(done.next_times) == 3
    local = [datetime.fromtimestamp(t, ZoneInfo("Asia/Tokyo")) for t in done.next_times]
    assert [(d.hour, d.minute) for d in local] == [(2, 0)] * 3
    assert (local[1] - local[0]).days == 1


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"params": {"thresold": 0.95}},
            "pipeline train has no parameter 'thresold' (did you mean \"threshold\"?)",
        ),
        ({"params": {"threshold": "high"}}, "parameter threshold = 'high' is not a valid float"),
        ({"cron": "0 2 * *"}, "the cron expression '0 2 * *' has 4 fields, not 5"),
        ({"cron": "not a cron at all"}, "the cron expression 'not a cron at all'"),
        (
            {"cron": "@daily", "timezone": "Asia/Tokio"},
            "unknown time zone 'Asia/Tokio' (did you mean \"Asia/Tokyo\"?)",
        ),
        ({"cron": "@daily", "timezone": "utc"}, "unknown time zone 'utc' (did you mean \"UTC\"?)"),
        ({"cron": None, "every": "0h"}, "the interval '0h' is not positive"),
        ({"cron": None, "every": 0}, "the interval 0 is not positive"),
        ({"sla": "soon"}, "its sla 'soon' is not a positive duration"),
        (
            {"triggers": [{"on_file": "in/*.csv", "param": "file"}]},
            "parameter 'file', which pipeline train does not take",
        ),
        (
            {"triggers": [{"after": "etll"}]},
            "triggered after 'etll' (did you mean \"etl\"?), which is not deployed",
        ),
        ({"triggers": [{"after": "x"}]}, "it is triggered after itself"),
        ({"pipeline": "missing.py:train"}, "pipeline file"),
        ({"pipeline": "flows.py:trian"}, "has no pipeline 'trian' (did you mean \"train\"?)"),
        ({"max_active_runs": 0}, "max_active_runs=0 is not valid"),
    ],
)
def test_a_deployment_that_cannot_run_is_one_sentence_and_nothing_is_saved(folder, fields, expected):
    deployments.deploy(name="etl", pipeline="flows.py:ingest", params={"path": "x.csv"})
    with pytest.raises(DeploymentError) as caught:
        deployments.deploy(**{"name": "x", "pipeline": "flows.py:train", "cron": "@daily", **fields})
    message = str(caught.value)
    assert expected in message, message
    assert message.count(".\n") == 0 and message.endswith(".")
    assert list(saved()) == ["etl"]


def test_every_problem_is_reported_at_once(folder):
    with pytest.raises(DeploymentError) as caught:
        deployments.deploy(name="x", pipeline="flows.py:train", cron="bad", params={"nope": 1}, sla="later")
    message = str(caught.value)
    assert message.startswith("deployment x: ")
    assert "cron expression 'bad'" in message and "'nope'" in message and "sla 'later'" in message


def test_a_file_trigger_supplies_a_required_parameter_and_its_pattern_is_made_absolute(folder):
    deployments.deploy(name="ingest", pipeline="flows.py:ingest", triggers=[{"on_file": "in/*.csv"}])
    row = saved()["ingest"]
    assert row.triggers == [{"kind": "file", "pattern": str(folder / "in" / "*.csv"), "param": "path"}]
    assert row.params == {} and row.schedule is None


def test_a_required_parameter_without_a_value_is_refused(folder):
    with pytest.raises(DeploymentError, match="parameter path is required"):
        deployments.deploy(name="ingest", pipeline="flows.py:ingest")


def test_redeploying_replaces_the_deployment_but_keeps_its_pause(folder):
    deployments.deploy(name="nightly", pipeline="flows.py:train", cron="0 2 * * *")
    rows.set_paused(Store().db, "nightly", True)
    again = deployments.deploy(name="nightly", pipeline="flows.py:train", cron="30 4 * * *", sla=7200)
    row = saved()["nightly"]
    assert not again.new and row.paused and row.schedule == {"cron": "30 4 * * *", "timezone": "UTC"}
    assert row.sla == 7200.0


def test_without_cron_the_pipelines_own_schedule_is_used(folder):
    deployments.deploy(name="t", pipeline="flows.py:train", timezone="Europe/Berlin")
    assert saved()["t"].schedule == {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}


def test_the_pipelines_sla_is_its_deployments_unless_one_sets_its_own(folder):
    deployments.deploy(name="t", pipeline="flows.py:train")
    deployments.deploy(name="own", pipeline="flows.py:train", sla="30m")
    deployments.deploy(name="i", pipeline="flows.py:ingest", params={"path": "a"})
    found = saved()
    assert (found["t"].sla, found["own"].sla, found["i"].sla) == (10800.0, 1800.0, None)


def test_a_timezone_without_any_schedule_is_refused(folder):
    with pytest.raises(
        DeploymentError, match="sets timezone but has no schedule, and pipeline ingest has none"
    ):
        deployments.deploy(name="i", pipeline="flows.py:ingest", params={"path": "a"}, timezone="UTC")


def test_deploy_scheduled_registers_one_deployment_per_scheduled_pipeline(folder):
    (done,) = deployments.deploy_scheduled("flows.py")
    assert done.row.name == "train" and done.row.schedule == {"cron": "0 3 * * *", "timezone": "UTC"}
    (folder / "none.py").write_text("from suiro import pipeline\n@pipeline\ndef p():\n    return 1\n")
    with pytest.raises(
        DeploymentError, match=r"none.py has no pipeline with schedule= \(pipelines there: p\)"
    ):
        deployments.deploy_scheduled("none.py")


PROJECT = """
notify:
  on: [failed]
  email: [team@example.com]
deployments:
  - name: nightly
    pipeline: flows.py:train
    params: {threshold: 0.95}
    cron: "0 2 * * *"
    timezone: Asia/Tokyo
    max_active_runs: 1
  - name: on-data
    pipeline: flows.py:ingest
    notify: {webhook: "http://127.0.0.1:9/hook"}
    triggers:
      - on_file: incoming/*.csv
      - after: nightly
"""


def test_a_project_file_deploys_all_its_deployments(folder):
    (folder / "suiro.yaml").write_text(textwrap.dedent(PROJECT).lstrip(), encoding="utf-8")
    done = deployments.deploy_project()
    assert [d.row.name for d in done] == ["nightly", "on-data"] and all(d.new for d in done)
    found = saved()
    assert found["nightly"].notify is None  # the project's is read where runs start, not copied
    stored = found["on-data"].notify  # as suiro.notify reads it back, its defaults filled in
    assert stored["webhook"] == ["http://127.0.0.1:9/hook"] and stored["email"] == []
    assert Notify.parse(stored).webhook == ("http://127.0.0.1:9/hook",)
    assert project.settings() == ({"on": ["failed"], "email": ["team@example.com"]}, None)
    assert [t["kind"] for t in found["on-data"].triggers] == ["file", "after"]
    assert {d.source for d in found.values()} == {"project"}


def test_one_bad_deployment_in_a_project_saves_none_and_names_its_line(folder):
    text = (
        textwrap.dedent(PROJECT)
        .lstrip()
        .replace("threshold: 0.95", "thresold: 0.95")
        .replace("after: nightly", "after: nigthly")
    )
    (folder / "suiro.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DeploymentError) as caught:
        deployments.deploy_project()
    message = str(caught.value)
    assert message.startswith(
        "suiro.yaml:7: deployment nightly: pipeline train has no parameter 'thresold'"
    ), message  # the line of params:, not of - name:
    assert "suiro.yaml:16: deployment on-data: it is triggered after 'nigthly'" in message
    assert saved() == {}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('cron: "0 2 * * *"', 'cron: "0 2 * *"', "suiro.yaml:8: deployment nightly: the cron expression"),
        (
            "timezone: Asia/Tokyo",
            "timezone: Asia/Tokio",
            "suiro.yaml:9: deployment nightly: unknown time zone",
        ),
        (
            "{threshold: 0.95}",
            "{threshold: high}",
            "suiro.yaml:7: deployment nightly: pipeline train: parameter threshold",
        ),
        (
            "max_active_runs: 1",
            "max_active_runs: 1\n    sla: soon",
            "suiro.yaml:11: deployment nightly: its sla",
        ),
    ],
)
def test_a_bad_value_in_a_project_names_the_line_of_its_key(folder, old, new, expected):
    text = textwrap.dedent(PROJECT).lstrip().replace(old, new)
    (folder / "suiro.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DeploymentError) as caught:
        deployments.deploy_project()
    assert str(caught.value).startswith(expected), str(caught.value)


def test_a_bad_value_given_in_python_names_the_keyword_not_a_file_index(folder):
    with pytest.raises(DeploymentError) as caught:
        deployments.deploy(pipeline="flows.py:train", name="bad name", cron="@daily")
    assert str(caught.value).startswith("name='bad name' is not valid; give a name of letters"), caught.value


def test_a_project_without_deployments_is_refused(folder):
    (folder / "suiro.yaml").write_text("notify: {email: [a@b.c]}\n", encoding="utf-8")
    with pytest.raises(DeploymentError, match=r"suiro\.yaml declares no deployments; add"):
        deployments.deploy_project()


def test_a_saved_deployment_runs_as_the_scheduler_will_run_it(folder):
    """The row is the contract with the scheduler: its target, params and a tick's params make a run."""
    from suiro import api
    from suiro.runinfo import Scheduled

    deployments.deploy(
        name="ingest", pipeline="flows.py:ingest", executor="sequential", triggers=[{"on_file": "in/*.csv"}]
    )
    deployments.deploy(name="nightly", pipeline="flows.py:train", cron="@daily", overrides=["threshold=0.5"])
    found = saved()
    tick_params = {"path": str(folder / "in" / "a.csv")}
    scheduled = Scheduled(deployment="ingest", logical_time=1_000.0, trigger="file")
    ran = api.run(found["ingest"].target, {**found["ingest"].params, **tick_params},
                  executor=found["ingest"].executor, scheduled=scheduled, environ={})  # fmt: skip
    assert ran.ok and ran.output == 0.5
    nightly = api.run(found["nightly"].target, found["nightly"].params, executor="sequential", environ={})
    assert nightly.ok and nightly.output == 0.5


GRID = """
from dataclasses import dataclass
from datetime import date
from suiro import pipeline, task

@dataclass
class Grid:
    depth: int = 2
    width: int = 8

@task
def size(grid: Grid, day: date) -> str:
    return f"{grid.depth}x{grid.width} on {day.isoformat()}"

@pipeline
def tune(grid: Grid = Grid(), day: date = date(2026, 1, 1)):
    return size(grid, day)
"""


def test_structured_parameter_values_are_stored_as_json_and_run_again(folder):
    from suiro import api

    (folder / "grid.py").write_text(textwrap.dedent(GRID), encoding="utf-8")
    deployments.deploy(name="tune", pipeline="grid.py:tune", overrides=["grid.depth=3", "day=2026-11-30"])
    row = saved()["tune"]
    assert row.params == {"grid": {"depth": 3, "width": 8}, "day": "2026-11-30"}
    ran = api.run(row.target, row.params, executor="sequential", environ={})
    assert ran.ok and ran.output == "3x8 on 2026-11-30"


def test_listing_and_details_show_the_latest_run_and_its_logical_time_in_the_zone(folder):
    from suiro import api
    from suiro.runinfo import Scheduled

    deployments.deploy(name="nightly", pipeline="flows.py:train", cron="0 2 * * *", timezone="Asia/Tokyo")
    tick = datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp()
    scheduled = Scheduled(deployment="nightly", logical_time=tick, timezone="Asia/Tokyo")
    done = api.run("flows.py:train", executor="sequential", scheduled=scheduled, environ={})
    (listed,) = deployments.listing()
    assert listed["last_run"]["id"] == done.run_id and listed["last_run"]["state"] == "success"
    assert [t["local"][11:] for t in listed["next"]] == ["02:00 JST"] * 3
    shown = deployments.details("nightly")
    assert shown["runs"][0]["logical"] == "2026-11-30 02:00 JST" and shown["queued"] == 0
    assert shown["schedule"] == "at 02:00 every day (Asia/Tokyo)"


def test_check_only_validates_everything_and_saves_nothing(folder):
    (folder / "suiro.yaml").write_text(textwrap.dedent(PROJECT).lstrip(), encoding="utf-8")
    done = deployments.deploy_project(save=False)
    assert [(d.row.name, d.new) for d in done] == [("nightly", True), ("on-data", True)]
    assert len(done[0].next_times) == 3 and saved() == {}
    one = deployments.deploy(name="x", pipeline="flows.py:train", cron="@daily", save=False)
    assert one.row.schedule == {"cron": "0 0 * * *", "timezone": "UTC"} and saved() == {}
    with pytest.raises(DeploymentError, match="thresold"):
        deployments.deploy(name="x", pipeline="flows.py:train", params={"thresold": 1}, save=False)
