"""Shell tasks (``suiro.shell``, Airflow's ``BashOperator``) through the real command line.

Every command here is a real ``/bin/sh`` or program run by a real ``suiro run``: its output
used downstream and kept in the attempt's log, a non-zero exit as a task failure naming the
exit code and the end of stderr, retries, a timeout and a cancel that kill the command's whole
process group (a ``sleep 60 &`` grandchild included, looked up in /proc), ``env=`` and ``cwd=``,
and a command built from pipeline parameters.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli

PIPES = """
    from suiro import pipeline, shell, task


    @task
    def count(text: str) -> str:
        lines = text.splitlines()
        return f"{len(lines)} lines: {','.join(lines)}"


    @task
    def join(a: str, b: str) -> str:
        return a + " / " + b


    @pipeline
    def pulled():
        out = shell('printf "a\\\\nb\\\\n"; echo warning >&2', name="pull")
        return count(out)


    @pipeline
    def kept():
        return count(shell("echo once", name="once", cache=True))


    @pipeline
    def failing():
        return shell("echo one >&2; echo two >&2; exit 3", name="fail")


    @pipeline
    def flaky():
        return shell(
            "if [ -f tried ]; then echo second; else touch tried; echo first try >&2; exit 1; fi",
            name="flaky",
            retries=1,
        )


    @pipeline
    def hanging():
        return shell("echo $$ > sh.pid; sleep 60 & echo $! > bg.pid; wait", name="hang", timeout=1)


    @pipeline
    def waiting():
        a = shell("echo $$ > a.sh.pid; sleep 60 & echo $! > a.bg.pid; wait", name="a")
        b = shell("echo $$ > b.sh.pid; sleep 60 & echo $! > b.bg.pid; wait", name="b")
        return join(a, b)


    @pipeline
    def placed():
        return shell(
            'echo "$GREETING from $(basename "$(pwd)")"', env={"GREETING": "hello"}, cwd="sub", name="where"
        )


    @pipeline
    def built(batch_id: int = 3, word: str = "a b"):
        by_argv = shell(["printf", "%s|", word, batch_id], name="argv")
        by_env = shell('echo "batch $BATCH"', env={"BATCH": batch_id}, name="env")
        return join(by_argv, by_env)
"""


@pytest.fixture
def cli(tmp_path):
    cli = Cli(tmp_path)
    cli.write("pipes.py", PIPES)
    return cli


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not reaped by pid 1 here, is not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def assert_gone(*pid_files: Path, within: float = 5.0) -> None:
    """Every process whose pid a command wrote to ``pid_files`` is dead (polled: a kill takes a moment)."""
    pids = [int(path.read_text()) for path in pid_files]
    deadline = time.monotonic() + within
    while (alive := [p for p in pids if is_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)  # do not leave it behind, but fail
    assert not alive, f"processes {alive} of the shell command are still alive"


def test_a_shell_tasks_stdout_is_its_output_and_every_line_is_in_its_log(cli):
    result = cli.ok("run", "pipes.py:pulled")
    assert result.output == "'2 lines: a,b'"
    logs = cli.ok("logs", "last", "pull").stdout.splitlines()
    assert logs[0] == "== pull attempt 1 (success)"
    assert sorted(logs[1:]) == ["[stderr] warning", "a", "b"]
    # A command touches the outside world: not cached unless asked (cache=True).
    cli.ok("run", "pipes.py:pulled")
    states = {k: t["state"] for k, t in cli.tasks().items()}
    assert states == {"pull": "success", "count": "cached"}
    cli.ok("run", "pipes.py:kept")
    cli.ok("run", "pipes.py:kept")
    assert cli.tasks()["once"]["state"] == "cached"


def test_a_non_zero_exit_fails_the_task_with_the_exit_code_and_the_end_of_stderr(cli):
    result = cli.expect(1, "run", "pipes.py:failing")
    run_id = result.run_id
    task = cli.tasks()["fail"]
    assert task["state"] == "failed"
    (error,) = task["errors"]
    assert error["error_type"] == "suiro.errors.ShellCommandError"
    assert error["error_message"] == (
        "command 'echo one >&2; echo two >&2; exit 3' of task fail exited with code 3"
        f' (stderr ends: "one | two"); see all of its output with: suiro logs {run_id} fail'
    )
    shown = cli.ok("show", "last", "-v").stdout
    assert f"fail attempt 1: suiro.errors.ShellCommandError: {error['error_message']}" in shown.replace(
        "\n", ""
    )
    logs = cli.ok("logs", "last", "fail").stdout.splitlines()
    assert logs[1:4] == ["[stderr] one", "[stderr] two", "Traceback (most recent call last):"]
    assert logs[-1] == f"suiro.errors.ShellCommandError: {error['error_message']}"  # how it ended


def test_a_failed_command_is_retried_and_each_attempt_keeps_its_log(cli):
    result = cli.ok("run", "pipes.py:flaky")
    assert result.output == "'second'"
    task = cli.tasks()["flaky"]
    assert (task["state"], task["attempts"]) == ("success", 2)
    assert task["errors"][0]["error_message"].startswith(
        "command 'if [ -f tried ]; then echo second; else touch tried; echo...' of task flaky exited with"
        ' code 1 (stderr ends: "first try")'
    )
    logs = cli.ok("logs", "last", "flaky").stdout.splitlines()
    retried = logs.index("== flaky attempt 2 (success)")
    assert logs[:3] == [
        "== flaky attempt 1 (retrying)",
        "[stderr] first try",
        "Traceback (most recent call last):",
    ]
    assert logs[retried - 1].startswith("suiro.errors.ShellCommandError: command ")  # attempt 1's traceback
    assert logs[retried:] == ["== flaky attempt 2 (success)", "second"]


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_a_timeout_kills_the_whole_process_group_grandchildren_included(cli, executor):
    start = time.monotonic()
    cli.expect(1, "run", "pipes.py:hanging", "--executor", executor)
    assert time.monotonic() - start < 20
    (error,) = cli.tasks()["hang"]["errors"]
    assert error["error_type"] == "suiro.errors.TaskTimeoutError"
    assert error["error_message"] == (
        "command 'echo $$ > sh.pid; sleep 60 & echo $! > bg.pid; wait' of task hang ran past its timeout"
        " of 1 s, so its process group was killed; raise timeout= or make the command faster."
    )
    assert_gone(cli.root / "sh.pid", cli.root / "bg.pid", within=0.5)


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_ctrl_c_of_suiro_run_kills_the_commands_process_groups(cli, executor):
    with open(cli.root / "out.txt", "w") as out, open(cli.root / "err.txt", "w") as err:
        proc = subprocess.Popen(
            cli.argv("run", "pipes.py:waiting", "--executor", executor, "--workers", "2"),
            env=cli.env(),
            cwd=cli.root,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        started = [cli.root / "a.bg.pid"] + ([] if executor == "sequential" else [cli.root / "b.bg.pid"])
        deadline = time.monotonic() + 30
        while not all(p.exists() and p.read_text().strip() for p in started):
            assert proc.poll() is None and time.monotonic() < deadline, (cli.root / "err.txt").read_text()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # the runner only, as `kill -INT`; a terminal's Ctrl-C is the same
        assert proc.wait(timeout=30) == 130, (cli.root / "err.txt").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    pid_files = [p for name in ("a", "b") for p in (cli.root / f"{name}.sh.pid", cli.root / f"{name}.bg.pid")]
    assert_gone(*[p for p in pid_files if p.exists()])
    states = {k: t["state"] for k, t in cli.tasks().items()}
    assert states["a"] == "failed" and states["join"] == "pending", states


def test_env_adds_variables_and_cwd_sets_the_working_directory(cli):
    (cli.root / "sub").mkdir()
    assert cli.ok("run", "pipes.py:placed").output == "'hello from sub'"


def test_a_command_is_built_from_pipeline_parameters_as_arguments_or_environment(cli):
    assert cli.ok("run", "pipes.py:built").output == "'a b|3| / batch 3'"
    result = cli.ok("run", "pipes.py:built", "--set", "batch_id=4", "--set", "word=$(touch pwned)")
    assert result.output == "'$(touch pwned)|4| / batch 4'"
    assert not (cli.root / "pwned").exists(), "an argument list is never run by a shell"


BAD = """
    from suiro import pipeline, shell


    @pipeline
    def bad():
        return shell(BAD_CALL)
"""


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "3",
            "shell() at {where}: the command must be a string (run by /bin/sh) or a non-empty list of"
            " strings (run without a shell), got 3.",
        ),
        (
            '"true", env={"A": object}',
            "shell() at {where}: env must map variable names to strings or numbers, got"
            " {{'A': <class 'object'>}}; convert the values with str().",
        ),
        (
            '"true", retrys=2',
            "shell true at {where}: unknown option 'retrys' (did you mean \"retries\"?); known options are ",
        ),
        ('"true", timeout=0', "shell true at {where}: timeout must be a number > 0, got 0."),
    ],
    ids=["command", "env", "option", "timeout"],
)
def test_a_bad_shell_call_is_a_one_line_definition_error_at_its_line(cli, call, message):
    path = cli.write("bad.py", BAD.replace("BAD_CALL", call))
    where = f"{path}:{path.read_text().splitlines().index(f'    return shell({call})') + 1}"
    line = cli.error(2, "run", "bad.py")
    if message.endswith("known options are "):  # the list grows with @task's options
        assert line.startswith("error: " + message.format(where=where)) and ", retries, retry_delay," in line
    else:
        assert line == "error: " + message.format(where=where)


def test_outside_a_pipeline_shell_runs_the_command_at_once(tmp_path):
    code = "from suiro import shell; print(repr(shell('echo hi; echo there')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=Cli(tmp_path).env()
    )
    assert out.stdout == "hi\nthere\n'hi\\nthere'\n", out.stderr
