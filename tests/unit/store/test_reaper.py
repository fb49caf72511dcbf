"""The reaper records crash verdicts and announces nothing; its caller sends each alert, once.

A run recorded ``running`` whose process is gone is declared ``crashed`` by ``reaper.reap``,
which returns the verdict (run, pipeline, reason) and posts nothing, even with a webhook
configured: the store imports no alerting. ``suiro.crashes.reap`` is what callers use; it
sends the alert for each verdict it won, and a verdict is won once.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pipelines.webhook_stub import Hook

from suiro import crashes, pipeline, run, task
from suiro.store import reaper
from suiro.store.db import Database
from suiro.store.reaper import Crash


@task
def one() -> int:
    return 1


@pipeline
def short():
    return one()


def _dead_run() -> str:
    """A run recorded as running whose process has exited; its id."""
    result = run(short, executor="sequential")
    proc = subprocess.Popen(["true"])
    proc.wait()
    with Database.open().write() as tx:
        tx.execute(
            "UPDATE runs SET state = 'running', ended = NULL, pid = :pid WHERE id = :id",
            {"pid": proc.pid, "id": result.run_id},
        )
    return result.run_id


@pytest.fixture
def hook(monkeypatch):
    stub = Hook([200])
    monkeypatch.setenv("SUIRO_ALERT_WEBHOOK", stub.url)
    yield stub
    stub.close()


def _state(run_id: str) -> str:
    return Database.open().query("SELECT state FROM runs WHERE id = :id", {"id": run_id})[0]["state"]


def test_the_reaper_returns_its_verdicts_and_sends_no_alert(suiro_home: Path, hook):
    run_id = _dead_run()
    db = Database.open()
    (crash,) = reaper.reap(db)
    assert isinstance(crash, Crash) and (crash.run_id, crash.pipeline) == (run_id, "short")
    assert crash.reason.startswith("its process ") and "is gone" in crash.reason, crash.reason
    assert _state(run_id) == "crashed"
    assert hook.requests == [], "the store announces nothing"
    assert reaper.reap(db) == [] and crashes.reap(db) == [], "the verdict is made once"
    assert hook.requests == []


def test_the_callers_reap_announces_each_verdict_it_won_once(suiro_home: Path, hook):
    run_id = _dead_run()
    db = Database.open()
    assert [c.run_id for c in crashes.reap(db)] == [run_id]
    assert crashes.reap(db) == []
    (alert,) = hook.requests
    assert alert["key"] == f"suiro-run-{run_id}-crashed"
    assert alert["body"]["suiro"]["state"] == "crashed" and alert["body"]["suiro"]["run_id"] == run_id
    assert f"suiro run {run_id} of short crashed: its process" in alert["body"]["text"]
