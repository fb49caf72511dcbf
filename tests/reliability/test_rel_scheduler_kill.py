"""R5 (G6): SIGKILL the scheduler at seeded points while it creates runs for 50 deployments, restart
it, again and again: never two ticks or runs for one (deployment, logical time), and no tick lost
within the catch-up policy.

Each round is a real process (``PASS`` below: a ``Scheduler`` on a ``ManualClock`` at the round's
instant) armed with ``SUIRO_FAULTPOINTS`` to SIGKILL itself at the nth ``scheduler.tick_created``
(after the nth deployment's ticks, inside the one transaction that creates a pass's ticks), at
``db.before_commit`` or at ``db.after_commit`` (the commit of the lease, of the ticks, ...), n drawn
from a seeded generator. Each round starts past the dead one's lease.
The expected ticks are computed here, not by ``suiro.schedules``: a ``* * * * *`` cron in UTC
fires on every multiple of 60 s. The launch variant kills the scheduler right after it claimed
a tick, before it started the tick's process: the restarted scheduler relaunches that tick
under the same run id, and each tick runs exactly once (the ledger of real executions).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from reliability.sched_harness import deploy, duplicates, read_ledger, wait_for, write_ticking

from suiro import clock
from suiro.clock import ManualClock
from suiro.scheduler import Scheduler
from suiro.store.db import Database

MINUTE = 60.0
T0 = 1_780_000_000.0 - 1_780_000_000.0 % MINUTE
TTL = 30.0
DEPLOYMENTS = 50

PASS = """
import sys
from suiro import clock
from suiro.clock import ManualClock
from suiro.scheduler import Scheduler

now = float(sys.argv[1])
with clock.use(ManualClock(start=now)):
    scheduler = Scheduler(ttl=float(sys.argv[2]), launch=sys.argv[3] == "launch")
    report = scheduler.run_pass(now)
    print(report.created, report.launched)
    scheduler.close()
"""


def one_pass(
    home: Path, now: float, *, faults: str = "", launch: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUIRO_FAULTPOINTS"}
    env.update(SUIRO_HOME=str(home), **({"SUIRO_FAULTPOINTS": faults} if faults else {}))
    argv = [sys.executable, "-c", PASS, repr(now), str(TTL), "launch" if launch else "plan"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def every_minute(after: float, until: float) -> set[float]:
    first = (after // MINUTE + 1) * MINUTE
    return {first + k * MINUTE for k in range(int((until - first) // MINUTE) + 1)}


def kill_rounds(tmp_path: Path, home: Path, rounds: int, seed: int) -> None:
    target = write_ticking(tmp_path)
    with clock.use(ManualClock(start=T0)):
        db = Database.open(f"sqlite:///{home / 'suiro.db'}")
        for i in range(DEPLOYMENTS):
            deploy(db, f"d{i:02d}", target, "* * * * *", catchup="all")
        # every deployment gets its cursor at T0 (nothing due then: T0 - 1 s)
        assert one_pass(home, T0 - 1.0).returncode == 0
    rng = random.Random(seed)
    now, killed = T0, 0
    for _ in range(rounds):
        now += TTL + rng.choice([30.0, 90.0, 300.0])  # past the dead one's lease; new ticks due
        point = rng.choice(["scheduler.tick_created", "db.before_commit", "db.after_commit"])
        nth = rng.randint(1, DEPLOYMENTS) if point == "scheduler.tick_created" else rng.randint(2, 3)
        done = one_pass(home, now, faults=f"{point}:kill:{nth}")
        assert done.returncode in (0, -signal.SIGKILL), done.stderr
        killed += done.returncode == -signal.SIGKILL
    assert killed >= rounds // 2  # the faults really fired
    final = now + TTL + 1.0
    clean = one_pass(home, final)
    assert clean.returncode == 0, clean.stderr
    assert duplicates(db) == []
    expected = every_minute(T0 - 1.0 - 60.0, final)  # a new deployment's first pass: its tick on time
    for i in range(DEPLOYMENTS):
        found = db.query("SELECT logical_time FROM ticks WHERE deployment = :d", {"d": f"d{i:02d}"})
        assert sorted(r["logical_time"] for r in found) == sorted(expected), f"deployment d{i:02d}"
    db.close()


def test_killed_while_creating_ticks_for_50_deployments_no_tick_twice_none_lost(tmp_path, suiro_home):
    kill_rounds(tmp_path, suiro_home, rounds=2, seed=5)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_killed_20_times_while_creating_ticks_no_tick_twice_none_lost(tmp_path, suiro_home, seed):
    kill_rounds(tmp_path, suiro_home, rounds=20, seed=seed)


def test_killed_after_claiming_a_tick_the_restarted_scheduler_runs_it_once(tmp_path, suiro_home, monkeypatch):
    ledger = tmp_path / "ledger"
    monkeypatch.setenv("SCHED_LEDGER", str(ledger))
    target = write_ticking(tmp_path)
    with clock.use(ManualClock(start=T0)) as manual:
        db = Database.open(f"sqlite:///{suiro_home / 'suiro.db'}")
        for i in range(3):
            deploy(db, f"d{i}", target, "* * * * *", catchup="all", max_catchup_runs=2)
        assert one_pass(suiro_home, T0 - 1.0).returncode == 0
        killed = one_pass(suiro_home, T0 + 2 * MINUTE, faults="scheduler.tick_claimed:kill:2", launch=True)
        assert killed.returncode == -signal.SIGKILL
        claimed = db.query("SELECT run_id FROM ticks WHERE state = 'launched'")
        assert len(claimed) == 2  # the first one's process started; the second one's never did
        manual.advance(2 * MINUTE + TTL + 1.0)
        scheduler = Scheduler(suiro_home)

        def all_ran() -> bool:  # the clock stands still: no new tick comes due meanwhile
            scheduler.run_pass()
            return len(read_ledger(ledger)) == 9 and not scheduler.children  # 3 ticks each

        wait_for(all_ran, timeout=90, every=0.1)
        scheduler.close()
    ran = read_ledger(ledger)
    ticks = db.query("SELECT run_id FROM ticks")
    assert sorted(r.run_id for r in ran) == sorted(t["run_id"] for t in ticks)  # each tick ran, once
    assert duplicates(db) == []
    runs = db.query("SELECT id, state FROM runs")
    assert len(runs) == len(ticks) and {r["state"] for r in runs} == {"success"}
    db.close()
