"""Kill -9 and resume through the CLI (RELIABILITY.md R1, and R17 for the logs).

A 5-task chain runs in a ``suiro run`` subprocess; task 3 writes a marker and then sleeps
60 s unless a flag file exists. The test waits for the marker, SIGKILLs the CLI, then checks
what the record says and that ``suiro resume`` re-runs only what had not finished. Every
task appends a line to a ledger file outside suiro's control: the ground truth of what ran.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli

CHAIN = """
    import os
    import time
    from pathlib import Path

    from suiro import context, pipeline, task

    HERE = Path(__file__).parent


    def ledger(name):
        with open(HERE / "ledger.txt", "a") as handle:
            handle.write(f"{name} {context().run_id} {context().attempt} {os.getpid()}\\n")


    def big(name, prev):
        # Over the inline limit, so every output is a file in the artifact store.
        return f"{name}:{len(prev)}:" + "x" * 20_000


    @task
    def t1() -> str:
        ledger("t1")
        return big("t1", "")


    @task
    def t2(prev: str) -> str:
        ledger("t2")
        return big("t2", prev)


    @task
    def t3(prev: str) -> str:
        ledger("t3")
        print("t3 started")
        print("t3 last line before the kill")
        (HERE / "marker").write_text("started")
        if not (HERE / "fast").exists():
            time.sleep(60)
        return big("t3", prev)


    @task
    def t4(prev: str) -> str:
        ledger("t4")
        return big("t4", prev)


    @task
    def t5(prev: str) -> int:
        ledger("t5")
        return len(prev)


    @pipeline
    def chain():
        return t5(t4(t3(t2(t1()))))
"""
#: What t5 returns: the length of t4's output.
OUTPUT = len("t4:20008:" + "x" * 20_000)


@dataclass(frozen=True)
class Crash:
    cli: Cli
    run_id: str
    killed_at: float

    def ledger(self) -> list[tuple[str, str]]:
        """(task, run id) per execution, in order."""
        lines = (self.cli.root / "ledger.txt").read_text().splitlines()
        return [(task, run) for task, run, _attempt, _pid in (line.split() for line in lines)]

    def pids(self, task: str) -> list[int]:
        lines = (self.cli.root / "ledger.txt").read_text().splitlines()
        return [int(line.split()[3]) for line in lines if line.split()[0] == task]


class Killer:
    """Starts ``suiro run`` in its own process group, SIGKILLs it mid-task, and cleans up after."""

    def __init__(self) -> None:
        self.groups: list[int] = []

    def crash(
        self, cli: Cli, *args: str, settle: bool = True, env: dict[str, str] | None = None, pause: float = 0.0
    ) -> Crash:
        """Run the chain, wait for task 3 to start, SIGKILL the CLI, and switch task 3's sleep off.

        With ``settle``, the kill waits until the record shows task 3 running (so the successes
        of tasks 1-2 are committed); without it, the kill follows the marker at once.
        """
        cli.write("chain.py", CHAIN)
        with open(cli.root / "run.out", "w") as out:
            proc = subprocess.Popen(
                cli.argv("run", "chain.py", *args),
                env=cli.env(env),
                cwd=cli.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its worker processes can be found and stopped afterwards
            )
        self.groups.append(proc.pid)
        deadline = time.monotonic() + 60
        while not (cli.root / "marker").exists():
            self._check(proc, cli, deadline)
            time.sleep(0.02)
        run_id = dict(_ledger_runs(cli))["t1"]
        while settle and cli.tasks(run_id).get("t3", {}).get("state") != "running":
            self._check(proc, cli, deadline)
        time.sleep(pause)
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert proc.wait(timeout=10) == -signal.SIGKILL  # reaped: its pid is really gone
        (cli.root / "fast").touch()  # from now on task 3 returns at once
        return Crash(cli, run_id, killed_at)

    @staticmethod
    def _check(proc: subprocess.Popen[bytes], cli: Cli, deadline: float) -> None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"task 3 never started; output:\n{(cli.root / 'run.out').read_text()}")

    def close(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


def _ledger_runs(cli: Cli) -> Iterator[tuple[str, str]]:
    for line in (cli.root / "ledger.txt").read_text().splitlines():
        task, run, *_ = line.split()
        yield task, run


@pytest.fixture
def killer() -> Iterator[Killer]:
    k = Killer()
    yield k
    k.close()


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> Iterator[Crash]:
    """One run killed in task 3 on the processes executor, never resumed (read-only tests)."""
    k = Killer()
    try:
        yield k.crash(Cli(tmp_path_factory.mktemp("crashed")), "--executor", "processes")
    finally:
        k.close()


def _assert_objects_intact(home: Path) -> int:
    """Every file in the artifact store hashes to its name; returns how many there are."""
    objects = [p for p in (home / "artifacts" / "objects").rglob("*") if p.is_file()]
    for path in objects:
        name = path.parent.name + path.name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == name, f"{path} does not match its name"
    return len(objects)


def _assert_resumed(crash: Crash, resumed_out: str) -> None:
    cli = crash.cli
    counts = collections.Counter(task for task, _ in crash.ledger())
    assert counts == {"t1": 1, "t2": 1, "t3": 2, "t4": 1, "t5": 1}, crash.ledger()
    new_run = crash.ledger()[-1][1]
    assert new_run != crash.run_id
    assert f"resuming run {crash.run_id}" in resumed_out
    assert f"output: {OUTPUT}" in resumed_out

    runs = {r["id"]: r for r in cli.json("runs")}
    assert runs[crash.run_id]["state"] == "crashed"
    assert runs[new_run]["state"] == "success"
    assert runs[new_run]["parent_run_id"] == crash.run_id
    tasks = cli.tasks(new_run)
    assert {k: t["state"] for k, t in tasks.items()} == {
        "t1": "cached",
        "t2": "cached",
        "t3": "success",
        "t4": "success",
        "t5": "success",
    }
    assert tasks["t1"]["cached_from"] == tasks["t2"]["cached_from"] == crash.run_id
    assert _assert_objects_intact(cli.home) >= 4  # t1..t4 outputs


def test_killed_run_is_crashed_and_resume_reruns_only_what_had_not_finished(tmp_path, killer):
    crash = killer.crash(Cli(tmp_path))
    cli = crash.cli
    assert crash.ledger() == [("t1", crash.run_id), ("t2", crash.run_id), ("t3", crash.run_id)]

    (row,) = cli.json("runs")
    assert row["id"] == crash.run_id
    assert row["state"] == "crashed"
    tasks = cli.tasks(crash.run_id)
    assert tasks["t1"]["state"] == tasks["t2"]["state"] == "success"
    assert _assert_objects_intact(cli.home) >= 2  # t1 and t2 outputs, never a torn t3

    result = cli.ok("resume", crash.run_id)
    _assert_resumed(crash, result.stdout)


def test_resume_last_of_a_file_on_the_processes_executor(tmp_path, killer):
    crash = killer.crash(Cli(tmp_path), "--executor", "processes")
    assert crash.cli.json("runs", "--state", "crashed")[0]["id"] == crash.run_id
    result = crash.cli.ok("resume", "--last", "chain.py", "--executor", "processes")
    _assert_resumed(crash, result.stdout)
    assert "executor processes" in result.stdout


def test_successes_are_committed_as_soon_as_the_runner_waits_for_a_long_task(tmp_path, killer):
    # With a 5 s group-commit interval only a commit once the run goes quiet can have committed
    # t1 and t2 when the kill comes 0.2 s after t3 started: the recorder's, ~5 ms after the last
    # event, wherever t3 runs (in the runner's thread on threads). Without it resume would run them
    # again. (A kill inside the few milliseconds before that commit may run them again: at least once.)
    crash = killer.crash(Cli(tmp_path), settle=False, env={"SUIRO_FLUSH_INTERVAL": "5"}, pause=0.2)
    result = crash.cli.ok("resume", crash.run_id)
    counts = collections.Counter(task for task, _ in crash.ledger())
    assert (counts["t1"], counts["t2"]) == (1, 1), result.stdout


def test_a_plain_rerun_after_a_kill_reuses_what_the_killed_run_finished(tmp_path, killer):
    # Nothing looks at the record between the kill and the rerun: ``suiro run`` reaps first, and
    # the reaper lists the dead run's finished tasks in the cache index its recorder had not written.
    crash = killer.crash(Cli(tmp_path))
    result = crash.cli.ok("run", "chain.py")
    assert f"output: {OUTPUT}" in result.stdout
    counts = collections.Counter(task for task, _ in crash.ledger())
    assert counts == {"t1": 1, "t2": 1, "t3": 2, "t4": 1, "t5": 1}, crash.ledger()
    runs = {r["id"]: r for r in crash.cli.json("runs")}
    assert runs[crash.run_id]["state"] == "crashed" and runs[result.run_id]["parent_run_id"] is None
    tasks = crash.cli.tasks(result.run_id)
    assert tasks["t1"]["state"] == tasks["t2"]["state"] == "cached"
    assert tasks["t1"]["cached_from"] == tasks["t2"]["cached_from"] == crash.run_id


def test_resume_needs_a_run(tmp_path):
    line = Cli(tmp_path).error(2, "resume")
    assert "give a RUN id" in line


def test_resume_of_a_successful_run_is_refused(tmp_path):
    cli = Cli(tmp_path)
    cli.write("chain.py", CHAIN)
    (tmp_path / "fast").touch()
    run_id = cli.ok("run", "chain.py").run_id
    line = cli.error(2, "resume", run_id)
    assert f"run {run_id} succeeded; there is nothing to resume" in line


# --- what the killed run left behind (read-only, one shared crash) ----------------------------


def test_crashed_run_is_listed_as_crashed(crashed):
    (row,) = crashed.cli.json("runs", "--state", "crashed")
    assert row["id"] == crashed.run_id
    assert row["executor"] == "processes"


def test_lines_printed_before_the_kill_are_in_the_attempt_log_file(crashed):
    log = crashed.cli.home / "logs" / crashed.run_id / "t3.1.log"
    assert log.read_text().splitlines() == ["t3 started", "t3 last line before the kill"]


def test_logs_show_lines_printed_before_the_kill(crashed):
    out = crashed.cli.ok("logs", crashed.run_id, "t3").stdout
    assert "t3 last line before the kill" in out.splitlines()


def test_crashed_run_has_no_task_still_running(crashed):
    tasks = crashed.cli.tasks(crashed.run_id)
    assert tasks["t1"]["state"] == "success"
    assert tasks["t3"]["state"] != "running"


def test_worker_processes_die_with_the_killed_cli(crashed):
    (worker,) = crashed.pids("t3")
    deadline = crashed.killed_at + 3.0
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), f"worker {worker} outlived the killed CLI"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie counts as dead
