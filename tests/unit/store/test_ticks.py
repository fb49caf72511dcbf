"""Ticks are recorded at most once (G6): by logical time, by event key, whoever inserts them; the
cursor moves with them; claims, child take-overs and relaunches are compare-and-set."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from suiro.runinfo import Tick
from suiro.store import deployments, leases, ticks
from suiro.store import ticks as ticks_module
from suiro.store.db import Database
from suiro.store.deployments import DeploymentRow
from suiro.store.leases import LeaseLostError


@pytest.fixture
def db(tmp_path):
    database = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    deployments.save(database, DeploymentRow(name="nightly", target="x.py:p", pipeline="p"))
    yield database
    database.close()


def count(db: Database) -> int:
    return db.query("SELECT count(*) AS n FROM ticks")[0]["n"]


def test_a_tick_is_recorded_once_however_often_it_is_created(db):
    made = ticks.create(db, "nightly", [Tick(logical_time=100.0), Tick(logical_time=200.0)], now=1.0)
    assert len(made) == 2 and len(set(made)) == 2
    again = ticks.create(db, "nightly", [Tick(logical_time=200.0), Tick(logical_time=300.0)], now=2.0)
    assert len(again) == 1 and again[0] not in made
    assert count(db) == 3
    assert ticks.create(db, "other", [Tick(logical_time=100.0)], now=3.0)  # per deployment


def test_an_event_key_is_recorded_once(db):
    key = "file:/d/a.csv@1"
    file_tick = Tick(logical_time=1.0, trigger="file", event_key=key, params={"path": "/d/a.csv"})
    assert ticks.create(db, "nightly", [file_tick], now=1.0)
    moved = Tick(logical_time=2.0, trigger="file", event_key="file:/d/a.csv@1")
    assert ticks.create(db, "nightly", [moved], now=2.0) == []
    (row,) = ticks.queued(db)
    assert row.params == {"path": "/d/a.csv"} and row.trigger == "file"


def test_a_run_id_taken_already_is_replaced_not_the_tick_dropped(db, monkeypatch):
    ids = iter(["20260101-000000-aaaaaa", "20260101-000000-aaaaaa", "20260101-000000-bbbbbb"])
    monkeypatch.setattr(ticks_module, "new_run_id", lambda: next(ids))
    made = ticks.create(db, "nightly", [Tick(logical_time=1.0), Tick(logical_time=2.0)], now=1.0)
    assert made == ["20260101-000000-aaaaaa", "20260101-000000-bbbbbb"]


def test_the_cursor_moves_with_the_ticks_and_never_back(db):
    ticks.create(db, "nightly", [Tick(logical_time=100.0)], now=1.0, cursor=100.0)
    assert deployments.get(db, "nightly").cursor == 100.0
    ticks.create(db, "nightly", [], now=1.0, cursor=50.0)
    assert deployments.get(db, "nightly").cursor == 100.0


def test_a_scheduler_that_lost_its_lease_creates_nothing(db):
    old = leases.acquire(db, "a", 5.0, now=0.0)
    assert ticks.create(db, "nightly", [Tick(logical_time=1.0)], now=1.0, lease=old, cursor=1.0)
    leases.acquire(db, "b", 5.0, now=10.0)
    with pytest.raises(LeaseLostError):
        ticks.create(db, "nightly", [Tick(logical_time=2.0)], now=11.0, lease=old, cursor=2.0)
    assert count(db) == 1 and deployments.get(db, "nightly").cursor == 1.0
    (tick,) = ticks.queued(db)
    with pytest.raises(LeaseLostError):
        ticks.claim(db, tick.run_id, pid=1, now=12.0, lease=old)
    assert ticks.get(db, tick.run_id).state == "queued"


def test_a_tick_is_claimed_by_one_launcher_and_taken_over_by_its_child_only(db):
    (run_id,) = ticks.create(db, "nightly", [Tick(logical_time=1.0)], now=1.0)
    assert ticks.claim(db, run_id, pid=111, now=2.0)
    assert not ticks.claim(db, run_id, pid=222, now=2.0)
    assert not ticks.start(db, run_id, launcher=222, pid=333, now=3.0)  # not its launcher
    assert ticks.start(db, run_id, launcher=111, pid=444, now=3.0)
    row = ticks.get(db, run_id)
    assert (row.state, row.pid) == ("launched", 444)
    assert ticks.active(db) == {"nightly": 1}
    assert not ticks.unclaim(db, run_id, pid=111)  # its child has it: the launcher cannot take it back


def test_a_tick_no_process_could_be_started_for_goes_back_to_the_queue(db):
    (run_id,) = ticks.create(db, "nightly", [Tick(logical_time=1.0)], now=1.0)
    assert ticks.claim(db, run_id, pid=111, now=2.0)
    assert ticks.unclaim(db, run_id, pid=111)
    assert [t.run_id for t in ticks.queued(db)] == [run_id] and ticks.get(db, run_id).pid is None
    assert ticks.claim(db, run_id, pid=222, now=3.0)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_orphan_is_relaunched_once_and_only_while_its_run_never_appeared(db):
    first, second = ticks.create(db, "nightly", [Tick(logical_time=1.0), Tick(logical_time=2.0)], now=1.0)
    gone = dead_pid()
    for run_id in (first, second):
        assert ticks.claim(db, run_id, pid=gone, now=2.0)
    with db.write() as tx:  # the second one's run row appeared before its process died
        tx.execute(
            "INSERT INTO runs (id, pipeline, params, state, started) VALUES (:id, 'p', '{}', 'success', 2.0)",
            {"id": second},
        )
    (orphan,) = ticks.orphans(db)
    assert orphan.run_id == first
    now = time.time()
    assert ticks.relaunch(db, orphan, pid=os.getpid(), now=now)
    assert not ticks.relaunch(db, orphan, pid=666, now=now)  # compared with the dead pid: lost
    assert not ticks.start(db, first, launcher=gone, pid=777, now=now)  # the dead launcher's child
    assert ticks.get(db, first).pid == os.getpid()
    assert ticks.orphans(db) == []  # its launcher (this process) is alive
