"""R8: cron schedules across daylight-saving changes fire by the written policy, never twice a day.

The policy (docs/scheduling.md, "Time zones and DST"): a cron is a set of wall-clock times; a
wall time that does not exist (spring-forward) fires once at the first valid instant after the
gap; one that happens twice (fall-back) fires once, at its first occurrence; interval schedules
are exact elapsed time.

Two kinds of test: explicit examples for ``30 2 * * *`` and ``0 */2 * * *`` in
America/New_York, Europe/Berlin and Australia/Lord_Howe (a 30-minute shift) across both changes
of 2026, and a Hypothesis property over (zone x cron x start instant) checked against an oracle
that walks every minute of UTC time, independent of the code under test (it matches the
generated fields as sets, no cron text involved). Default tier: 20 derandomized examples; slow
tier: hundreds.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suiro.schedules import Schedule, due

NY, BERLIN, LORD_HOWE = "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"
HOUR = 3600.0


def at(text: str, zone: str, fold: int = 0) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def walls(s: Schedule, first: str, last: str) -> list[str]:
    """The ticks between two local wall times, shown as local time with the UTC offset."""
    zone = ZoneInfo(s.timezone)
    return [
        datetime.fromtimestamp(t, zone).strftime("%m-%d %H:%M%z")
        for t in s.ticks(at(first, s.timezone), at(last, s.timezone))
    ]


# -- explicit examples: 2026's changes -----------------------------------------------------------------

# (zone, cron, from, until, expected local ticks). Spring-forward: NY 8 March 02:00→03:00,
# Berlin 29 March 02:00→03:00, Lord Howe 4 October 02:00→02:30. Fall-back: NY 1 November
# 02:00→01:00, Berlin 25 October 03:00→02:00, Lord Howe 5 April 02:00→01:30.
EXAMPLES = [
    # 02:30 does not exist on the spring-forward day: it fires once, at 03:00 (the gap's end).
    (NY, "30 2 * * *", "2026-03-07 00:00", "2026-03-09 23:59",
     ["03-07 02:30-0500", "03-08 03:00-0400", "03-09 02:30-0400"]),
    (BERLIN, "30 2 * * *", "2026-03-28 00:00", "2026-03-30 23:59",
     ["03-28 02:30+0100", "03-29 03:00+0200", "03-30 02:30+0200"]),
    # On Lord Howe only 02:00-02:29 vanish: 02:30 exists and fires as usual.
    (LORD_HOWE, "30 2 * * *", "2026-10-03 00:00", "2026-10-05 23:59",
     ["10-03 02:30+1030", "10-04 02:30+1100", "10-05 02:30+1100"]),
    # Fall-back: in Berlin 02:30 happens twice and fires once, at its first occurrence (CEST).
    (BERLIN, "30 2 * * *", "2026-10-24 00:00", "2026-10-26 23:59",
     ["10-24 02:30+0200", "10-25 02:30+0200", "10-26 02:30+0100"]),
    # In New York and on Lord Howe the repeated period is before 02:00: nothing changes.
    (NY, "30 2 * * *", "2026-10-31 00:00", "2026-11-02 23:59",
     ["10-31 02:30-0400", "11-01 02:30-0500", "11-02 02:30-0500"]),
    (LORD_HOWE, "30 2 * * *", "2026-04-04 00:00", "2026-04-06 23:59",
     ["04-04 02:30+1100", "04-05 02:30+1030", "04-06 02:30+1030"]),
    # Every two hours: the vanished 02:00 fires at the gap's end, then 04:00 as usual.
    (NY, "0 */2 * * *", "2026-03-07 23:00", "2026-03-08 05:00",
     ["03-08 00:00-0500", "03-08 03:00-0400", "03-08 04:00-0400"]),
    (BERLIN, "0 */2 * * *", "2026-03-28 23:00", "2026-03-29 05:00",
     ["03-29 00:00+0100", "03-29 03:00+0200", "03-29 04:00+0200"]),
    (LORD_HOWE, "0 */2 * * *", "2026-10-03 23:00", "2026-10-04 05:00",
     ["10-04 00:00+1030", "10-04 02:30+1100", "10-04 04:00+1100"]),
    # Fall-back in Berlin: 02:00 happens twice and fires once (CEST); elsewhere no even hour repeats.
    (BERLIN, "0 */2 * * *", "2026-10-24 23:00", "2026-10-25 05:00",
     ["10-25 00:00+0200", "10-25 02:00+0200", "10-25 04:00+0100"]),
    (NY, "0 */2 * * *", "2026-10-31 23:00", "2026-11-01 05:00",
     ["11-01 00:00-0400", "11-01 02:00-0500", "11-01 04:00-0500"]),
    (LORD_HOWE, "0 */2 * * *", "2026-04-04 23:00", "2026-04-05 05:00",
     ["04-05 00:00+1100", "04-05 02:00+1030", "04-05 04:00+1030"]),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "cron", "first", "last", "expected"), EXAMPLES)
def test_dst_examples_fire_by_the_policy(zone, cron, first, last, expected):
    s = Schedule.parse(cron, timezone=zone)
    assert walls(s, first, last) == expected
    ticks = list(s.ticks(at(first, zone), at(last, zone)))
    # next_after/previous agree with the walk, and each tick's interval starts at the tick before.
    for before, tick in itertools.pairwise(ticks):
        assert s.next_after(before) == tick
        assert s.previous(tick - 1) == before
        assert s.previous(tick) == tick
        assert s.interval(tick) == (before, tick)


def test_wall_times_vanishing_into_one_gap_fire_once_at_its_end():
    # 02:00 and 02:30 do not exist and 03:00 does: the three are one firing at 03:00 EDT.
    s = Schedule.parse("*/30 * * * *", timezone=NY)
    assert walls(s, "2026-03-08 01:00", "2026-03-08 04:00") == [
        "03-08 01:30-0500",
        "03-08 03:00-0400",
        "03-08 03:30-0400",
        "03-08 04:00-0400",
    ]


def test_a_daily_run_covers_a_whole_local_day_even_of_23_or_25_hours():
    s = Schedule.parse("30 2 * * *", timezone=BERLIN)
    # The run after the fall-back covers 25 h, the one after the spring-forward 23.5 h
    # (02:30 CET on 28 March to 03:00 CEST on the 29th is 23.5 h of real time).
    after_fall_back = at("2026-10-26 02:30", BERLIN)
    start, end = s.interval(after_fall_back)
    assert end - start == 25 * HOUR
    spring = at("2026-03-29 03:00", BERLIN)
    start, end = s.interval(spring)
    assert end - start == 23.5 * HOUR


def test_a_pass_inside_the_repeated_hour_creates_nothing_twice():
    # A scheduler pass at 02:45 CEST creates the 02:30 tick; the next pass, at 02:15 CET (an hour
    # of real time later, but the wall clock went back), must not create 02:30 again.
    s = Schedule.parse("30 2 * * *", timezone=BERLIN)
    first_pass = at("2026-10-25 02:45", BERLIN, fold=0)
    ticks, _ = due(s, cursor=at("2026-10-25 02:00", BERLIN, fold=0), now=first_pass)
    assert [t.logical_time for t in ticks] == [at("2026-10-25 02:30", BERLIN, fold=0)]
    for minutes in range(5, 24 * 60, 5):  # passes every five minutes for the rest of the day
        now = first_pass + minutes * 60
        assert due(s, cursor=now - 300, now=now) == ([], 0), datetime.fromtimestamp(now, ZoneInfo(BERLIN))


def test_interval_schedules_are_exact_elapsed_time_across_a_change():
    s = Schedule.parse({"every": "1h", "anchor": "2026-03-08T00:00", "timezone": NY})
    ticks = list(s.ticks(at("2026-03-08 00:00", NY), at("2026-03-08 05:00", NY)))
    assert [b - a for a, b in itertools.pairwise(ticks)] == [HOUR] * (len(ticks) - 1)
    assert walls(s, "2026-03-08 00:00", "2026-03-08 05:00") == [
        "03-08 01:00-0500",
        "03-08 03:00-0400",  # 02:00 EST never shows on a wall: an hour after 01:00 it is 03:00
        "03-08 04:00-0400",
        "03-08 05:00-0400",
    ]


# -- the property: zone x cron x start instant --------------------------------------------------------

ZONES = [
    NY,
    BERLIN,
    LORD_HOWE,
    "America/Santiago",  # changes at midnight
    "America/St_Johns",  # a half-hour offset
    "Pacific/Chatham",  # 45-minute offset
    "Asia/Tokyo",  # no DST
    "Africa/Casablanca",  # leaves DST during Ramadan
    "Europe/London",
    "UTC",
]
# (cron field text, the set it matches); the oracle uses only the sets.
MINUTES = [("0", {0}), ("30", {30}), ("*/15", {0, 15, 30, 45}), ("5,50", {5, 50}), ("*", set(range(60)))]
HOURS = [("2", {2}), ("*/2", set(range(0, 24, 2))), ("1-3", {1, 2, 3}), ("0", {0}), ("*", set(range(24)))]
DAYS = [("* * *", None), ("* * 1-5", {1, 2, 3, 4, 5}), ("1,15 * *", "dom")]


def matches(wall: datetime, minutes: set[int], hours: set[int], days) -> bool:
    if wall.minute not in minutes or wall.hour not in hours:
        return False
    if days == "dom":
        return wall.day in (1, 15)
    return days is None or (wall.isoweekday() % 7) in days


def oracle(s: Schedule, after: float, until: float, minutes, hours, days) -> list[float]:
    """Walk every UTC minute in (after, until]: a minute whose wall time matches at its first
    occurrence fires; a wall-clock jump forward fires once if any skipped wall time matches."""
    zone = ZoneInfo(s.timezone)
    fired, seen = [], set()
    u = (int(after) // 60 - 180) * 60  # from three hours before: a wall seen then is not new after
    previous = datetime.fromtimestamp(u - 60, zone).replace(tzinfo=None)
    while u <= until:
        wall = datetime.fromtimestamp(u, zone).replace(tzinfo=None)
        skipped = previous.timestamp() + 60 < wall.timestamp()  # naive walls: a jump forward
        gap_matches = skipped and any(
            matches(datetime.fromtimestamp(w, UTC).replace(tzinfo=None), minutes, hours, days)
            for w in range(
                int(previous.replace(tzinfo=UTC).timestamp()) + 60,
                int(wall.replace(tzinfo=UTC).timestamp()),
                60,
            )
        )
        if u > after and ((matches(wall, minutes, hours, days) and wall not in seen) or gap_matches):
            fired.append(float(u))
        seen.add(wall)
        previous = wall
        u += 60
    return fired


@st.composite
def cases(draw):
    zone = draw(st.sampled_from(ZONES))
    minute, minutes = draw(st.sampled_from(MINUTES))
    hour, hours = draw(st.sampled_from(HOURS))
    days_text, days = draw(st.sampled_from(DAYS))
    # Start instants from 2020 to 2030, drawn near a DST change half of the time.
    start = draw(
        st.integers(
            int(datetime(2020, 1, 1, tzinfo=UTC).timestamp()),
            int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()),
        )
    )
    if draw(st.booleans()) and zone != "UTC":
        start = _near_a_change(zone, start) - draw(st.integers(0, 30 * 3600))
    return zone, f"{minute} {hour} {days_text}", (minutes, hours, days), start


def _near_a_change(zone: str, t: int) -> int:
    """The first instant after ``t`` (within a year) when the zone's UTC offset changes, or ``t``."""
    z = ZoneInfo(zone)
    offset = datetime.fromtimestamp(t, z).utcoffset()
    step = 6 * 3600
    for k in range(1, 4 * 366):
        if datetime.fromtimestamp(t + k * step, z).utcoffset() != offset:
            low, high = t + (k - 1) * step, t + k * step
            while low + 1 < high:
                middle = (low + high) // 2
                if datetime.fromtimestamp(middle, z).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            return high
    return t


def check_case(zone: str, cron: str, sets, start: int) -> None:
    s = Schedule.parse(cron, timezone=zone)
    until = start + 2 * 86400
    got = list(s.ticks(start, until))
    # Strictly increasing in UTC, each exactly as the minute-by-minute oracle says.
    assert all(a < b for a, b in itertools.pairwise(got))
    assert got == oracle(s, start, until, *sets)
    # Never two runs for one local day when the cron names one time of day.
    minutes, hours, _ = sets
    if len(minutes) == 1 and len(hours) == 1:
        days = [datetime.fromtimestamp(t, ZoneInfo(zone)).date() for t in got]
        assert len(days) == len(set(days))
    # The lookups agree with the walk.
    if got:
        assert s.next_after(start) == got[0]
        assert s.previous(got[-1]) == got[-1]
        assert s.previous(until) == got[-1]
    for before, tick in itertools.pairwise(got):
        assert s.interval(tick) == (before, tick)
        assert s.previous(tick - 0.5) == before


_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@settings(max_examples=20, derandomize=True, **_SETTINGS)
@given(cases())
def test_fire_times_follow_the_policy_for_any_zone_cron_and_start(case):
    check_case(*case)


@pytest.mark.slow
@settings(max_examples=400, **_SETTINGS)
@given(cases())
def test_fire_times_follow_the_policy_for_any_zone_cron_and_start_many_examples(case):
    check_case(*case)
