"""Text from a pipeline never drives the terminal: controls are shown escaped, markup literally.

Found by testers: an ANSI escape sequence in a task name reached the terminal. Task and
pipeline names, parameters, error messages and captured log lines are the user's (or a
dependency's) text; every printer of the command line shows a control character as ``\\x1b``
(tab and, where lines are printed, newline excepted) and Rich markup such as ``[bold red]`` as
those characters. Checked on ``run`` (plain lines and summary), ``show`` (and ``-v``), ``logs``,
``runs``, ``graph`` (every format), ``explain``, error lines, and the live view a terminal gets.
"""

from __future__ import annotations

import io

import pytest
from pipelines.cli_harness import Cli

HOSTILE = """
    from suiro import get_logger, pipeline, task


    @task(name="\\x1b[31mred\\x1b[0m")
    def red(n: int) -> int:
        print("out \\x1b[2J\\x1b[H cleared \\x9b31m")
        get_logger().warning("log \\x1b]0;title\\x07 \\r spoof")
        return n


    @task(name="[bold red]x")
    def boom(n: int, label: str) -> int:
        raise ValueError("bad \\x1b[5mblink\\x1b[0m [bold]markup[/bold]")


    @pipeline(name="pipe\\x1b[32mgreen[blink]")
    def p(n: int = 1, label: str = "x"):
        return boom(red(n), label)
    """
#: What must never reach the terminal raw: ESC, CSI (C1), BEL, CR.
RAW = ("\x1b", "\x9b", "\x07", "\r")


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Cli, str, str]:
    cli = Cli(tmp_path_factory.mktemp("terminal"))
    cli.write("e.py", HOSTILE)
    result = cli.expect(1, "run", "e.py", "--set", "label=\x1b[41mbg[red]")
    return cli, result.run_id, result.stdout + result.stderr


def _assert_shown_not_obeyed(text: str) -> None:
    found = sorted({repr(c) for c in RAW if c in text})
    assert not found, f"raw control characters {found} in:\n{text}"


def test_run_prints_names_and_errors_escaped_and_markup_literally(ran):
    _, _, out = ran
    _assert_shown_not_obeyed(out)
    assert "\\x1b[31mred\\x1b[0m  success" in out  # a plain line
    assert "[bold red]x  failed" in out
    assert "pipeline pipe\\x1b[32mgreen[blink]" in out
    assert "bad \\x1b[5mblink\\x1b[0m [bold]markup[/bold]" in out


@pytest.mark.parametrize(
    "args",
    [
        ("show", "last"),
        ("show", "last", "-v"),
        ("logs", "last"),
        ("runs",),
        ("graph", "e.py"),
        ("graph", "e.py", "--format", "mermaid"),
        ("graph", "e.py", "--format", "dot"),
        ("explain", "last", "[bold red]x"),
        ("metrics", "last"),
        ("artifacts", "last"),
    ],
    ids=lambda a: " ".join(a),
)
def test_every_reader_shows_control_characters_escaped(ran, args):
    cli, _, _ = ran
    result = cli.ok(*args)
    _assert_shown_not_obeyed(result.stdout + result.stderr)


def test_show_and_logs_keep_the_text_visible(ran):
    cli, _, _ = ran
    show = cli.ok("show", "last", "-v").stdout
    assert "pipeline pipe\\x1b[32mgreen[blink]" in show
    assert "\\x1b[31mred\\x1b[0m" in show and "[bold red]x" in show
    assert "bad \\x1b[5mblink\\x1b[0m [bold]markup[/bold]" in show
    assert "'label': '\\x1b[41mbg[red]'" in show
    logs = cli.ok("logs", "last").stdout
    assert "out \\x1b[2J\\x1b[H cleared \\x9b31m" in logs
    assert "log \\x1b]0;title\\x07 " in logs  # the capture splits lines at the \\r
    assert "== [bold red]x attempt 1 (failed)" in logs


def test_an_error_line_shows_control_characters_escaped(ran):
    cli, _, _ = ran
    line = cli.error(2, "show", "\x1b[31mnope")
    assert "\\x1b[31mnope" in line
    _assert_shown_not_obeyed(line)


class _Terminal(io.StringIO):
    """Captured output that says it is a terminal, so the view draws its live table."""

    def isatty(self) -> bool:
        return True


def test_the_live_view_shows_names_escaped(monkeypatch):
    from suiro.cli.view import make_view
    from suiro.events import ErrorInfo, RunStarted, TaskStateChanged
    from suiro.states import TaskState

    out = _Terminal()
    monkeypatch.setattr("sys.stdout", out)
    view = make_view()  # not entered: the live thread is not started, the table is drawn below
    assert view.console.is_terminal
    graph = {"nodes": [{"key": "\x1b[31mred"}, {"key": "[bold red]x"}]}
    view.notify(RunStarted(run_id="r1", pipeline="p\x1b[0m", params={}, graph=graph, time=0.0))
    error = ErrorInfo(type="ValueError", message="e\x1b[2J", traceback="")
    view.notify(
        TaskStateChanged(run_id="r1", task_key="[bold red]x", state=TaskState.FAILED, time=1.0, error=error)
    )
    view.console.print(view._render())
    text = out.getvalue()
    assert "\\x1b[31mred" in text and "\x1b[31mred" not in text
    assert "[bold red]x" in text
    assert "\\x1b[2J" in text and "\x1b[2J" not in text
    assert "p\\x1b[0m" in text


STEPS = """
    import time

    from suiro import pipeline, task


    @task
    def step(i: int) -> int:
        time.sleep(0.2)
        print("step", i)
        return i


    @pipeline
    def steps(xs: list[int] = [0, 1, 2, 3]):
        return step.map(xs)
"""


@pytest.mark.parametrize("executor", ["sequential", "processes"])
def test_a_run_outlives_the_reader_of_its_output(tmp_path, executor):
    # `suiro run ... | head -1`: the first write after head exited killed the run (recorded crashed)
    import shlex
    import subprocess

    cli = Cli(tmp_path)
    cli.write("steps.py", STEPS)
    command = " ".join(shlex.quote(a) for a in cli.argv("run", "steps.py", "-e", executor))
    piped = subprocess.run(
        f"{command} | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        cwd=tmp_path,
        env=cli.env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert piped.stdout.startswith("run ") and piped.stdout.count("\n") == 1, piped.stdout
    assert piped.returncode == 0 and "BrokenPipeError" not in piped.stderr, piped.stderr
    run = cli.json("show", "last")
    assert run["state"] == "success" and [t["state"] for t in run["tasks"]] == ["success"]
