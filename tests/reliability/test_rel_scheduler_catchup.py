"""R7 (G6): the scheduler down for 30 simulated days, then back: each catch-up policy creates what it
promises and no more, every tick at most once, and ``max_active_runs`` holds while the catch-up
runs execute (in real child processes; the ledger says how many overlapped).

Time is a ``ManualClock``: 30 days pass in one call. The expected ticks are computed here,
independently of ``suiro.schedules``: an hourly cron in UTC fires on every multiple of 3600 s.
"""

from __future__ import annotations

import pytest
from reliability.sched_harness import deploy, duplicates, most_at_once, read_ledger, wait_for, write_ticking

from suiro import clock
from suiro.clock import ManualClock
from suiro.scheduler import Scheduler
from suiro.store import ticks

HOUR, DAY = 3600.0, 86400.0
T0 = 1_780_000_000.0 - 1_780_000_000.0 % HOUR  # on the hour
DOWN = 30 * DAY + 300.0  # back five minutes after a tick


def hourly_between(after: float, until: float) -> list[float]:
    first = (after // HOUR + 1) * HOUR
    return [first + k * HOUR for k in range(int((until - first) // HOUR) + 1)]


@pytest.fixture
def sched(tmp_path, suiro_home):
    with clock.use(ManualClock(start=T0)):
        scheduler = Scheduler(suiro_home, launch=False)
        yield scheduler
        scheduler.close()


@pytest.mark.parametrize(
    ("catchup", "max_catchup_runs", "expected"),
    [("latest", None, 1), ("all", 100, 100), ("all", None, 720), ("none", None, 0)],
)
def test_thirty_days_down_creates_what_the_policy_says(sched, tmp_path, catchup, max_catchup_runs, expected):
    target = write_ticking(tmp_path)
    deploy(sched.db, "hourly", target, catchup=catchup, max_catchup_runs=max_catchup_runs)
    first = sched.run_pass(T0)  # a new deployment: the tick due right now, nothing missed
    assert first.leader and first.created == 1
    back = sched.run_pass(T0 + DOWN)
    assert back.created == expected
    assert back.dropped == 720 - expected
    found = sched.db.query("SELECT logical_time FROM ticks ORDER BY logical_time")
    times = [r["logical_time"] for r in found]
    missed = hourly_between(T0, T0 + DOWN)
    assert len(missed) == 720
    assert times[1:] == missed[len(missed) - expected :]  # the latest ones, oldest first
    assert sched.run_pass(T0 + DOWN + 1).created == 0  # a second look creates nothing more
    assert duplicates(sched.db) == []


@pytest.mark.parametrize(("catchup", "expected"), [("all", 5), ("latest", 1), ("none", 0)])
def test_ticks_after_the_deploy_that_no_scheduler_saw_are_caught_up(tmp_path, suiro_home, catchup, expected):
    # Deployed just after a tick, the scheduler first started five hours later: the five ticks in
    # between were missed (the nightly job deployed in the afternoon, the scheduler started the next
    # morning); they went unseen whatever the policy, as if the deployment were new at that pass
    target = write_ticking(tmp_path)
    with clock.use(ManualClock(start=T0 + 10)):
        sched = Scheduler(suiro_home, launch=False)
        deploy(sched.db, "hourly", target, catchup=catchup)
        late = sched.run_pass(T0 + 5 * HOUR + 300)
        times = [r["logical_time"] for r in sched.db.query("SELECT logical_time FROM ticks ORDER BY 1")]
        sched.close()
    missed = hourly_between(T0 + 10, T0 + 5 * HOUR + 300)
    assert (late.created, late.dropped, len(missed)) == (expected, 5 - expected, 5)
    assert times == missed[len(missed) - expected :]


def test_the_cursor_survives_a_restart_so_nothing_is_created_twice(tmp_path, suiro_home):
    target = write_ticking(tmp_path)
    with clock.use(ManualClock(start=T0)):
        first = Scheduler(suiro_home, launch=False)
        deploy(first.db, "hourly", target, catchup="all")
        first.run_pass(T0)
        first.run_pass(T0 + 5 * HOUR)
        first.close()
        second = Scheduler(suiro_home, launch=False)
        assert second.run_pass(T0 + 5 * HOUR + 10).created == 0
        assert second.run_pass(T0 + 6 * HOUR).created == 1
        assert len(second.db.query("SELECT id FROM ticks")) == 7
        second.close()


def test_catch_up_runs_respect_max_active_runs(tmp_path, suiro_home, monkeypatch):
    """Four catch-up runs, at most two at once: the ledger of their real executions says so."""
    ledger = tmp_path / "ledger"
    monkeypatch.setenv("SCHED_LEDGER", str(ledger))
    target = write_ticking(tmp_path)
    with clock.use(ManualClock(start=T0)) as manual:
        sched = Scheduler(suiro_home)
        limits = {"catchup": "all", "max_catchup_runs": 4, "max_active_runs": 2}
        deploy(sched.db, "hourly", target, params={"pause": 0.2}, **limits)
        sched.run_pass(T0 - 1.0)  # sets the cursor; nothing due yet
        manual.advance(DOWN)
        report = sched.run_pass()
        assert (report.created, report.launched) == (4, 2)
        seen = []

        def all_ran() -> bool:
            manual.advance(0.05)
            sched.run_pass()
            seen.append(sum(ticks.active(sched.db).values()))
            return len(read_ledger(ledger)) == 4 and not sched.children

        wait_for(all_ran, timeout=60)
        sched.close()
    ran = read_ledger(ledger)
    assert sorted(r.logical_time for r in ran) == hourly_between(T0, T0 + DOWN)[-4:]
    assert most_at_once(ran) == 2
    assert max(seen) <= 2
