"""A task that forks: only the process that started the attempt reports and records it.

``pid = os.fork(); if pid == 0: sys.exit(0)`` is how many programs daemonise. The child is a
copy of whatever ran the task: on the sequential and threads executors, a copy of the runner
itself. Before the fix the child's ``SystemExit`` became the task's outcome (the task failed with
``SystemExit: 0``), or, when the child returned normally, the child went on running the rest of
the pipeline and recorded the run, so the real runner was then "fenced" and exited 2; on the
processes executor the child's outcome reached the runner first and the parent's later, out of
step with the next attempt. Whatever the child does (exits, returns, raises), it must end there,
silently for the record, with an exit status the parent can read (0, 0, 1), and the task must
succeed with the parent's return value, recorded once, the runner exiting 0.
"""

from __future__ import annotations

import pytest
from pipelines.cli_harness import Cli
from rel_harness import rows

FORKING = """
import os
import sys
import time

from suiro import pipeline, task


@task
def forky(x: int, mode: str) -> tuple:
    pid = os.fork()
    if pid == 0:  # the child
        print(f"child {mode} here")
        if mode == "exit":
            sys.exit(0)
        if mode == "raise":
            raise RuntimeError("child boom")
        return ("child", -1)  # mode "return": fall off the task like the parent
    _, status = os.waitpid(pid, 0)
    return ("parent", x + 1, os.waitstatus_to_exitcode(status))


@task
def beside() -> int:
    time.sleep(0.05)
    return 7


@task
def after(value: tuple, other: int) -> tuple:
    return (*value, other)


@pipeline
def alone(x: int = 1, mode: str = "exit"):
    return after(forky(x, mode), 0)


@pipeline
def besides(x: int = 1, mode: str = "exit"):
    return after(forky(x, mode), beside())
"""

#: (executor, alone): alone on threads, the runner runs the task in its own thread; beside
#: another task, on a worker thread.
PLACES = [("sequential", True), ("threads", True), ("threads", False), ("processes", True)]
#: What the child does, and the exit status its parent must see.
CHILDREN = [("exit", 0), ("return", 0), ("raise", 1)]


@pytest.mark.parametrize(("mode", "status"), CHILDREN, ids=[c[0] for c in CHILDREN])
@pytest.mark.parametrize(
    ("executor", "alone"), PLACES, ids=["sequential", "threads-inline", "threads-pool", "processes"]
)
def test_a_forked_child_of_a_task_never_reports_nor_records(tmp_path, executor, alone, mode, status):
    cli = Cli(tmp_path)
    cli.write("forks.py", FORKING)
    result = cli(
        "run", f"forks.py:{'alone' if alone else 'besides'}", "--executor", executor,
        "--workers", "1" if executor != "threads" else "2", "--set", f"mode={mode}",
    )  # fmt: skip
    assert result.returncode == 0, str(result)
    assert "fenced" not in result.stdout + result.stderr, str(result)
    other = 0 if alone else 7
    assert result.output == repr(("parent", 2, status, other)), str(result)

    (run,) = rows(cli.home, "SELECT id, state, error FROM runs")
    assert (run["state"], run["error"]) == ("success", None)
    tasks = {
        r["task_key"]: (r["state"], r["attempts"])
        for r in rows(cli.home, "SELECT task_key, state, attempts FROM task_runs")
    }
    assert tasks["forky"] == ("success", 1)
    assert tasks["after"] == ("success", 1)
    attempts = rows(cli.home, "SELECT task_key, state, error_type FROM attempts WHERE task_key = 'forky'")
    assert attempts == [{"task_key": "forky", "state": "success", "error_type": None}]
    # What the child printed (and its traceback) went to the attempt's log, not to the runner's.
    log = (cli.home / "logs" / run["id"] / "forky.1.log").read_text()
    assert f"child {mode} here" in log
    assert ("child boom" in log) == (mode == "raise")
    assert "child" not in result.stdout.replace("'parent'", "")
