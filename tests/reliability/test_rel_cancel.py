"""R20: SIGINT / SIGTERM stop a run cleanly on every executor, mid-task and while waiting for a retry.

A real ``suiro run`` runs in its own session (so the test can signal its whole process group, as a
terminal's Ctrl-C does, and find every process it started). Tasks append to a ledger file (the
ground truth of what ran) and touch a marker when they start; they wait until the test creates
``fast``. After the signal the test asserts: exit code 130, the resume hint on stderr, the run
recorded ``cancelled`` with the signal as its reason, no task left ``running``, no process of the
run's session alive, no alert at the webhook stub (the reader that looks afterwards finds no dead
run to announce), and ``suiro resume`` finishing the run without re-running what had succeeded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from pipelines.webhook_stub import Hook
from rel_harness import is_alive, rows

PIPES = """
    import hashlib
    import os
    import time
    from pathlib import Path

    from suiro import context, pipeline, task, unmapped

    HERE = Path(__file__).parent


    def mark(name):
        ctx = context()
        with open(HERE / "ledger.txt", "a") as handle:
            handle.write(f"{name} {ctx.run_id} {ctx.attempt} {os.getpid()}\\n")


    def wait_for_fast():
        deadline = time.monotonic() + 60
        while not (HERE / "fast").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


    @task
    def first() -> str:
        mark("first")
        return "F" * 20_000  # over the inline limit: a file in the artifact store


    @task
    def slow(x: str, i: int) -> int:
        mark(f"slow{i}")
        (HERE / f"started{i}").touch()
        wait_for_fast()
        return len(x) + i


    @task
    def lone(x: str) -> int:
        mark("lone")
        (HERE / "started0").touch()
        wait_for_fast()
        return len(x)


    @task(retries=2, retry_delay=60.0)
    def wobbly(x: str) -> int:
        mark("wobbly")
        if (HERE / "broken").exists():
            (HERE / "failed").touch()
            raise ValueError("broken until the test removes the file")
        return len(x)


    @task
    def stubborn(x: str) -> int:
        mark("stubborn")
        (HERE / "started0").touch()
        deadline = time.monotonic() + 60
        while not (HERE / "fast").exists() and time.monotonic() < deadline:
            try:
                time.sleep(0.02)
            except KeyboardInterrupt:  # a task that swallows the interruption
                (HERE / "swallowed").touch()
        return len(x)


    @task
    def native(x: str) -> int:
        mark("native")
        (HERE / "started0").touch()
        rounds = 10 if (HERE / "fast").exists() else 50_000_000  # minutes of one native call
        hashlib.pbkdf2_hmac("sha256", b"x", b"salt", rounds)  # releases the GIL; no Python runs here
        return len(x)


    @task
    def total(values: list[int]) -> int:
        mark("total")
        return sum(values)


    @pipeline
    def fan():
        return total(slow.map(unmapped(first()), [0, 1]))


    @pipeline
    def single():
        return lone(first())


    @pipeline
    def retry():
        return wobbly(first())


    @pipeline
    def mule():
        return stubborn(first())


    @pipeline
    def busy():
        return native(first())
"""

OUTPUTS = {"fan": 40_001, "single": 20_000, "retry": 20_000, "mule": 20_000, "busy": 20_000}
EXECUTORS = ("sequential", "threads", "processes")


@dataclass
class Started:
    """A ``suiro`` process started in a session of its own, and what the test needs to judge it."""

    cli: Cli
    proc: subprocess.Popen[bytes]
    hook: Hook
    env: dict[str, str]

    @property
    def root(self) -> Path:
        return self.cli.root

    def out(self) -> str:
        return (self.root / "out.txt").read_text()

    def err(self) -> str:
        return (self.root / "err.txt").read_text()

    def wait_for(self, *names: str, timeout: float = 60) -> None:
        """Wait until every marker file in ``names`` exists (failing if the process ends first)."""
        deadline = time.monotonic() + timeout
        while not all((self.root / n).exists() for n in names):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"markers {names} never appeared:\n{self.out()}\n{self.err()}")
            time.sleep(0.02)

    def signal(self, signum: int, *, group: bool = False) -> None:
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            os.kill(self.proc.pid, signum)

    def finish(self, timeout: float = 30) -> int:
        """Wait for the process to exit; the fast flag is set only afterwards (a stuck run fails here)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"suiro did not exit within {timeout} s of the signal:\n{self.out()}\n{self.err()}")
        (self.root / "fast").touch()
        return code

    def ledger(self) -> list[tuple[str, str, int]]:
        """(task, run id, pid) per execution of a task body."""
        path = self.root / "ledger.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(task, run, int(pid)) for task, run, _attempt, pid in (line.split() for line in lines)]


@pytest.fixture
def start(tmp_path) -> Iterator:
    started: list[Started] = []

    def start(*args: str, script: str | None = None) -> Started:
        """Start ``suiro *args`` (or ``python script *args``); a second call reuses the home and hook."""
        if started:
            cli, hook, env = started[0].cli, started[0].hook, started[0].env
        else:
            cli = Cli(tmp_path)
            cli.write("pipes.py", PIPES)
            hook = Hook([200])
            env = {"SUIRO_ALERT_WEBHOOK": hook.url}
        argv = [sys.executable, script, *args] if script else cli.argv(*args)
        with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
            proc = subprocess.Popen(
                argv,
                env=cli.env(env),
                cwd=tmp_path,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group and session: signalled and searched whole
            )
        started.append(Started(cli, proc, hook, env))
        return started[-1]

    yield start
    for s in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(s.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            s.proc.wait(timeout=10)
    if started:
        started[0].hook.close()


def session_members(sid: int) -> set[int]:
    """Live (not zombie) processes of session ``sid``, from /proc: whatever the run left running."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def assert_nothing_left(s: Started) -> None:
    """No process of the run's session is alive a moment after it exited (SIGKILL takes a moment)."""
    deadline = time.monotonic() + 2
    while (left := session_members(s.proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes {left} of the cancelled run are still alive"
    pids = {pid for _, _, pid in s.ledger()}
    assert not [pid for pid in pids if is_alive(pid)], "a process that ran a task is still alive"


def run_row(s: Started, run_id: str) -> dict:
    (row,) = rows(s.cli.home, "SELECT state, error, ended FROM runs WHERE id = ?", (run_id,))
    return row


def assert_cancelled(s: Started, code: int, signame: str) -> str:
    """Exit 130, the hint printed, the run recorded cancelled with its reason; returns the run id."""
    assert code == 130, f"exit code {code}\n{s.out()}\n{s.err()}"
    run_id = s.cli.json("runs")[0]["id"]
    assert f"run {run_id} cancelled ({signame}); resume it with: suiro resume {run_id}" in s.err(), s.err()
    assert "Traceback" not in s.err() + s.out()
    row = run_row(s, run_id)
    assert row["state"] == "cancelled", row
    assert signame in (row["error"] or ""), f"no reason recorded: {row}"
    assert f"reason: cancelled by {signame}" in s.cli.ok("show", run_id).stdout
    assert row["ended"] is not None
    states = rows(s.cli.home, "SELECT task_key, map_index, state FROM task_runs WHERE run_id = ?", (run_id,))
    assert not [r for r in states if r["state"] in ("running", "retrying")], states
    attempts = rows(s.cli.home, "SELECT task_key, state FROM attempts WHERE run_id = ?", (run_id,))
    assert not [a for a in attempts if a["state"] == "running"], attempts
    return run_id


def assert_no_crash_alert(s: Started) -> None:
    """The reader that looks next finds nothing dead: the webhook stub received nothing."""
    s.cli.ok("runs", env=s.env)
    assert s.hook.requests == [], f"alerts were sent: {s.hook.requests}"


def resume_and_check(s: Started, run_id: str, pipe: str) -> None:
    """``suiro resume`` finishes the run; what had succeeded before the signal does not run again."""
    (s.root / "broken").unlink(missing_ok=True)
    result = s.cli.ok("resume", run_id, env=s.env)
    assert f"output: {OUTPUTS[pipe]}" in result.stdout, str(result)
    ran = [task for task, _, _ in s.ledger()]
    assert ran.count("first") == 1, f"first ran again on resume: {s.ledger()}"
    assert s.hook.requests == []


#: Each signal on each executor; the default tier runs each executor with one of them (a diagonal).
SIGNALS = {
    "sigint": (signal.SIGINT, False),
    "sigterm": (signal.SIGTERM, False),
    "sigint-to-group": (signal.SIGINT, True),
}
QUICK = {("sequential", "sigterm"), ("threads", "sigint-to-group"), ("processes", "sigint")}


@pytest.mark.parametrize(
    ("executor", "signum", "group"),
    [
        pytest.param(
            executor,
            *SIGNALS[name],
            id=f"{name}-{executor}",
            marks=() if (executor, name) in QUICK else pytest.mark.slow,
        )
        for name in SIGNALS
        for executor in EXECUTORS
    ],
)
def test_a_signal_mid_task_cancels_the_run_kills_its_workers_and_resume_finishes_it(
    start, executor, signum, group
):
    s = start("run", "pipes.py:fan", "--executor", executor, "--workers", "2")
    s.wait_for(*(("started0",) if executor == "sequential" else ("started0", "started1")))
    s.signal(signum, group=group)
    code = s.finish()

    run_id = assert_cancelled(s, code, signal.Signals(signum).name)
    assert_nothing_left(s)
    assert_no_crash_alert(s)
    tasks = {
        (r["task_key"], r["map_index"]): r["state"]
        for r in rows(
            s.cli.home, "SELECT task_key, map_index, state FROM task_runs WHERE run_id = ?", (run_id,)
        )
    }
    assert tasks[("first", -1)] == "success"
    assert tasks[("slow", -1)] == "failed" and tasks[("total", -1)] == "pending"
    cancelled = rows(
        s.cli.home,
        "SELECT error_type, error_message FROM attempts WHERE run_id = ? AND task_key = 'slow'",
        (run_id,),
    )
    assert cancelled and all(a["error_type"] == "suiro.errors.RunCancelledError" for a in cancelled), (
        cancelled
    )
    assert all("cancelled" in a["error_message"] for a in cancelled)
    resume_and_check(s, run_id, "fan")


def test_a_lone_task_in_the_runners_own_thread_is_interrupted_and_a_resume_cancels_too(start):
    """The threads executor runs a task that is all there is to do in the runner's thread."""
    s = start("run", "pipes.py:single", "--executor", "threads")
    s.wait_for("started0")
    s.signal(signal.SIGINT, group=True)
    run_id = assert_cancelled(s, s.finish(timeout=10), "SIGINT")
    assert_nothing_left(s)
    assert_no_crash_alert(s)

    # A resume is cancelled the same way; its hint names the new run, which resumes in turn.
    (s.root / "fast").unlink()
    (s.root / "started0").unlink()
    r = start("resume", run_id, "--executor", "threads")
    r.wait_for("started0")
    r.signal(signal.SIGTERM)
    resumed = assert_cancelled(r, r.finish(timeout=10), "SIGTERM")
    assert rows(s.cli.home, "SELECT parent_run_id FROM runs WHERE id = ?", (resumed,)) == [
        {"parent_run_id": run_id}
    ]
    assert_nothing_left(r)
    assert_no_crash_alert(r)
    resume_and_check(r, resumed, "single")


@pytest.mark.parametrize(
    ("executor", "signum", "group"),
    [
        ("sequential", signal.SIGTERM, False),
        ("threads", signal.SIGINT, True),
        ("processes", signal.SIGINT, True),
    ],
)
def test_a_signal_while_a_task_waits_for_its_retry_cancels_at_once(start, executor, signum, group):
    """The retry is 60 s away: the run must not wait for it, nor run it."""
    s = start("run", "pipes.py:retry", "--executor", executor)
    (s.root / "broken").touch()
    s.wait_for("failed")
    deadline = time.monotonic() + 30
    while not rows(s.cli.home, "SELECT 1 FROM task_runs WHERE task_key = 'wobbly' AND state = 'retrying'"):
        assert time.monotonic() < deadline and s.proc.poll() is None, s.out() + s.err()
        time.sleep(0.02)
    signalled = time.monotonic()
    s.signal(signum, group=group)
    code = s.finish(timeout=15)
    assert time.monotonic() - signalled < 10, "the run waited for the retry"

    run_id = assert_cancelled(s, code, signal.Signals(signum).name)
    assert [t for t, _, _ in s.ledger()].count("wobbly") == 1, "the retry ran after the signal"
    (attempt,) = rows(
        s.cli.home, "SELECT error_type FROM attempts WHERE run_id = ? AND task_key = 'wobbly'", (run_id,)
    )
    assert attempt["error_type"] == "ValueError", "the attempt that ran keeps its own error"
    assert_nothing_left(s)
    assert_no_crash_alert(s)
    resume_and_check(s, run_id, "retry")


@pytest.mark.parametrize("pipe", ["mule", "busy"])
def test_a_second_signal_stops_a_task_that_swallows_the_first_or_sits_in_native_code(start, pipe):
    """``mule`` catches KeyboardInterrupt; ``busy`` is inside one long native call, where Python
    runs no signal handler: the second signal must stop the run anyway, still recorded."""
    s = start("run", f"pipes.py:{pipe}", "--executor", "threads")  # a lone task: in the runner's thread
    s.wait_for("started0")
    s.signal(signal.SIGINT)
    if pipe == "mule":
        s.wait_for("swallowed", timeout=10)
    deadline = time.monotonic() + 10
    while "cancelling run" not in s.err():  # the first signal is seen at once, whatever the task does
        assert time.monotonic() < deadline, s.err()
        time.sleep(0.02)
    time.sleep(0.3)
    assert s.proc.poll() is None, "the task ignores the interruption: the run waits for it"
    s.signal(signal.SIGINT)
    run_id = assert_cancelled(s, s.finish(timeout=10), "SIGINT")
    (attempt,) = rows(
        s.cli.home, "SELECT state, error_type FROM attempts WHERE task_key = ?", (pipe_task(pipe),)
    )
    assert attempt == {"state": "failed", "error_type": "suiro.errors.RunCancelledError"}
    assert_nothing_left(s)
    assert_no_crash_alert(s)
    resume_and_check(s, run_id, pipe)


def pipe_task(pipe: str) -> str:
    return {"mule": "stubborn", "busy": "native"}[pipe]


SCRIPT = """
import sys

import suiro

try:
    result = suiro.run("pipes.py:fan", executor=sys.argv[1], workers=2)
except KeyboardInterrupt:
    print("KeyboardInterrupt raised", flush=True)
    sys.exit(3)
print(f"returned {result.state}", flush=True)
"""


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_ctrl_c_under_suiro_run_in_python_records_the_run_cancelled_then_raises(start, tmp_path, executor):
    """From Python: the run is recorded cancelled before ``KeyboardInterrupt`` reaches the caller.

    Threads cannot be stopped: their tasks are abandoned, and the interpreter waits for them at
    exit (Python's rule for non-daemon threads); what they return after the cancel is not recorded.
    """
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    s = start(executor, script=str(script))
    s.wait_for("started0", "started1")
    s.signal(signal.SIGINT, group=True)
    deadline = time.monotonic() + 30
    while "KeyboardInterrupt raised" not in s.out():
        assert time.monotonic() < deadline and s.proc.poll() is None, s.out() + s.err()
        time.sleep(0.02)
    run_id = s.cli.json("runs")[0]["id"]
    row = run_row(s, run_id)
    assert row["state"] == "cancelled" and "SIGINT" in row["error"], row
    if executor == "threads":
        (s.root / "fast").touch()  # the abandoned tasks now return, unrecorded, and the script ends
    assert s.finish() == 3, f"{s.out()}\n{s.err()}"
    states = rows(
        s.cli.home, "SELECT map_index, state FROM task_runs WHERE run_id = ? AND task_key = 'slow'", (run_id,)
    )
    assert {r["map_index"]: r["state"] for r in states} == {-1: "failed", 0: "failed", 1: "failed"}
    assert_nothing_left(s)
    assert_no_crash_alert(s)
    resume_and_check(s, run_id, "fan")
