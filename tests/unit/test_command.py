"""``suiro.command.run_command`` on its own, with real commands: how each ending reads.

Outside a task there is no run to point ``suiro logs`` at, so the messages say what to fix; a
secret never shows, in the command nor in the end of stderr.
"""

from __future__ import annotations

import re

import pytest

from suiro import secrets
from suiro.command import run_command
from suiro.errors import ShellCommandError, TaskTimeoutError


def test_the_output_is_stdout_without_its_trailing_newlines():
    assert run_command("printf 'a\\n\\nb\\n\\n\\n'") == "a\n\nb"
    assert run_command(["printf", "%s", "no newline"]) == "no newline"


def test_a_command_killed_by_a_signal_says_which():
    with pytest.raises(ShellCommandError) as caught:
        run_command("kill -9 $$")
    assert str(caught.value) == (
        "command 'kill -9 $$' was killed by SIGKILL (nothing on stderr); fix the command or what it reads"
    )
    assert caught.value.exit_code == -9


def test_the_end_of_stderr_is_its_last_three_lines_at_most_300_characters():
    with pytest.raises(ShellCommandError) as caught:
        run_command("for i in $(seq 100); do echo line $i >&2; done; exit 2")
    assert caught.value.stderr_tail == "line 98 | line 99 | line 100"
    with pytest.raises(ShellCommandError) as caught:
        run_command("printf '%0400d\\n' 7 >&2; exit 1")
    assert caught.value.stderr_tail == "..." + "0" * 296 + "7"


def test_a_timeout_outside_a_task_names_the_command():
    with pytest.raises(
        TaskTimeoutError,
        match=re.escape(
            "command 'sleep 5' ran past its timeout of 0.2 s, so its process group was killed; "
            "raise timeout= or make the command faster."
        ),
    ):
        run_command("sleep 5", timeout=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env": ["A=1"]}, "shell() got env=['A=1']; env maps variable names to strings or numbers."),
        (
            {"env": {"A=B": "1"}},
            "shell() got env={'A=B': '1'}; env maps variable names to strings or numbers.",
        ),
        ({"cwd": 3}, "shell() got cwd=3; cwd is a path."),
    ],
)
def test_an_unusable_env_or_cwd_is_one_sentence(kwargs, message):
    with pytest.raises(ShellCommandError, match=f"^{re.escape(message)}$"):
        run_command("true", **kwargs)


def test_a_missing_working_directory_cannot_start(tmp_path):
    with pytest.raises(
        ShellCommandError,
        match=re.escape(
            f"command 'true' could not start (No such file or directory: '{tmp_path}/nope'); check the"
            " program's name, PATH and cwd=."
        ),
    ):
        run_command("true", cwd=tmp_path / "nope")


def test_env_adds_and_removes_variables(monkeypatch):
    monkeypatch.setenv("SUIRO_TEST_GONE", "here")
    out = run_command('echo "$A|${SUIRO_TEST_GONE-unset}"', env={"A": 1, "SUIRO_TEST_GONE": None})
    assert out == "1|unset"


def test_a_secret_is_masked_in_the_command_and_the_end_of_stderr(monkeypatch):
    monkeypatch.setenv("SUIRO_SECRET_TOKEN", "hunter2-CANARY-x")
    secrets.reload()
    try:
        with pytest.raises(ShellCommandError) as caught:
            run_command("echo token hunter2-CANARY-x >&2; exit 1")
    finally:
        monkeypatch.delenv("SUIRO_SECRET_TOKEN")
        secrets.reload()
    assert "CANARY" not in str(caught.value)
    assert str(caught.value) == (
        "command 'echo token *** >&2; exit 1' exited with code 1 (stderr ends: \"token ***\");"
        " fix the command or what it reads"
    )
