"""Schedules: parsing, fire instants, data intervals, records and the catch-up policies of ``due``.

Times are built from wall-clock text in a zone (``at("2026-03-08 03:00", NY)``) so each expected
instant reads as people would check it; DST examples across both transitions are in
tests/reliability/test_rel_schedule_dst.py (R8).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from suiro.errors import DefinitionError, ScheduleError
from suiro.runinfo import Tick
from suiro.schedules import Schedule, due, format_duration, parse_duration

HOUR, DAY = 3600.0, 86400.0


def at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def local(t: float, zone: str) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M%z")


# -- parse -------------------------------------------------------------------------------------------


def test_a_cron_expression_parses_with_its_zone_and_whitespace_normalised():
    s = Schedule.parse("  30   2 * * * ", timezone="Asia/Tokyo")
    assert (s.cron, s.every, s.timezone, s.start, s.end) == ("30 2 * * *", None, "Asia/Tokyo", None, None)


@pytest.mark.parametrize(
    ("alias", "cron"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
    ],
)
def test_cron_aliases_expand_to_their_five_fields(alias, cron):
    assert Schedule.parse(alias).cron == cron


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("every 6h", 6 * HOUR), ("every 30m", 1800.0), ("every 1d", DAY), ("every 1h30m", 5400.0)],
)
def test_intervals_parse_to_seconds(text, seconds):
    s = Schedule.parse(text)
    assert (s.cron, s.every) == (None, seconds)


def test_durations_accept_words_numbers_and_timedeltas_and_print_back():
    assert parse_duration("90 minutes") == 5400.0
    assert parse_duration("2 hours") == 7200.0
    assert parse_duration(45) == 45.0
    assert parse_duration(timedelta(days=1)) == DAY
    assert format_duration(5400) == "1h30m"
    assert format_duration(7 * DAY) == "1w"


def test_a_mapping_parses_with_start_and_end_in_the_schedules_zone():
    s = Schedule.parse(
        {"cron": "0 2 * * *", "timezone": "Europe/Berlin", "start": "2026-11-01", "end": "2026-11-30T02:00"}
    )
    assert s.start == at("2026-11-01 00:00", "Europe/Berlin")
    assert s.end == at("2026-11-30 02:00", "Europe/Berlin")
    # An aware datetime and epoch seconds are taken as they are; keywords override the mapping.
    aware = datetime(2026, 11, 1, tzinfo=ZoneInfo("UTC"))
    assert Schedule.parse({"every": "6h"}, start=aware).start == aware.timestamp()
    assert Schedule.parse("every 6h", start=1000.0, timezone="Asia/Tokyo").timezone == "Asia/Tokyo"


def test_parsing_a_schedule_again_keeps_it_and_applies_overrides():
    s = Schedule.parse("0 2 * * *", timezone="Asia/Tokyo")
    assert Schedule.parse(s) == s
    assert Schedule.parse(s, timezone="UTC").timezone == "UTC"


def test_schedule_error_is_a_definition_error_and_a_value_error():
    with pytest.raises(ScheduleError) as caught:
        Schedule.parse("not a cron at all")
    assert isinstance(caught.value, DefinitionError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.spec == "not a cron at all"


# -- ticks ------------------------------------------------------------------------------------------


def test_cron_ticks_are_the_fire_instants_in_the_half_open_range():
    s = Schedule.parse("0 2 * * *", timezone="Asia/Tokyo")
    after, until = at("2026-11-01 02:00", "Asia/Tokyo"), at("2026-11-04 02:00", "Asia/Tokyo")
    assert [local(t, "Asia/Tokyo") for t in s.ticks(after, until)] == [
        "2026-11-02 02:00+0900",
        "2026-11-03 02:00+0900",
        "2026-11-04 02:00+0900",
    ]


def test_start_and_end_bound_the_ticks_inclusively():
    s = Schedule.parse("0 0 * * *", start="2026-11-02", end="2026-11-04")
    got = list(s.ticks(at("2026-10-01 00:00"), at("2026-12-01 00:00")))
    assert got == [at("2026-11-02 00:00"), at("2026-11-03 00:00"), at("2026-11-04 00:00")]
    assert s.next_after(at("2026-11-04 00:00")) is None
    assert s.previous(at("2026-11-01 12:00")) is None
    assert s.previous(at("2026-12-25 12:00")) == at("2026-11-04 00:00")


def test_next_after_and_previous_bracket_an_instant():
    s = Schedule.parse("*/15 * * * *", timezone="Europe/Berlin")
    t = at("2026-11-01 10:07", "Europe/Berlin")
    assert s.next_after(t) == at("2026-11-01 10:15", "Europe/Berlin")
    assert s.previous(t) == at("2026-11-01 10:00", "Europe/Berlin")
    on_tick = at("2026-11-01 10:15", "Europe/Berlin")
    assert s.previous(on_tick) == on_tick
    assert s.next_after(on_tick) == at("2026-11-01 10:30", "Europe/Berlin")


def test_interval_ticks_are_exact_elapsed_time_from_the_anchor():
    s = Schedule.parse({"every": "6h", "anchor": "2026-11-01T01:00"})
    got = list(s.ticks(at("2026-11-01 00:00"), at("2026-11-02 00:00")))
    assert got == [at("2026-11-01 01:00") + k * 6 * HOUR for k in range(4)]
    # Without an anchor the start anchors it; without either, local midnight of 1 January 1970.
    started = Schedule.parse("every 1d", start="2026-11-01T05:00")
    assert started.next_after(0) == at("2026-11-01 05:00")
    tokyo = Schedule.parse("every 1d", timezone="Asia/Tokyo")
    assert (
        local(tokyo.next_after(at("2026-11-01 12:00", "Asia/Tokyo")), "Asia/Tokyo") == "2026-11-02 00:00+0900"
    )


def test_interval_previous_and_data_interval():
    s = Schedule.parse({"every": "1h", "anchor": 0})
    assert s.previous(10 * HOUR + 5) == 10 * HOUR
    assert s.previous(10 * HOUR) == 10 * HOUR
    assert s.interval(10 * HOUR) == (9 * HOUR, 10 * HOUR)


def test_the_data_interval_runs_from_the_previous_tick_to_the_tick():
    s = Schedule.parse("0 2 * * *", timezone="Asia/Tokyo")
    tick = at("2026-11-30 02:00", "Asia/Tokyo")
    assert s.interval(tick) == (at("2026-11-29 02:00", "Asia/Tokyo"), tick)
    # start does not shorten the first interval: a daily run always covers a day.
    bounded = Schedule.parse("0 2 * * *", timezone="Asia/Tokyo", start="2026-11-30")
    assert bounded.interval(tick) == (at("2026-11-29 02:00", "Asia/Tokyo"), tick)
    # A manual trigger between ticks covers from the latest tick to the moment it was asked.
    asked = at("2026-11-30 10:37", "Asia/Tokyo")
    assert s.interval(asked) == (tick, asked)


def test_tick_makes_a_runinfo_tick_with_its_interval():
    s = Schedule.parse("@daily")
    t = at("2026-11-30 00:00")
    assert s.tick(t) == Tick(logical_time=t, interval_start=t - DAY, interval_end=t, trigger="schedule")
    assert s.tick(t, trigger="backfill").trigger == "backfill"


def test_tick_range_gives_the_same_ticks_as_tick_one_by_one():
    s = Schedule.parse("0 */2 * * *", timezone="America/New_York")
    after, until = at("2026-03-07 00:00", "America/New_York"), at("2026-03-10 00:00", "America/New_York")
    ranged = list(s.tick_range(after, until, trigger="backfill"))
    assert ranged == [s.tick(t, trigger="backfill") for t in s.ticks(after, until)]
    assert len(ranged) == 3 * 12  # the 02:00 of 8 March fires at 03:00 (see the DST tests)


# -- records and text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "0 2 * * *",
        {"cron": "30 2 * * 1-5", "timezone": "Europe/Berlin", "start": "2026-01-01", "end": "2027-01-01"},
        {"every": "6h", "anchor": 3600, "timezone": "Asia/Tokyo"},
    ],
)
def test_to_json_round_trips(spec):
    s = Schedule.parse(spec)
    data = s.to_json()
    assert all(value is not None for value in data.values())
    assert Schedule.from_json(data) == s


def test_describe_says_when_in_which_zone():
    assert Schedule.parse("0 2 * * *", timezone="Asia/Tokyo").describe() == "at 02:00 every day (Asia/Tokyo)"
    assert Schedule.parse("every 6h").describe() == "every 6h (UTC)"
    bounded = Schedule.parse("@hourly", start="2026-11-01", end="2026-12-01", timezone="Europe/Berlin")
    assert bounded.describe() == (
        "at the start of every hour, starting 2026-11-01 00:00, until 2026-12-01 00:00 (Europe/Berlin)"
    )


# -- due: the catch-up policies -----------------------------------------------------------------

DAILY = Schedule.parse("0 2 * * *", timezone="Asia/Tokyo")
T0 = at("2026-11-01 02:00", "Asia/Tokyo")  # a tick


def test_latest_after_downtime_creates_one_run_for_the_latest_missed_tick():
    ticks, dropped = due(DAILY, cursor=T0, now=T0 + 30 * DAY + 5)
    assert [t.logical_time for t in ticks] == [T0 + 30 * DAY]
    assert ticks[0].interval_start == T0 + 29 * DAY
    assert dropped == 29


def test_all_creates_every_missed_tick_in_order_with_consecutive_intervals():
    ticks, dropped = due(DAILY, cursor=T0, now=T0 + 30 * DAY + 5, catchup="all")
    assert [t.logical_time for t in ticks] == [T0 + k * DAY for k in range(1, 31)]
    assert [t.interval_start for t in ticks] == [T0 + k * DAY for k in range(30)]
    assert dropped == 0


def test_all_with_a_cap_keeps_the_latest_ticks():
    ticks, dropped = due(DAILY, cursor=T0, now=T0 + 30 * DAY + 5, catchup="all", max_catchup_runs=3)
    assert [t.logical_time for t in ticks] == [T0 + k * DAY for k in (28, 29, 30)]
    assert ticks[0].interval_start == T0 + 27 * DAY
    assert dropped == 27


def test_none_runs_only_a_tick_that_is_on_time():
    ticks, dropped = due(DAILY, cursor=T0, now=T0 + 30 * DAY + 5, catchup="none")
    assert [t.logical_time for t in ticks] == [T0 + 30 * DAY]
    assert dropped == 29
    ticks, dropped = due(DAILY, cursor=T0, now=T0 + 30 * DAY + 3600, catchup="none")
    assert (ticks, dropped) == ([], 30)


def test_a_pass_on_time_creates_the_one_due_tick_under_every_policy():
    for policy in ("latest", "all", "none"):
        ticks, dropped = due(DAILY, cursor=T0 + DAY - 10, now=T0 + DAY + 1, catchup=policy)
        assert ([t.logical_time for t in ticks], dropped) == ([T0 + DAY], 0), policy


def test_nothing_is_due_between_ticks_or_when_the_cursor_is_not_behind():
    assert due(DAILY, cursor=T0, now=T0 + HOUR) == ([], 0)
    assert due(DAILY, cursor=T0 + DAY, now=T0 + DAY) == ([], 0)
    assert due(DAILY, cursor=T0 + 2 * DAY, now=T0 + DAY) == ([], 0)


def test_a_new_deployment_missed_nothing_but_fires_a_tick_due_now():
    assert due(DAILY, cursor=None, now=T0 + 10 * DAY + HOUR, catchup="all") == ([], 0)
    ticks, dropped = due(DAILY, cursor=None, now=T0 + 10 * DAY + 30, catchup="all")
    assert ([t.logical_time for t in ticks], dropped) == ([T0 + 10 * DAY], 0)


def test_the_cursor_chain_considers_every_tick_exactly_once():
    minutely = Schedule.parse("* * * * *", timezone="Europe/Berlin")
    cursor, now, created = None, at("2026-10-25 00:00", "Europe/Berlin"), []
    for step in (13, 7, 61, 1, 59, 60, 600, 3, 7200):  # irregular passes across the fall-back
        ticks, dropped = due(minutely, cursor=cursor, now=now, catchup="all")
        assert dropped == 0
        created += [t.logical_time for t in ticks]
        cursor, now = now, now + step
    assert created == [at("2026-10-25 00:00", "Europe/Berlin") + 60 * k for k in range(len(created))]
    assert len(created) == (now - 7200 - at("2026-10-25 00:00", "Europe/Berlin")) // 60 + 1


def test_due_refuses_an_unknown_policy_and_a_cap_below_one():
    with pytest.raises(ScheduleError, match=r"unknown catch-up policy 'lates' \(did you mean \"latest\"\?\)"):
        due(DAILY, cursor=T0, now=T0 + DAY, catchup="lates")
    with pytest.raises(ScheduleError, match="max_catchup_runs is 0; give a whole number of at least 1"):
        due(DAILY, cursor=T0, now=T0 + DAY, catchup="all", max_catchup_runs=0)


def test_upcoming_lists_the_next_fire_times_for_a_preview():
    s = Schedule.parse("0 2 * * *", timezone="Asia/Tokyo", end="2026-11-03T02:00")
    t = at("2026-11-01 00:00", "Asia/Tokyo")
    assert s.upcoming(t, 10) == [at(f"2026-11-0{d} 02:00", "Asia/Tokyo") for d in (1, 2, 3)]
    assert s.upcoming(t, 2) == [at("2026-11-01 02:00", "Asia/Tokyo"), at("2026-11-02 02:00", "Asia/Tokyo")]


def test_a_time_is_shown_in_its_zone_and_in_utc_when_the_zone_is_gone():
    from suiro.wallclock import local_text

    tick = float(1796058000)  # 2026-12-01 02:00 in Tokyo
    assert local_text(tick, "Asia/Tokyo") == "2026-12-01 02:00 JST"
    assert local_text(tick, None) == local_text(tick, "Not/AZone") == "2026-11-30 17:00 UTC"
    assert local_text(tick + 2, "UTC") == "2026-11-30 17:00:02 UTC", "ticks of seconds stay apart"
