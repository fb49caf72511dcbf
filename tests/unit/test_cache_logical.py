"""The cache's side of logical time: which tasks read it, and dates and times as inputs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import suiro
from suiro.cache import UnhashableError, fingerprint, reads_logical_time


def test_a_task_naming_the_logical_time_or_interval_reads_it():
    def direct():
        return suiro.context().logical_time

    def interval():
        ctx = suiro.context()
        return ctx.interval_start, ctx.interval_end

    def by_getattr():
        return getattr(suiro.context(), "logical_time")  # noqa: B009

    def nested():
        def inner():
            return suiro.context().scheduled

        return inner()

    def unrelated(logical_time_of_day: int = 3):  # a local name is not the context's attribute
        return suiro.context().run_id, logical_time_of_day

    assert all(reads_logical_time(fn) for fn in (direct, interval, by_getattr, nested))
    assert not reads_logical_time(unrelated)
    assert not reads_logical_time(len)  # no code object: nothing read


def test_dates_and_times_fingerprint_by_value_and_instant_with_offset():
    tokyo = dt.datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    fixed = dt.datetime.fromisoformat(tokyo.isoformat())  # as read back from a record
    assert fingerprint(tokyo) == fingerprint(fixed)
    assert fingerprint(tokyo) != fingerprint(tokyo + dt.timedelta(days=1))
    assert fingerprint(tokyo) != fingerprint(tokyo.astimezone(dt.UTC))  # another offset: other text
    assert fingerprint(dt.date(2026, 11, 30)) != fingerprint("2026-11-30")
    assert fingerprint(dt.timedelta(hours=6)) == fingerprint(dt.timedelta(seconds=21600))
    try:
        fingerprint(object())
    except UnhashableError:
        pass
    else:
        raise AssertionError("an object without a fingerprint must stay unhashable")
