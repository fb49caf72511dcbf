"""A run a deployment started knows its deployment, logical time and data interval: its tasks see
them (in the deployment's zone), its record keeps them, and a resume of it stands for the same tick."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import suiro
from suiro import pipeline, task
from suiro.runinfo import Scheduled
from suiro.store import queries
from suiro.store.home import Store

TOKYO = ZoneInfo("Asia/Tokyo")
TICK = datetime(2026, 12, 1, 2, 0, tzinfo=TOKYO).timestamp()
PREVIOUS = datetime(2026, 11, 30, 2, 0, tzinfo=TOKYO).timestamp()
NIGHTLY = Scheduled(
    deployment="nightly", logical_time=TICK, interval_start=PREVIOUS, interval_end=TICK, timezone="Asia/Tokyo"
)


@task(cache=False)
def look(fail: bool) -> tuple:
    ctx = suiro.context()
    seen = (ctx.deployment, ctx.logical_time, ctx.interval_start, ctx.interval_end)
    if fail:
        raise RuntimeError("planned")
    return seen


@pipeline
def nightly(fail: bool = False):
    return look(fail)


@pytest.mark.parametrize("executor", ["sequential", "processes"])
def test_tasks_see_the_logical_time_and_interval_in_the_deployments_zone(tmp_path, executor):
    result = suiro.run(nightly, scheduled=NIGHTLY, executor=executor, home=tmp_path)
    assert result.ok
    deployment, logical, start, end = result.output
    assert deployment == "nightly"
    assert logical == datetime(2026, 12, 1, 2, 0, tzinfo=TOKYO)
    assert logical.utcoffset().total_seconds() == 9 * 3600
    assert start.date().isoformat() == "2026-11-30" and end == logical
    run = queries.get_run(Store(tmp_path).reader, result.run_id)
    columns = ("deployment", "logical_time", "interval_start", "trigger", "timezone")
    assert tuple(run[c] for c in columns) == (
        "nightly",
        TICK,
        PREVIOUS,
        "schedule",
        "Asia/Tokyo",
    )


def test_a_run_started_by_hand_has_no_logical_time_and_a_resume_keeps_the_tick(tmp_path):
    assert suiro.run(nightly, home=tmp_path).output == (None, None, None, None)
    failed = suiro.run(nightly, params={"fail": True}, scheduled=NIGHTLY, home=tmp_path)
    assert not failed.ok
    resumed = suiro.resume(failed.run_id, pipeline=nightly, params={"fail": False}, home=tmp_path)
    assert resumed.ok and resumed.output[0] == "nightly" and resumed.output[1].timestamp() == TICK
    run = queries.get_run(Store(tmp_path).reader, resumed.run_id)
    assert (run["deployment"], run["logical_time"], run["parent_run_id"]) == ("nightly", TICK, failed.run_id)
