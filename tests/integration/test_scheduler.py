"""The scheduler's loop and the runs people ask for, on a real database with real child processes.

Time is a ``ManualClock`` where the test decides ticks; runs execute in real child processes and
report to a ledger. (Kills, two schedulers and 30 days down are in tests/reliability.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from pipelines.webhook_stub import Hook
from reliability.sched_harness import deploy, most_at_once, read_ledger, wait_for, write_ticking

from suiro import api, clock, history
from suiro.clock import ManualClock
from suiro.errors import ScheduleError
from suiro.runinfo import Scheduled
from suiro.scheduler import Scheduler, manual
from suiro.store import deployments, ticks
from suiro.store.home import Store

HOUR = 3600.0
T0 = 1_780_000_000.0 - 1_780_000_000.0 % HOUR


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    path = tmp_path / "ledger"
    monkeypatch.setenv("SCHED_LEDGER", str(path))
    return path


@pytest.fixture
def target(tmp_path):
    return write_ticking(tmp_path)


def settle(scheduler: Scheduler) -> None:
    """Passes (the clock standing still) until every run the scheduler started has ended."""

    def idle() -> bool:
        scheduler.run_pass()
        return not scheduler.children and not ticks.active(scheduler.db)

    wait_for(idle, timeout=60)


def test_a_paused_deployment_gets_no_tick_until_resumed_then_catches_up_once(suiro_home, target):
    with clock.use(ManualClock(start=T0 + 1)) as manual_clock:
        sched = Scheduler(suiro_home, launch=False)
        deploy(sched.db, "hourly", target)
        sched.run_pass()
        assert deployments.set_paused(sched.db, "hourly", True)
        manual_clock.advance(5 * HOUR)
        assert sched.run_pass().created == 0
        deployments.set_paused(sched.db, "hourly", False)
        resumed = sched.run_pass()
        assert (resumed.created, resumed.dropped) == (1, 4)  # catchup=latest: the latest tick only
        sched.close()


def test_a_deployment_saved_while_the_scheduler_runs_is_seen_at_the_next_pass(suiro_home, target):
    with clock.use(ManualClock(start=T0 - 1)) as manual_clock:
        sched = Scheduler(suiro_home, launch=False)
        sched.run_pass()
        deploy(sched.db, "late", target)
        manual_clock.advance(1.0)
        assert sched.run_pass().created == 1  # new, and its tick is due right now
        assert sched.next_wake(clock.now()) == clock.now() + sched.poll  # nothing due within a poll
        sched.close()


def test_a_triggered_run_is_launched_with_its_parameters_and_one_that_cannot_start_fails(
    suiro_home, target, ledger, tmp_path, monkeypatch
):
    # The scheduler's own environment is not the deployment's: a SUIRO_PARAM_* there reached every
    # run (and one that did not fit made every run fail to start), though deploy checked without it
    monkeypatch.setenv("SUIRO_PARAM_LABEL", "from the scheduler's environment")
    monkeypatch.setenv("SUIRO_PARAM_PAUSE", "not a number")
    store = Store(suiro_home)
    deploy(store.db, "manual", target, None, params={"label": "deployed"})
    broken = tmp_path / "broken.py"
    broken.write_text("from suiro import pipeline\n\n@pipeline\ndef gone():\n    return None\n")
    hook = Hook([200])
    deploy(store.db, "broken", f"{broken}:gone", None, notify={"on": ["failed"], "webhook": hook.url})
    sched = Scheduler(suiro_home)
    assert sched.run_pass().launched == 0  # idle: what is queued from now on is new to it
    run_id = manual.trigger(store, "manual", ["label=triggered"])
    bad_id = manual.trigger(store, "broken")
    broken.write_text("this is not python\n")  # it loaded when triggered; not any more
    assert sched.run_pass().launched == 2
    settle(sched)
    sched.close()
    (ran,) = read_ledger(ledger)
    assert ran.run_id == run_id and ran.deployment == "manual"
    (run,) = store.db.query('SELECT params, "trigger" FROM runs WHERE id = :id', {"id": run_id})
    assert json.loads(run["params"])["label"] == "triggered" and run["trigger"] == "manual"
    assert ticks.get(store.db, bad_id).state == "failed"
    log = (suiro_home / "logs" / bad_id / "scheduler-child.log").read_text()
    assert f"error: run {bad_id} could not start" in log
    # Said where people look, not only in that file: a failed run with no task, and its alert
    shown = history.show(bad_id, home=suiro_home)
    assert (shown["state"], shown["deployment"], shown["tasks"]) == ("failed", "broken", [])
    assert shown["error"].startswith("could not start: ") and "broken.py" in shown["error"]
    assert history.runs(deployment="broken", home=suiro_home)[0]["id"] == bad_id
    (sent,) = [r["body"] for r in hook.requests]
    assert (sent["suiro"]["event"], sent["suiro"]["run_id"]) == ("failed", bad_id)
    assert "could not start: " in sent["text"] and "broken.py" in sent["suiro"]["error"]
    hook.close()
    store.close()


def test_a_backfill_interrupted_after_claiming_resumes_and_runs_each_tick_once(suiro_home, target, ledger):
    store = Store(suiro_home)
    deploy(store.db, "daily", target, "0 0 * * *", params={"pause": 0.15})
    plan = manual.plan_backfill(store, "daily", "2026-11-01", "2026-11-04")
    assert (plan.total, plan.created) == (4, 4)
    assert manual.plan_backfill(store, "daily", "2026-11-01", "2026-11-04").created == 0
    # the first backfill process claimed one tick and died before starting it
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    first = ticks.between(store.db, "daily", plan.start, plan.end)[0]["run_id"]
    assert ticks.claim(store.db, first, pid=int(dead.stdout), now=clock.now())
    done = manual.run_backfill(store, plan, max_active=2, every=0.05)
    assert (done.total, done.succeeded, done.unsuccessful) == (4, 4, [])
    ran = read_ledger(ledger)
    assert len(ran) == 4 and len({r.logical_time for r in ran}) == 4
    assert most_at_once(ran) <= 2
    store.close()


def test_a_backfill_stops_at_now_and_leaves_later_ticks_to_the_schedule(suiro_home, target):
    # It ran the ticks of days not yet come (their data does not exist), which the scheduler, finding
    # them done, then never ran in their time
    store = Store(suiro_home)
    deploy(store.db, "daily", target, "0 0 * * *")
    now = datetime(2026, 11, 3, 12, tzinfo=UTC).timestamp()
    plan = manual.plan_backfill(store, "daily", "2026-11-01", "2026-11-06", now=now)
    assert (plan.total, plan.created, plan.cut_at) == (3, 3, now)  # 1st, 2nd and 3rd at midnight
    times = [row["logical_time"] for row in ticks.between(store.db, "daily", 0, 2e9)]
    assert times == [datetime(2026, 11, d, tzinfo=UTC).timestamp() for d in (1, 2, 3)]
    past = manual.plan_backfill(store, "daily", "2026-11-01", "2026-11-02", now=now)
    assert (past.total, past.created, past.cut_at) == (2, 0, None)
    with pytest.raises(ScheduleError, match="--start 2026-11-04 is in the future; a backfill runs ticks"):
        manual.plan_backfill(store, "daily", "2026-11-04", "2026-11-06", now=now)
    store.close()


def test_check_reports_two_runs_for_one_deployment_and_logical_time(suiro_home, target):
    scheduled = Scheduled(deployment="nightly", logical_time=T0)
    for _ in range(2):  # as a scheduler without UNIQUE ticks could
        assert api.run(target, scheduled=scheduled, executor="sequential").ok
    (problem,) = history.check()
    assert problem["kind"] == "double_run" and "deployment nightly has 2 runs" in problem["message"]


def test_a_deployment_row_the_scheduler_cannot_use_does_not_stop_the_others(suiro_home, target, caplog):
    with clock.use(ManualClock(start=T0 - 1)) as manual_clock:
        sched = Scheduler(suiro_home, launch=False)
        deploy(sched.db, "odd", target, catchup="sometimes")  # no deploy writes this; a hand edit might
        deploy(sched.db, "fine", target)
        sched.run_pass()
        manual_clock.advance(1.0)
        assert sched.run_pass().created == 1
        assert [t.deployment for t in ticks.queued(sched.db)] == ["fine"]
        assert "deployment odd skipped" in caplog.text
        sched.close()


def test_two_triggers_at_the_same_instant_queue_two_runs(suiro_home, target):
    store = Store(suiro_home)
    deploy(store.db, "manual", target, None)
    first = manual.trigger(store, "manual", now=T0)
    second = manual.trigger(store, "manual", now=T0)
    assert first != second and len(ticks.queued(store.db)) == 2
    store.close()


SLOW = """
import time

from suiro import pipeline, task


@task
def sleeps() -> int:
    time.sleep(30)
    return 1


@pipeline(timeout=1, executor="threads")
def late():
    return sleeps()
"""


def test_a_run_stopped_at_its_deadline_ends_its_process_though_a_thread_was_abandoned(suiro_home, tmp_path):
    (tmp_path / "late.py").write_text(SLOW, encoding="utf-8")
    store = Store(suiro_home)
    deploy(store.db, "late", f"{tmp_path / 'late.py'}:late", None)
    sched = Scheduler(suiro_home)
    sched.run_pass()
    run_id = manual.trigger(store, "late")
    started = time.monotonic()
    assert sched.run_pass().launched == 1
    settle(sched)  # every child it started has exited
    assert time.monotonic() - started < 15, "the abandoned 30 s task did not hold the child"
    sched.close()
    (run,) = store.db.query("SELECT state, error FROM runs WHERE id = :id", {"id": run_id})
    assert run["state"] == "failed" and "exceeded its timeout of 1" in run["error"]
    store.close()
