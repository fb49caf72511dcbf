"""The automation parts together, as a user drives them from the README: a ``suiro.yaml`` whose
deployment runs once per new file (its path as a parameter), mails the project's address when a
run fails, and a nightly one that is backfilled for a week — through the real ``suiro`` command,
the real scheduler and its child processes, and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from pipelines.cli_harness import Cli
from pipelines.smtp_stub import SmtpServer

INGEST = """
from pathlib import Path

from suiro import pipeline, task


@task
def count_rows(path: str) -> int:
    rows = Path(path).read_text().splitlines()
    if not rows:
        raise ValueError(f"{Path(path).name} is empty: nothing to ingest")
    return len(rows)


@pipeline
def ingest(path: str = "data/none.csv"):
    return count_rows(path)


@pipeline
def nightly(day: str = "none"):
    return count_rows("data/sample.csv")
"""

PROJECT = """
notify:
  email: [ops@example.com]
smtp:
  host: 127.0.0.1
  port: {port}
deployments:
  - name: on-data
    pipeline: ingest.py:ingest
    triggers:
      - on_file: incoming/*.csv
        param: path
  - name: nightly
    pipeline: ingest.py:nightly
    cron: "0 2 * * *"
    timezone: Asia/Tokyo
"""


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


def finished_runs(cli: Cli, expected: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        runs = [r for r in cli.json("runs") if r["state"] != "running"]
        if len(runs) >= expected or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def test_new_files_each_start_one_run_a_failed_one_mails_the_project_and_a_week_is_backfilled(tmp_path, smtp):
    cli = Cli(tmp_path)
    cli.write("ingest.py", INGEST)
    cli.write("suiro.yaml", PROJECT.format(port=smtp.port))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sample.csv").write_text("a\nb\nc\n")
    (tmp_path / "incoming").mkdir()
    assert "deployed on-data" in cli.ok("deploy").stdout

    (tmp_path / "incoming" / "good.csv").write_text("x\ny\n")
    (tmp_path / "incoming" / "empty.csv").write_text("")
    assert "created 2 run(s), launched 2" in cli.ok("scheduler", "--once").stdout
    runs = finished_runs(cli, 2)
    by_path = {cli.json("show", r["id"])["params"]["path"].rsplit("/", 1)[-1]: r for r in runs}
    assert {r["deployment"] for r in runs} == {"on-data"} and {r["trigger"] for r in runs} == {"file"}
    assert {name: r["state"] for name, r in by_path.items()} == {"good.csv": "success", "empty.csv": "failed"}

    (mail,) = smtp.mailbox.messages  # the failed run only, from its own process, by the project's settings
    failed = by_path["empty.csv"]["id"]
    assert mail["To"] == "ops@example.com" and failed in mail["Subject"]
    assert "empty.csv is empty: nothing to ingest" in mail.get_content()

    assert "created 0 run(s)" in cli.ok("scheduler", "--once").stdout, "each file starts one run, once"

    week = cli.ok("backfill", "nightly", "--start", "2026-11-01", "--end", "2026-11-07")
    assert week.returncode == 0, str(week)
    nightly = [r for r in cli.json("runs") if r["deployment"] == "nightly"]
    assert len(nightly) == 7 and {r["state"] for r in nightly} == {"success"}
    assert len({r["logical_time"] for r in nightly}) == 7
    again = cli.ok("backfill", "nightly", "--start", "2026-11-01", "--end", "2026-11-07").stdout
    assert "7 tick(s) in range, 0 new" in again and len(cli.json("runs", "--deployment", "nightly")) == 7
