"""R4 (fencing, G4/G5) and R16's crash alert (G8): a paused runner cannot commit over its verdict.

(a) The runner is SIGSTOPped mid-task. While its heartbeat is fresh nothing happens; once the
    injected clock says it is older than the stale timeout, the reaper declares the run crashed,
    the run is resumed and finishes, and when the old process is continued its next commit is
    refused (compare-and-set on the run's state): it stops, recording nothing, and says so.
(b) A runner killed right after its run row is committed, before any heartbeat, is found dead
    by its pid; a run on another host with no heartbeat at all is found by its start time, but
    only once the stale timeout has passed.
R16: the reaper, not the dead process, announces the crash, exactly once however many readers
    reap at the same time; a failing webhook never changes the verdict.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from pipelines.webhook_stub import Hook
from rel_harness import rows, task_states, write_diamond, write_locked

from suiro import clock, crashes, history, notify
from suiro.clock import ManualClock
from suiro.store import reaper
from suiro.store.db import Database


def reap(db: Database) -> list[str]:
    """The ids of the runs the reaper declared crashed now (it sends no alert)."""
    return [crash.run_id for crash in reaper.reap(db)]


PAUSED = """
import os
import time
from pathlib import Path

from suiro import context, pipeline, task

ROOT = Path(__file__).parent


def mark(name):
    ctx = context()
    with open(ROOT / "ledger.txt", "a") as ledger:
        ledger.write(f"{name} {ctx.run_id} {ctx.attempt} {os.getpid()}\\n")


@task
def first() -> int:
    mark("first")
    return 1


@task
def slow(x: int) -> int:
    mark("slow")
    while not (ROOT / "go").exists():  # the test lets it finish
        time.sleep(0.02)
    return x + 1


@task
def last(y: int) -> int:
    mark("last")
    return y * 10


@pipeline
def paused():
    return last(slow(first()))
"""


def _ledger(root: Path) -> list[tuple[str, str]]:
    path = root / "ledger.txt"
    return [tuple(line.split()[:2]) for line in path.read_text().splitlines()] if path.exists() else []


def _process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait(predicate, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.communicate()[0]
            pytest.fail(f"{what} never happened; output:\n{out}")
        time.sleep(0.02)


@pytest.fixture
def paused_run(tmp_path):
    """``suiro run paused.py`` stopped (SIGSTOP) while ``slow`` runs, after ``first`` is committed."""
    cli = Cli(tmp_path)
    cli.write("paused.py", PAUSED)
    proc = subprocess.Popen(
        cli.argv("run", "paused.py"),
        env=cli.env(),
        cwd=cli.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: any(task == "slow" for task, _ in _ledger(cli.root)), proc, "task slow starting")
        run_id = _ledger(cli.root)[0][1]
        _wait(lambda: task_states(cli.home, run_id).get("first") == "success", proc, "first committed")
        os.kill(proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while _process_state(proc.pid) != "T":  # the signal is delivered asynchronously
            assert time.monotonic() < deadline, "SIGSTOP was not delivered"
            time.sleep(0.01)
        yield cli, proc, run_id
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()


def test_r4a_a_paused_runner_is_reaped_after_the_stale_timeout_and_fenced_when_it_returns(paused_run):
    cli, proc, run_id = paused_run
    db = Database.open(f"sqlite:///{cli.home / 'suiro.db'}")

    assert reap(db) == [], "stopped, but its heartbeat is fresh: not dead yet"
    later = ManualClock(start=time.time() + reaper.STALE_AFTER + 5)
    with clock.use(later):
        assert reap(db) == [run_id]
    (run,) = rows(cli.home, "SELECT state, error FROM runs WHERE id = ?", (run_id,))
    assert run["state"] == "crashed"

    (cli.root / "go").touch()
    resumed = re.search(r"^run (\S+) success", cli.ok("resume", run_id).stdout, re.M).group(1)

    os.kill(proc.pid, signal.SIGCONT)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0, out
    assert f"run {run_id} was declared crashed" in out, out
    # It was resumed meanwhile: the advice names that resume instead of resuming it again.
    assert f"already resumed by run {resumed} (success)" in out and f"suiro resume {run_id}" not in out, out

    (run,) = rows(cli.home, "SELECT state, error FROM runs WHERE id = ?", (run_id,))
    assert run["state"] == "crashed", "the verdict stands"
    assert run["error"].startswith(f"fenced: its process {proc.pid} came back"), run
    old = task_states(cli.home, run_id)
    assert (old["first"], old["slow"]) == ("success", "failed") and old["last"] in ("pending", "failed")
    successes = rows(
        cli.home,
        "SELECT task_key, COUNT(*) AS n FROM attempts WHERE state = 'success' AND run_id IN (?, ?)"
        " GROUP BY task_key",
        (run_id, resumed),
    )
    assert {r["task_key"]: r["n"] for r in successes} == {"first": 1, "slow": 1, "last": 1}
    assert task_states(cli.home, resumed) == {"first": "cached", "slow": "success", "last": "success"}
    assert history.check(home=cli.home) == []


def test_r4b_a_runner_killed_before_its_first_heartbeat_is_found_by_its_pid(tmp_path):
    cli = Cli(tmp_path)
    write_diamond(tmp_path)
    killed = cli("run", "diamond.py", env={"SUIRO_FAULTPOINTS": "db.after_commit:kill:1"})
    assert killed.returncode == -signal.SIGKILL
    (run,) = rows(cli.home, "SELECT id, state, heartbeat, started FROM runs")
    assert run["state"] == "running" and run["heartbeat"] == run["started"], "nothing after the run row"
    assert set(task_states(cli.home, run["id"]).values()) == {"pending"}

    db = Database.open(f"sqlite:///{cli.home / 'suiro.db'}")
    assert reap(db) == [run["id"]], "its pid is gone: dead at once, no timeout needed"
    assert history.check(home=cli.home) == []


def test_r4b_a_remote_run_that_never_heartbeated_is_reaped_by_its_start_time(tmp_path):
    cli = Cli(tmp_path)
    write_diamond(tmp_path)
    cli("run", "diamond.py", env={"SUIRO_FAULTPOINTS": "db.after_commit:kill:1"})
    db = Database.open(f"sqlite:///{cli.home / 'suiro.db'}")
    with db.write() as tx:  # as if written by a runner on another machine that died before its heartbeat
        tx.execute("UPDATE runs SET host = 'elsewhere', heartbeat = NULL")
    (run,) = rows(cli.home, "SELECT id, started FROM runs")

    with clock.use(ManualClock(start=run["started"] + reaper.STALE_AFTER - 1)) as manual:
        assert reap(db) == [], "younger than the stale timeout: it may still be starting"
        manual.advance(2)
        assert reap(db) == [run["id"]]
    (ended,) = rows(cli.home, "SELECT state, ended FROM runs")
    assert ended == {"state": "crashed", "ended": run["started"]}, "ended when it was last known alive"


def _killed_run(cli: Cli) -> str:
    write_diamond(cli.root)
    assert cli("run", "diamond.py", env={"SUIRO_FAULTPOINTS": "runner.task_done:kill:2"}).returncode < 0
    (run,) = rows(cli.home, "SELECT id, state FROM runs")
    assert run["state"] == "running"
    return run["id"]


def test_r16_the_reaper_sends_exactly_one_crash_alert_however_many_readers_reap(tmp_path):
    cli = Cli(tmp_path)
    run_id = _killed_run(cli)
    hook = Hook([200])
    try:
        env = cli.env({"SUIRO_ALERT_WEBHOOK": hook.url})
        # Reader A takes the write lock for its verdict and holds it for 3 s before committing;
        # reader B reads the run as running meanwhile, then waits for the lock: both decided
        # "dead", only the compare-and-set can keep B from a second verdict and alert.
        slow = {**env, "SUIRO_FAULTPOINTS": "db.before_commit:sleep:3"}
        a = subprocess.Popen(cli.argv("runs", "--json"), env=slow, cwd=cli.root, stdout=subprocess.DEVNULL)
        _wait(lambda: write_locked(cli.home), a, "reader A holding the write lock")
        b = subprocess.Popen(cli.argv("runs", "--json"), env=env, cwd=cli.root, stdout=subprocess.DEVNULL)
        assert (a.wait(timeout=60), b.wait(timeout=60)) == (0, 0)
        cli.ok("runs", env={"SUIRO_ALERT_WEBHOOK": hook.url})  # and a later reader sends nothing more
    finally:
        hook.close()
    (alert,) = hook.requests
    assert alert["key"] == f"suiro-run-{run_id}-crashed"
    details = alert["body"]["suiro"]
    # The task named is one that was unfinished when the run died: which one is a race of the kill,
    # and when it died before the next task's start was committed, none was recorded as running
    # (the alert and the line on stderr say so).
    task = details["task"]
    assert task in {"load", "left", "right", "join", None}
    assert details | {"reason": "", "error": ""} == {
        "level": "error",
        "event": "crashed",
        "run_id": run_id,
        "pipeline": "diamond",
        "deployment": None,
        "state": "crashed",
        "task": task,
        "error": "",
        "logs": notify.logs_command(run_id, task),
        "reason": "",
    }
    assert f"suiro run {run_id} of diamond crashed" in alert["body"]["text"]
    assert f"suiro resume {run_id}" in alert["body"]["text"]


def test_r16_a_failing_crash_alert_is_retried_a_bounded_number_of_times_and_changes_nothing(tmp_path):
    cli = Cli(tmp_path)
    run_id = _killed_run(cli)
    hook = Hook([500])
    db = Database.open(f"sqlite:///{cli.home / 'suiro.db'}")
    try:
        os.environ["SUIRO_ALERT_WEBHOOK"] = hook.url
        with clock.use(ManualClock()) as manual:
            assert [crash.run_id for crash in crashes.reap(db)] == [run_id]
    finally:
        del os.environ["SUIRO_ALERT_WEBHOOK"]
        hook.close()
    assert len(hook.requests) == 4, "the first try and 3 retries"
    assert Counter(r["key"] for r in hook.requests) == {f"suiro-run-{run_id}-crashed": 4}
    assert manual.sleeps == [0.5, 1.0, 2.0], "exponential backoff, on the injected clock"
    assert rows(cli.home, "SELECT state FROM runs") == [{"state": "crashed"}]
    assert crashes.reap(db) == [], "the verdict was made once; the alert is not sent again"
