"""Logical time as data: ``suiro.logical.*`` parameter defaults and the cache rule.

A daily run of 2026-11-30 processes that day's data: a parameter defaulting to ``suiro.logical.ds``
gets "2026-11-30" (in the deployment's zone), so its cache key differs from the next day's. A task
that reads ``suiro.context().logical_time`` (or the interval) itself is never reused across logical
times either: the logical time is part of its cache key.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import suiro
from suiro import logical, pipeline, task
from suiro.clock import ManualClock
from suiro.config import resolve_params
from suiro.errors import DefinitionError
from suiro.runinfo import Scheduled
from suiro.states import TaskState

TOKYO = ZoneInfo("Asia/Tokyo")


def day(d: int) -> Scheduled:
    """The nightly run at 02:00 Tokyo time on 2026-11-d, covering the day before."""
    tick = dt.datetime(2026, 11, d, 2, 0, tzinfo=TOKYO).timestamp()
    return Scheduled(
        deployment="nightly",
        logical_time=tick,
        interval_start=tick - 86400,
        interval_end=tick,
        timezone="Asia/Tokyo",
    )


# -- markers ---------------------------------------------------------------------------------------


@pipeline
def marked(
    ds: str = logical.ds,
    date: dt.date = logical.date,
    time: dt.datetime = logical.time,
    start: dt.datetime = logical.interval_start,
    end: dt.datetime = logical.interval_end,
    loose=logical.ds,
):
    return ds


def test_markers_resolve_to_the_runs_logical_time_in_the_deployments_zone():
    # 2026-11-30 02:00 in Tokyo is still 29 November in UTC: the zone decides the day.
    values = resolve_params(marked.params, pipeline="marked", environ={}, scheduled=day(30))
    assert values["ds"] == values["loose"] == "2026-11-30"
    assert values["date"] == dt.date(2026, 11, 30)
    assert values["time"] == dt.datetime(2026, 11, 30, 2, 0, tzinfo=TOKYO)
    assert values["time"].utcoffset() == dt.timedelta(hours=9)
    assert values["start"] == dt.datetime(2026, 11, 29, 2, 0, tzinfo=TOKYO)
    assert values["end"] == values["time"]


def test_a_value_given_for_a_marked_parameter_wins():
    values = resolve_params(
        marked.params, pipeline="marked", environ={}, overrides=["ds=2026-01-01"], scheduled=day(30)
    )
    assert values["ds"] == "2026-01-01"
    assert values["date"] == dt.date(2026, 11, 30)


def test_a_run_started_by_hand_gets_now_in_local_time():
    with suiro.clock.use(ManualClock(start=dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC).timestamp())):
        values = resolve_params(marked.params, pipeline="marked", environ={})
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    assert values["time"] == now and values["time"].tzinfo is not None
    assert values["time"].utcoffset() == now.astimezone().utcoffset()  # the machine's zone
    assert values["ds"] == now.astimezone().date().isoformat()
    assert values["start"] == values["end"] == values["time"]


def test_a_first_tick_without_a_previous_one_has_an_empty_interval():
    first = Scheduled(deployment="n", logical_time=86400.0, interval_end=86400.0)
    values = resolve_params(marked.params, pipeline="marked", environ={}, scheduled=first)
    assert values["start"] == values["end"] == dt.datetime(1970, 1, 2, tzinfo=dt.UTC)


def test_markers_print_as_what_they_stand_for():
    assert repr(logical.ds) == "suiro.logical.ds"
    assert {m.name for m in logical.MARKERS} == {"date", "ds", "time", "interval_start", "interval_end"}


def test_a_marker_default_that_does_not_fit_its_annotation_is_refused_at_definition():
    with pytest.raises(DefinitionError, match=r"parameter n has default suiro.logical.ds \(text such as"):

        @pipeline
        def wrong(n: int = logical.ds):
            return n

    with pytest.raises(DefinitionError, match=r"parameter when has default suiro.logical.time"):

        @pipeline
        def wrong_too(when: dt.date = logical.time):
            return when


# -- through a run, and the cache rule -------------------------------------------------------------

RAN: list[str] = []


@task
def load(ds: str) -> str:
    RAN.append(f"load {ds}")
    return f"rows of {ds}"


@task
def stamp() -> str:
    ctx = suiro.context()
    RAN.append("stamp")
    return f"made for {ctx.logical_time:%Y-%m-%d}" if ctx.logical_time else "made by hand"


@task
def constant() -> int:
    RAN.append("constant")
    return 42


@pipeline
def nightly(ds: str = logical.ds):
    return load(ds), stamp(), constant()


def run(tmp_path, scheduled):
    RAN.clear()
    result = suiro.run(nightly, scheduled=scheduled, home=tmp_path)
    assert result.ok
    return result


def test_a_daily_run_processes_its_days_data_and_reuses_only_that_days_outputs(tmp_path):
    first = run(tmp_path, day(29))
    assert first.params == {"ds": "2026-11-29"}
    assert first.output == ("rows of 2026-11-29", "made for 2026-11-29", 42)
    assert sorted(RAN) == ["constant", "load 2026-11-29", "stamp"]
    # The same logical time again: everything is reused.
    again = run(tmp_path, day(29))
    assert RAN == [] and again.output == first.output
    # The next day: the parameter changed and so did the logical time stamp() reads; constant()
    # reads neither and is reused.
    nxt = run(tmp_path, day(30))
    assert nxt.output == ("rows of 2026-11-30", "made for 2026-11-30", 42)
    assert sorted(RAN) == ["load 2026-11-30", "stamp"]
    assert nxt.tasks["constant"].state == TaskState.CACHED
    assert nxt.tasks["stamp"].state == TaskState.SUCCESS


def test_a_task_reading_the_logical_time_is_not_reused_by_a_run_started_by_hand(tmp_path):
    run(tmp_path, day(30))
    by_hand = suiro.run(nightly, params={"ds": "2026-11-30"}, home=tmp_path)
    assert by_hand.output == ("rows of 2026-11-30", "made by hand", 42)
    assert by_hand.tasks["stamp"].state == TaskState.SUCCESS
    assert by_hand.tasks["load"].state == TaskState.CACHED


@task
def breaks(fail: bool) -> str:
    if fail:
        raise RuntimeError("planned")
    return "fine"


@pipeline
def fragile(ds: str = logical.ds, fail: bool = False):
    return stamp(), breaks(fail), load(ds)


def test_a_resume_of_a_scheduled_run_reuses_what_that_tick_computed(tmp_path):
    failed = suiro.run(fragile, params={"fail": True}, scheduled=day(30), home=tmp_path)
    assert not failed.ok
    RAN.clear()
    resumed = suiro.resume(failed.run_id, pipeline=fragile, params={"fail": False}, home=tmp_path)
    assert resumed.ok and resumed.params["ds"] == "2026-11-30"
    assert resumed.output == ("made for 2026-11-30", "fine", "rows of 2026-11-30")
    assert RAN == []  # stamp and load were reused: same tick, same keys


@task
def window(start: dt.datetime, end: dt.datetime, fail: bool) -> float:
    RAN.append("window")
    if fail:
        raise RuntimeError("planned")
    return (end - start).total_seconds()


@pipeline
def hourly(
    start: dt.datetime = logical.interval_start, end: dt.datetime = logical.interval_end, fail: bool = False
):
    return window(start, end, fail), stamp()


def test_datetime_parameters_are_recorded_readably_and_a_resume_keeps_them(tmp_path):
    failed = suiro.run(hourly, params={"fail": True}, scheduled=day(30), home=tmp_path)
    assert not failed.ok
    shown = suiro.history.show(failed.run_id, home=tmp_path)["params"]
    assert shown["start"] == "2026-11-29T02:00:00+09:00"
    RAN.clear()
    resumed = suiro.resume(failed.run_id, pipeline=hourly, params={"fail": False}, home=tmp_path)
    assert resumed.ok and resumed.output == (86400.0, "made for 2026-11-30")
    assert resumed.params["start"] == dt.datetime(2026, 11, 29, 2, 0, tzinfo=TOKYO)
    assert RAN == ["window"]  # stamp() was reused: same tick
