"""R13: retries, backoff and timeouts, counted by a ledger and the record, not by mocks.

A transient error is retried exactly ``retries`` times with growing delays; an error outside
``retry_on`` gets one attempt; a task sleeping past its timeout is stopped on the threads and the
processes executor alike, recorded as failed with ``TaskTimeoutError``, and leaves no process.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from reliability.rel_harness import LEDGER_ENV, is_alive, live_children, read_ledger, rows

from suiro import api

TASKS = """
import os
import time

from suiro import clock, context, pipeline, task


def mark(name):
    ctx = context()  # the time is suiro's clock: a test's injected one in this process
    line = f"{name} {ctx.run_id} {ctx.attempt} {os.getpid()} {clock.now():.6f}\\n"
    fd = os.open(os.environ["REL_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line.encode())
    os.close(fd)


@task(retries=3, retry_delay=0.05, backoff=2.0, retry_on=(ConnectionError,))
def flaky(succeed_at: int) -> int:
    mark("flaky")
    if context().attempt < succeed_at:
        raise ConnectionError(f"attempt {context().attempt} fails on purpose")
    return context().attempt


@task(retries=3, retry_on=(ConnectionError,))
def wrong(x: int) -> int:
    mark("wrong")
    raise ValueError("not retryable")


@task(timeout=0.5, retries=1)
def sleepy(x: int) -> int:
    mark("sleepy")
    time.sleep(30)
    return x


@pipeline
def transient(succeed_at: int = 4):
    return flaky(succeed_at)


@pipeline
def not_retryable():
    return wrong(1)


@pipeline
def hanging():
    return sleepy(1)
"""


@pytest.fixture
def source(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "ledger.txt"))
    path = tmp_path / "retrying.py"
    path.write_text(TASKS)
    return path


def _attempts(home: Path, run_id: str, task: str) -> list[dict]:
    return rows(
        home,
        "SELECT attempt, state, error_type FROM attempts WHERE run_id = ? AND task_key = ? ORDER BY attempt",
        (run_id, task),
    )


def test_a_transient_error_is_retried_with_backoff_until_it_succeeds(
    source, suiro_home, tmp_path, manual_clock
):
    result = api.run(f"{source}:transient", executor="sequential")
    assert result.ok
    assert result.output == 4
    ledger = [e for e in read_ledger(tmp_path / "ledger.txt") if e.task == "flaky"]
    assert [e.attempt for e in ledger] == [1, 2, 3, 4]  # monotonic, no gaps
    assert manual_clock.sleeps == pytest.approx([0.05, 0.1, 0.2]), "backoff on the injected clock, each once"
    gaps = [b.time - a.time for a, b in itertools.pairwise(ledger)]
    assert gaps == pytest.approx([0.05, 0.1, 0.2], abs=1e-6)
    states = [a["state"] for a in _attempts(suiro_home, result.run_id, "flaky")]
    assert states == ["retrying", "retrying", "retrying", "success"]


def test_retries_run_out_after_exactly_retries_plus_one_attempts(source, suiro_home, tmp_path):
    result = api.run(f"{source}:transient", params={"succeed_at": 99}, executor="sequential")
    assert not result.ok
    assert [e.attempt for e in read_ledger(tmp_path / "ledger.txt")] == [1, 2, 3, 4]
    attempts = _attempts(suiro_home, result.run_id, "flaky")
    assert [a["state"] for a in attempts] == ["retrying", "retrying", "retrying", "failed"]
    assert {a["error_type"] for a in attempts} == {"ConnectionError"}


def test_an_error_outside_retry_on_gets_one_attempt(source, suiro_home, tmp_path):
    result = api.run(f"{source}:not_retryable", executor="sequential")
    assert [e.attempt for e in read_ledger(tmp_path / "ledger.txt")] == [1]
    assert [(a["state"], a["error_type"]) for a in _attempts(suiro_home, result.run_id, "wrong")] == [
        ("failed", "ValueError")
    ]


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_a_task_past_its_timeout_is_stopped_recorded_and_leaves_no_process(
    source, suiro_home, tmp_path, executor
):
    before = live_children()
    start = time.monotonic()
    result = api.run(f"{source}:hanging", executor=executor, workers=1)
    elapsed = time.monotonic() - start
    assert elapsed < 20, "the 30 s sleeps were cut at the 0.5 s timeout"
    assert result.tasks["sleepy"].state.value == "failed"
    attempts = _attempts(suiro_home, result.run_id, "sleepy")
    assert [a["state"] for a in attempts] == ["retrying", "failed"]  # a timeout is retryable
    assert {a["error_type"] for a in attempts} == {"suiro.errors.TaskTimeoutError"}
    pids = {e.pid for e in read_ledger(tmp_path / "ledger.txt")}
    assert len(pids) == 2, "each attempt ran in a fresh, killable process"
    deadline = time.monotonic() + 5
    while (any(is_alive(p) for p in pids) or live_children() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(is_alive(p) for p in pids), "a timed-out task's process outlived it"
    assert live_children() - before == set(), "the run left child processes behind"
