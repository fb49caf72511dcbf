"""Deploying through the real CLI: the built-in pipeline nightly, suiro.yaml, and every bad input.

The user's path from the README: ``suiro deploy suiro.ml.pipeline:training --name nightly --cron
... --tz Asia/Tokyo --set threshold=0.95``, then ``suiro deployments`` (next three fire times),
``suiro schedule preview nightly --next 10`` (local and UTC), pause, resume, show, delete. A bad
input is one sentence on stderr, exit code 2, and nothing saved.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.pipelines.cli_harness import Cli

FLOWS = """
from suiro import pipeline, task

@task
def score(threshold: float, path: str) -> float:
    return threshold

@pipeline
def train(threshold: float = 0.9, path: str = "data.csv"):
    return score(threshold, path)
"""

PROJECT = """
deployments:
  - name: nightly
    pipeline: flows.py:train
    params: {threshold: 0.95}
    cron: "30 2 * * *"
    timezone: Europe/Berlin
    catchup: all
    max_catchup_runs: 3
  - name: on-data
    pipeline: flows.py:train
    triggers:
      - on_file: incoming/*.csv
      - after: nightly
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path)
    cli.write("flows.py", FLOWS)
    return cli


def saved(cli: Cli) -> list[str]:
    conn = sqlite3.connect(cli.home / "suiro.db")
    try:
        return [name for (name,) in conn.execute("SELECT name FROM deployments ORDER BY name")]
    finally:
        conn.close()


def test_deploy_the_builtin_pipeline_nightly_then_list_and_preview_its_fire_times(cli):
    done = cli.ok(
        "deploy", "suiro.ml.pipeline:training", "--name", "nightly", "--cron", "0 2 * * *",
        "--tz", "Asia/Tokyo", "--set", "threshold=0.95",
    )  # fmt: skip
    assert "deployed nightly: suiro.ml.pipeline:training, at 02:00 every day (Asia/Tokyo)" in done.stdout
    assert "suiro scheduler" in done.stdout

    (listed,) = cli.json("deployments")
    assert (listed["name"], listed["pipeline"], listed["paused"]) == ("nightly", "training", False)
    tokyo = [datetime.fromtimestamp(t["at"], ZoneInfo("Asia/Tokyo")) for t in listed["next"]]
    assert len(tokyo) == 3 and all((d.hour, d.minute) == (2, 0) for d in tokyo)
    assert tokyo[1] - tokyo[0] == timedelta(days=1) and tokyo[0] > datetime.now(ZoneInfo("Asia/Tokyo"))
    table = cli.ok("deployments").stdout
    assert "nightly" in table and table.count("02:00 JST") == 3

    preview = cli.ok("schedule", "preview", "nightly", "--next", "10").stdout
    assert preview.count("02:00 JST") == 10 and preview.count("17:00 UTC") == 10


def test_pause_resume_show_and_delete_a_deployment(cli):
    cli.ok("deploy", "flows.py:train", "--name", "nightly", "--cron", "@daily", "--set", "threshold=0.95")
    cli.ok("deployments", "pause", "nightly")
    assert cli.json("deployments")[0]["paused"] is True
    assert cli.json("deployments")[0]["next"] == [], "a paused deployment fires at none of them"
    paused = cli.ok("deployments", "show", "nightly").stdout
    assert "next: none while paused (suiro deployments resume nightly)" in paused
    cli.ok("deployments", "resume", "nightly")
    assert len(cli.json("deployments")[0]["next"]) == 3
    shown = cli.json("deployments", "show", "nightly")
    assert shown["paused"] is False and shown["params"] == {"threshold": 0.95} and shown["runs"] == []
    assert shown["target"] == f"{cli.root.resolve() / 'flows.py'}:train"
    cli.ok("deployments", "delete", "nightly")
    assert saved(cli) == []
    line = cli.error(2, "deployments", "show", "nightly")
    assert line == "error: no deployment named 'nightly'; deploy one with `suiro deploy`."


def test_suiro_deploy_reads_suiro_yaml_with_two_deployments_and_triggers(cli):
    cli.write("suiro.yaml", PROJECT)
    checked = cli.ok("deploy", "--check").stdout  # what CI runs: everything checked, nothing saved
    assert "would deploy nightly:" in checked and "nothing was saved" in checked and saved(cli) == []
    done = cli.ok("deploy").stdout
    assert "deployed nightly:" in done and "deployed on-data:" in done
    assert saved(cli) == ["nightly", "on-data"]
    shown = cli.ok("deployments", "show", "on-data").stdout
    assert f"trigger: on file {cli.root.resolve() / 'incoming' / '*.csv'} (as path)" in shown
    assert "trigger: after nightly succeeds" in shown
    nightly = cli.json("deployments", "show", "nightly")
    assert (nightly["catchup"], nightly["max_catchup_runs"], nightly["timezone"]) == (
        "all",
        3,
        "Europe/Berlin",
    )
    again = cli.ok("deploy").stdout  # deploying the same file again updates, never duplicates
    assert "updated nightly:" in again and saved(cli) == ["nightly", "on-data"]


BAD_YAML = {
    "unknown-key": (
        "deployments:\n  - name: nightly\n    pipeline: flows.py:train\n    cronn: '@daily'\n",
        "error: suiro.yaml:4: deployment nightly has an unknown key 'cronn' (did you mean \"cron\"?)",
    ),
    "python-tag": (
        "deployments:\n  - name: x\n    pipeline: !!python/object/apply:os.system ['touch hacked']\n",
        "error: suiro.yaml:3: the tag !!python/object/apply:os.system is refused",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_a_bad_suiro_yaml_is_one_sentence_with_its_line_and_saves_nothing(cli, case):
    text, expected = BAD_YAML[case]
    cli.write("suiro.yaml", text)
    line = cli.error(2, "deploy")
    assert line.startswith(expected), line
    assert saved(cli) == [] and not (cli.root / "hacked").exists()


BAD_FLAGS = {
    "missing-pipeline": (["missing.py:train", "--cron", "@daily"], "pipeline file missing.py does not exist"),
    "unknown-parameter": (
        ["flows.py:train", "--cron", "@daily", "--set", "thresold=1"],
        "deployment train: pipeline train has no parameter 'thresold' (did you mean \"threshold\"?)",
    ),
    "bad-value": (["flows.py:train", "--set", "threshold=high"], "parameter threshold = 'high' from --set"),
    "bad-cron": (
        ["flows.py:train", "--cron", "0 2 * *"],
        "the cron expression '0 2 * *' has 4 fields, not 5",
    ),
    "unknown-tz": (
        ["flows.py:train", "--cron", "@daily", "--tz", "Asia/Tokio"],
        "unknown time zone 'Asia/Tokio'",
    ),
    "interval-zero": (["flows.py:train", "--every", "0h"], "the interval '0h' is not positive"),
    "max-active-zero": (
        ["flows.py:train", "--cron", "@daily", "--max-active", "0"],
        "deployment train: --max-active 0 is not valid; give a value greater than or equal to 1",
    ),
    "bad-catchup": (
        ["flows.py:train", "--cron", "@daily", "--catchup", "some"],
        "--catchup 'some' is not valid",
    ),
    "bad-name": (
        ["flows.py:train", "--name", "bad name", "--cron", "@daily"],
        "error: --name 'bad name' is not valid; give a name of letters, digits, '.', '_' or '-'",
    ),
    "no-schedule-anywhere": (
        ["flows.py"],
        "flows.py has no pipeline with schedule= (pipelines there: train)",
    ),
    "option-without-pipeline": (["--max-active", "2"], "error: --max-active needs a pipeline; give FILE.py:"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_a_bad_deploy_is_one_sentence_exit_2_and_saves_nothing(cli, case):
    args, expected = BAD_FLAGS[case]
    line = cli.error(2, "deploy", *args)
    assert expected in line and line.endswith("."), line
    assert "Traceback" not in line and saved(cli) == []


def test_preview_checks_an_expression_before_deploying_and_names_a_misspelt_deployment(cli):
    shown = cli.json("schedule", "preview", "30 2 * * *", "--tz", "America/New_York", "--next", "3")
    assert shown["deployment"] is None and shown["timezone"] == "America/New_York"
    assert [t["local"][11:] for t in shown["times"]] == ["02:30 EST"] * 3
    line = cli.error(2, "schedule", "preview", "nigthly")
    assert line.startswith("error: no deployment named 'nigthly', and it is not a schedule either")


def test_the_readme_suiro_yaml_deploys_as_written(tmp_path, monkeypatch):
    from suiro import deployments

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    text = re.search(r"```yaml\n# suiro\.yaml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "suiro.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    done = {d.row.name: d.row for d in deployments.deploy_project()}
    assert done["nightly"].params == {"threshold": 0.95} and done["nightly"].max_active_runs == 1
    pattern = str(tmp_path.resolve() / "data" / "incoming" / "*.csv")
    assert done["on-new-data"].triggers == [
        {"kind": "file", "pattern": pattern, "param": "source"},
        {"kind": "after", "deployment": "nightly", "state": "success"},
    ]
