"""R17 (first part, G8): lines printed before a worker is SIGKILLed survive, and retries keep them.

A task on the processes executor prints 1,000 numbered lines and a marker, then its worker
process SIGKILLs itself on the first attempt; the infrastructure retry prints its own lines and
succeeds. Every line of the dead attempt, up to the marker, is in its own log file and in
``suiro logs RUN TASK --attempt 1``; the second attempt's log is a separate file.
"""

from __future__ import annotations

from pipelines.cli_harness import Cli

NOISY = """
import os
import signal

from suiro import context, pipeline, task


@task
def noisy() -> int:
    attempt = context().attempt
    for i in range(1000):
        print(f"attempt {attempt} line {i}")
    print(f"attempt {attempt} last line before the kill")
    if attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return attempt


@pipeline
def loud():
    return noisy()
"""


def test_r17_lines_before_a_kill_survive_and_each_attempt_keeps_its_own_log(tmp_path):
    cli = Cli(tmp_path)
    cli.write("loud.py", NOISY)
    run_id = cli.ok("run", "loud.py", "--executor", "processes").run_id

    first = cli.home / "logs" / run_id / "noisy.1.log"
    second = cli.home / "logs" / run_id / "noisy.2.log"
    lines = first.read_text().splitlines()
    assert lines == [f"attempt 1 line {i}" for i in range(1000)] + ["attempt 1 last line before the kill"]
    assert second.read_text().splitlines()[-1] == "attempt 2 last line before the kill"

    shown = cli.ok("logs", run_id, "noisy", "--attempt", "1").stdout.splitlines()
    assert shown[0] == "== noisy attempt 1 (retrying)"
    assert shown[1 : 1 + len(lines)] == lines, "the CLI shows the dead attempt's lines"
    assert shown[1 + len(lines) :] == [  # then how it ended (since the web UI: the traceback, here one line)
        "suiro.errors.WorkerCrashedError: the process running task noisy died (exit code -9) before it"
        " finished; check the task for crashes or memory use, then rerun it."
    ]
    both = cli.ok("logs", run_id, "noisy").stdout.splitlines()
    assert [line for line in both if line.startswith("== ")] == [
        "== noisy attempt 1 (retrying)",
        "== noisy attempt 2 (success)",
    ]
