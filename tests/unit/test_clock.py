"""The injectable clock: retry delays and the reaper's timeouts follow it, so tests need not wait."""

from __future__ import annotations

import time

import pytest
from pipelines import flaky

from suiro import clock, pipeline, run
from suiro.clock import ManualClock
from suiro.states import RunState


def test_a_manual_clock_moves_only_when_told():
    c = ManualClock(start=1000.0)
    assert (c.time(), c.monotonic()) == (1000.0, 0.0)
    c.advance(5)
    c.sleep(2.5)
    assert (c.time(), c.monotonic(), c.sleeps) == (1007.5, 7.5, [2.5])
    with pytest.raises(ValueError, match="cannot go back"):
        c.advance(-1)


def test_use_swaps_the_clock_for_the_block_only():
    manual = ManualClock(start=5.0)
    with clock.use(manual):
        assert clock.now() == 5.0
    assert abs(clock.now() - time.time()) < 1


def test_retry_delays_are_slept_on_the_clock_without_waiting_for_them():
    slow_retries = flaky.flaky.with_options(retries=3, retry_delay=30.0, backoff=2.0)

    @pipeline
    def fails_three_times():
        return slow_retries(3)

    started = time.monotonic()
    with clock.use(ManualClock(start=1_000_000.0)) as manual:
        result = run(fails_three_times, executor="sequential", record=False)

    assert result.state is RunState.SUCCESS and result.output == 4
    assert manual.sleeps == [30.0, 60.0, 120.0], "exponential backoff, each delay slept once"
    assert time.monotonic() - started < 5, "3.5 minutes of delays took no real time"
    assert result.started == 1_000_000.0 and result.ended == 1_000_210.0, "event times follow the clock"
