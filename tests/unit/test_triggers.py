"""triggers.scan: one Tick per new file and per finished upstream run, pure reads, free without triggers."""

from __future__ import annotations

import os
import time

import pytest

from suiro import api, deployments, pipeline, task, triggers
from suiro.runinfo import Scheduled, Tick
from suiro.store import deployments as rows
from suiro.store.db import Database
from suiro.store.home import Store


@task
def passes(ok: bool) -> bool:
    if not ok:
        raise RuntimeError("told to fail")
    return ok


@pipeline
def etl(ok: bool = True):
    return passes(ok)


@pipeline
def load(path: str = "none"):
    return passes(True)


def record(name: str, ticks: list[Tick]) -> None:
    """What the scheduler (part C) does with the ticks: one row each, unique per deployment."""
    with Store().db.write() as tx:
        for i, tick in enumerate(ticks):
            tx.execute(
                'INSERT INTO ticks (deployment, logical_time, interval_start, interval_end, "trigger",'
                " event_key, params, run_id, created) VALUES (:d, :t, :s, :e, :trigger, :k, '{}', :run, 0)",
                {
                    "d": name,
                    "t": tick.logical_time,
                    "s": tick.interval_start,
                    "e": tick.interval_end,
                    "trigger": tick.trigger,
                    "k": tick.event_key,
                    "run": f"{name}-{tick.logical_time}-{i}",
                },
            )


def row(name: str) -> rows.DeploymentRow:
    found = rows.get(Store().reader, name)
    assert found is not None
    return found


def test_a_deployment_without_triggers_costs_nothing_not_even_a_read(tmp_path):
    closed = Database(f"sqlite:///{tmp_path / 'closed.db'}")
    closed.close()  # any query on it would raise
    plain = [rows.DeploymentRow(name=f"d{i}", target="x:y", pipeline="y") for i in range(1000)]
    started = time.perf_counter()
    assert all(triggers.scan(closed, r, 1e9) == [] for r in plain)
    assert time.perf_counter() - started < 0.05


def test_each_new_file_gives_one_tick_once_and_a_rewritten_file_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for name in ("a.csv", "b.csv", "notes.txt"):
        (incoming / name).write_text(name)
    (incoming / "dir.csv").mkdir()  # a folder is not a file
    deployments.deploy(name="load", pipeline=load, triggers=[triggers.on_file("incoming/*.csv")])
    now = 2_000_000_000.0
    ticks = triggers.scan(Store().reader, row("load"), now)
    paths = [str(incoming / "a.csv"), str(incoming / "b.csv")]
    assert [t.params for t in ticks] == [{"path": p} for p in paths]
    assert [t.event_key for t in ticks] == [f"file:{p}@{os.stat(p).st_mtime_ns}" for p in paths]
    assert {t.trigger for t in ticks} == {"file"} and len({t.logical_time for t in ticks}) == 2
    assert all(now <= t.logical_time < now + 0.001 for t in ticks)
    record("load", ticks)
    assert triggers.scan(Store().reader, row("load"), now + 60) == []
    os.utime(incoming / "b.csv", ns=(1, os.stat(incoming / "b.csv").st_mtime_ns + 10**9))
    (again,) = triggers.scan(Store().reader, row("load"), now + 120)
    assert again.params == {"path": paths[1]} and again.event_key != ticks[1].event_key


def test_a_file_tick_never_takes_a_logical_time_already_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("x")
    deployments.deploy(name="load", pipeline=load, cron="* * * * *", triggers=[triggers.on_file("*.csv")])
    minute = 2_000_000_040.0 - 2_000_000_040.0 % 60  # a fire instant of the cron
    record("load", [Tick(logical_time=minute + 1e-6)])
    (tick,) = triggers.scan(Store().reader, row("load"), minute)
    assert tick.logical_time not in (minute, minute + 1e-6) and tick.logical_time < minute + 0.001


def run_etl(ok: bool, at: float) -> str:
    scheduled = Scheduled(deployment="etl", logical_time=at, interval_start=at - 86400, interval_end=at)
    return api.run(etl, {"ok": ok}, executor="sequential", scheduled=scheduled).run_id


@pytest.mark.parametrize(
    ("state", "fires_on"), [("success", [True]), ("failed", [False]), ("finished", [True, False])]
)
def test_an_after_trigger_fires_once_per_upstream_run_that_ends_in_its_state(state, fires_on):
    deployments.deploy(name="etl", pipeline=etl)
    before = run_etl(True, 1_000.0)  # ended before the downstream existed: not its business
    time.sleep(0.01)
    deployments.deploy(name="train", pipeline=load, triggers=[triggers.after("etl", state=state)])
    ran = {ok: run_etl(ok, at) for ok, at in ((True, 86_400.0), (False, 2 * 86_400.0))}
    ticks = triggers.scan(Store().reader, row("train"), time.time())
    assert [t.event_key for t in ticks] == [f"after:{ran[ok]}" for ok in fires_on]
    assert f"after:{before}" not in {t.event_key for t in ticks}
    first = ticks[0]
    upstream_time = 86_400.0 if fires_on[0] else 2 * 86_400.0
    assert (first.trigger, first.logical_time, first.interval_end) == ("after", upstream_time, upstream_time)
    assert first.interval_start == upstream_time - 86_400
    record("train", ticks)
    assert triggers.scan(Store().reader, row("train"), time.time()) == []
