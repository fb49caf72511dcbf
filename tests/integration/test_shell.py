"""Shell tasks from Python (``suiro.run``), with real commands: what the CLI tests cannot see.

A cancel from another thread must kill the command's process group while this process lives on
(the threads executor abandons its threads, so only the task itself can stop its command); a
command that exits leaving a background process behind ends at once and leaves nothing running;
a command given by a reference is checked when the task runs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import suiro
from suiro import RunState, TaskState, pipeline, shell, task
from suiro.cancel import Cancellation


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not reaped by pid 1 here, is not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def pids(*paths: Path, timeout: float = 30) -> list[int]:
    """The pids the commands wrote, once they all have."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() and p.read_text().strip() for p in paths):
        assert time.monotonic() < deadline, f"the commands never wrote {paths}"
        time.sleep(0.02)
    return [int(p.read_text()) for p in paths]


def alive_after(found: list[int], within: float) -> list[int]:
    """Those of ``found`` still alive ``within`` seconds from now (killed then, so none stays)."""
    deadline = time.monotonic() + within
    while (alive := [p for p in found if is_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    return alive


@task
def join(a: str, b: str) -> str:
    return a + b


def test_cancelling_from_another_thread_kills_commands_running_on_worker_threads(tmp_path):
    @pipeline
    def waiting():
        a = shell(f"sleep 60 & echo $! > {tmp_path}/a.pid; wait", name="a")
        b = shell(f"sleep 60 & echo $! > {tmp_path}/b.pid; wait", name="b")
        return join(a, b)

    cancel = Cancellation()
    results: list[suiro.RunResult] = []
    runner = threading.Thread(
        target=lambda: results.append(
            suiro.run(waiting, executor="threads", workers=2, cancel=cancel, home=tmp_path / "home")
        )
    )
    runner.start()
    found = pids(tmp_path / "a.pid", tmp_path / "b.pid")
    cancel.request("test")
    runner.join(timeout=30)
    assert results and results[0].state is RunState.CANCELLED
    assert alive_after(found, within=2.0) == [], "a command outlived the cancel of its run"


def test_a_command_that_leaves_a_background_process_ends_with_it(tmp_path):
    @pipeline
    def daemonizing():
        return shell(f"sleep 60 & echo $! > {tmp_path}/bg.pid; echo started", name="spawn")

    start = time.monotonic()
    result = suiro.run(daemonizing, home=tmp_path / "home")
    assert time.monotonic() - start < 10, "the task waited for the background process"
    assert (result.state, result.output) == (RunState.SUCCESS, "started")
    assert alive_after(pids(tmp_path / "bg.pid"), within=1.0) == []


def test_a_command_from_an_upstream_output_is_checked_when_the_task_runs(tmp_path):
    @task
    def make() -> int:
        return 7

    @pipeline
    def wrong():
        return shell(make(), name="run_it")

    result = suiro.run(wrong, home=tmp_path / "home")
    task_result = result.tasks["run_it"]
    assert task_result.state is TaskState.FAILED
    (error,) = task_result.errors
    assert error.type == "suiro.errors.ShellCommandError"
    assert error.message == (
        "task run_it got the command 7 (int); a command is a string (run by /bin/sh) or a non-empty list"
        " of strings (run without a shell)."
    )


def test_a_program_that_does_not_exist_is_one_clear_error(tmp_path):
    @pipeline
    def missing():
        return shell(["no-such-program-x", "arg"], name="nothing")

    (error,) = suiro.run(missing, home=tmp_path / "home").tasks["nothing"].errors
    assert error.message == (
        "command 'no-such-program-x arg' of task nothing could not start (No such file or directory:"
        " 'no-such-program-x'); check the program's name, PATH and cwd=."
    )


@pytest.mark.parametrize("executor", ["sequential", "processes"])
def test_a_shell_task_runs_on_every_executor(tmp_path, executor):
    @pipeline
    def both():
        return join(shell("printf x", name="x"), shell(["printf", "y"]))

    result = suiro.run(both, executor=executor, home=tmp_path / "home")
    assert (result.state, result.output) == (RunState.SUCCESS, "xy")
    assert set(result.tasks) == {"x", "printf", "join"}, "a task is named after its program by default"
