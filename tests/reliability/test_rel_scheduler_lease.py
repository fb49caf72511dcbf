"""R6 (G6): two schedulers on one database. Exactly one leads; the other stands by and takes over
within the lease's TTL (plus one pass) once the leader stops; a leader that was paused past its
lease and wakes up is fenced (it writes nothing as leader); no tick is created twice and none is
lost. On SQLite, and on a local PostgreSQL server when one is installed (skipped otherwise).

Time is a ``ManualClock`` stepped by two seconds; the schedulers are real ``Scheduler`` objects on
a real database. The variant with two real ``suiro scheduler`` processes and a SIGKILL is in the
slow tier (it waits the lease out in real seconds).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from reliability.sched_harness import deploy, duplicates, wait_for, write_ticking

from suiro import clock
from suiro.clock import ManualClock
from suiro.scheduler import Scheduler
from suiro.store import leases

MINUTE = 60.0
T0 = 1_780_000_000.0 - 1_780_000_000.0 % MINUTE
TTL = 10.0
STEP = 2.0


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch):
    """Nothing for SQLite (the home's file); a new database on the local PostgreSQL server."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("SUIRO_DB", server.new_database("r6"))
    return request.param


def every_minute(after: float, until: float) -> list[float]:
    first = (after // MINUTE + 1) * MINUTE
    return [first + k * MINUTE for k in range(int((until - first) // MINUTE) + 1)]


def test_one_leads_the_standby_takes_over_within_the_ttl(backend, tmp_path, suiro_home):
    target = write_ticking(tmp_path)
    with clock.use(ManualClock(start=T0)):
        a = Scheduler(suiro_home, launch=False, ttl=TTL, holder="a")
        b = Scheduler(suiro_home, launch=False, ttl=TTL, holder="b")
        for i in range(5):
            deploy(a.db, f"d{i}", target, "* * * * *", catchup="all")
        now, stopped, took_over = T0 - 1.0, None, None
        while now < T0 + 4 * MINUTE:
            led_a = stopped is None and a.run_pass(now).leader
            led_b = b.run_pass(now).leader
            assert not (led_a and led_b), f"two leaders at {now - T0:+.0f} s"
            if stopped is None and now >= T0 + MINUTE:
                assert led_a and not led_b  # a led from the start; b stood by
                stopped = now  # a stops here, holding its lease (as if SIGKILLed)
            if stopped is not None and took_over is None and led_b:
                took_over = now - stopped
            now += STEP
        assert took_over is not None and took_over <= TTL + STEP
        assert leases.current(b.db).holder == "b" and leases.current(b.db).token == 2
        assert duplicates(b.db) == []
        for i in range(5):
            found = b.db.query(
                "SELECT logical_time FROM ticks WHERE deployment = :d ORDER BY 1", {"d": f"d{i}"}
            )
            assert [r["logical_time"] for r in found] == every_minute(T0 - 1.0 - MINUTE, now - STEP)
        a.store.close()
        b.close()


def test_a_leader_paused_past_its_lease_is_fenced_when_it_wakes(backend, tmp_path, suiro_home):
    target = write_ticking(tmp_path)
    with clock.use(ManualClock(start=T0)):
        a = Scheduler(suiro_home, launch=False, ttl=TTL, holder="a")
        b = Scheduler(suiro_home, launch=False, ttl=TTL, holder="b")
        deploy(a.db, "d", target, "* * * * *", catchup="all")
        assert a.run_pass(T0 - 1.0).leader
        # a is paused (SIGSTOP, a long GC) from here; b takes over once a's lease expired
        took = b.run_pass(T0 - 1.0 + TTL + 1.0)
        assert took.leader and took.created == 1  # the tick at T0
        # a wakes believing it is still T0 + 1: its lease looks fresh to it, the tick at T0 due
        woke = a.run_pass(T0 + 1.0)
        assert not woke.leader and woke.created == 0
        tokens = b.db.query("SELECT token FROM ticks WHERE logical_time = :t", {"t": T0})
        assert tokens == [{"token": 2}]  # b's, not a's
        assert duplicates(b.db) == []
        a.close()
        b.close()


@pytest.mark.slow
def test_two_real_schedulers_the_standby_takes_over_after_a_sigkill(tmp_path, suiro_home):
    from suiro.store.db import Database

    db = Database.open(f"sqlite:///{suiro_home / 'suiro.db'}")
    env = {**os.environ, "SUIRO_HOME": str(suiro_home)}
    argv = [sys.executable, "-m", "suiro", "scheduler", "--lease-ttl", "2"]
    procs = [
        subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, start_new_session=True) for _ in range(2)
    ]
    try:
        wait_for(lambda: leases.current(db) is not None, timeout=30)
        holder = leases.current(db).holder
        leader = next(p for p in procs if f":{p.pid}:" in holder)
        standby = next(p for p in procs if p is not leader)
        time.sleep(1.0)
        assert f":{standby.pid}:" not in leases.current(db).holder
        os.kill(leader.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: f":{standby.pid}:" in leases.current(db).holder, timeout=30)
        assert time.monotonic() - killed <= 2.0 + 1.0 + 1.0  # TTL + one poll + slack
        assert leases.current(db).token == 2
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=30)
        db.close()
