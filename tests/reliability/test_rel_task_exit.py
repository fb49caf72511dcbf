"""A task that exits: ``sys.exit`` is a task failure; ``os._exit`` on threads ends the run, and says why.

``sys.exit(3)`` in a task raises ``SystemExit``, which every executor catches like any other
exception: the task fails with ``SystemExit: 3`` and the runner goes on. ``os._exit(3)`` cannot be
caught: on the sequential and threads executors the task runs inside the runner, so the runner
ends with it (exit 3, nothing printed). Suiro cannot stop that, but the record must say what
happened: the reaper's verdict names the task that was running and how to isolate it.
"""

from __future__ import annotations

import json

import pytest
from pipelines.cli_harness import Cli
from rel_harness import rows

from suiro.notify import first_line

EXITS = """
import os
import sys
import time

from suiro import pipeline, task


@task
def first() -> int:
    return 1


@task
def quits(x: int, how: str) -> int:
    time.sleep(0.3)  # recorded as running meanwhile (records are committed within moments)
    if how == "sys.exit":
        sys.exit(3)
    os._exit(3)


@task
def other() -> int:
    return 2


@pipeline
def exits(how: str = "sys.exit"):
    return quits(first(), how), other()
"""


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_sys_exit_in_a_task_is_a_task_failure_and_the_runner_goes_on(tmp_path, executor):
    cli = Cli(tmp_path)
    cli.write("exits.py", EXITS)
    result = cli.expect(1, "run", "exits.py", "--executor", executor)
    assert "quits failed: SystemExit: 3" in result.stdout, str(result)
    tasks = {r["task_key"]: r["state"] for r in rows(cli.home, "SELECT task_key, state FROM task_runs")}
    assert tasks == {"first": "success", "quits": "failed", "other": "success"}
    (run,) = rows(cli.home, "SELECT state FROM runs")
    assert run["state"] == "failed"


@pytest.mark.parametrize("executor", ["sequential", "threads"])
def test_os_exit_in_a_task_inside_the_runner_is_recorded_as_a_crash_naming_the_task(tmp_path, executor):
    cli = Cli(tmp_path)
    cli.write("exits.py", EXITS)
    died = cli.expect(3, "run", "exits.py", "--executor", executor, "--set", "how=os._exit")
    assert "crashed" not in died.stdout + died.stderr, "the dying runner can say nothing"

    shown = cli.ok("show", "last")
    assert "crashed" in shown.stdout
    run = json.loads(cli.ok("show", "last", "--json").stdout)
    assert run["state"] == "crashed"
    error = run["error"]
    assert "is gone while task quits (attempt 1) was running" in error, error
    assert f"on the {executor} executor" in error and "os._exit" in error, error
    assert "timeout=" in error and "--executor processes" in error, error
    assert "error: its process" in shown.stdout.replace("\n", " ")
    assert first_line(error) == error, "an alert's one line would cut the verdict"


def test_os_exit_on_the_processes_executor_fails_only_the_task(tmp_path):
    cli = Cli(tmp_path)
    cli.write("exits.py", EXITS)
    result = cli.expect(1, "run", "exits.py", "--executor", "processes", "--set", "how=os._exit")
    assert "died (exit code 3)" in result.stdout, str(result)
    (run,) = rows(cli.home, "SELECT state, error FROM runs")
    assert (run["state"], run["error"]) == (  # a failed run records its first error (issue 12)
        "failed",
        "task quits failed: suiro.errors.WorkerCrashedError: the process running task quits died "
        "(exit code 3) before it finished; check the task for crashes or memory use, then rerun it.",
    )
