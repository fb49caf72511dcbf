"""``suiro run`` and ``suiro graph`` end to end: the CLI in a subprocess, on pipeline files in tmp_path.

Covers loading (built-in, FILE.py, FILE.py:NAME, errors), exit codes, parameters and their
layers, executors, ``--workers``, ``--fail-fast``, graph formats, help and version.
"""

from __future__ import annotations

import ast
import os
import pty
import re
import select
import subprocess
import time

import pytest
from pipelines.cli_harness import RUN_ID, Cli

import suiro
from suiro.api import BUILTIN

SMALL = """
    import os
    from pathlib import Path

    from suiro import pipeline, task

    PIDS = Path(__file__).with_name("pids.txt")


    def note_pid():
        with PIDS.open("a") as handle:
            handle.write(f"{os.getpid()}\\n")


    def scale(value):
        # A plain helper of the user's file: worker processes must get it too.
        return value * 3


    @task
    def source(n: int) -> list[int]:
        note_pid()
        return list(range(n))


    @task
    def triple(xs: list[int]) -> list[int]:
        note_pid()
        return [scale(x) for x in xs]


    @task
    def total(xs: list[int], scaled: list[int]) -> dict:
        note_pid()
        return {"sum": sum(xs) + sum(scaled), "scaled": scaled}


    @pipeline
    def small(n: int = 5):
        xs = source(n)
        return total(xs, triple(xs))
"""
SMALL_OUTPUT = {"sum": 40, "scaled": [0, 3, 6, 9, 12]}

TWO = """
    from suiro import pipeline, task


    @task
    def inc(x: int) -> int:
        return x + 1


    @pipeline
    def first(x: int = 1):
        return inc(x)


    @pipeline
    def second(x: int = 10):
        return inc(x)
"""

BAD_DEFINITION = """
    from suiro import pipeline, task


    @task
    def check(x: int) -> bool:
        return x > 0


    @pipeline
    def broken(x: int = 1):
        ref = check(x)
        if ref:
            return check(x)
        return ref
"""

FAILING = """
    from suiro import pipeline, task


    @task
    def start() -> int:
        return 1


    @task
    def boom(x: int) -> int:
        print("loading rows")
        print("last line before the error")
        raise ValueError("the model exploded at row 42")


    @task
    def downstream(x: int) -> int:
        return x


    @pipeline
    def failing():
        return downstream(boom(start()))
"""

PARAMS = """
    from suiro import pipeline, task


    @task
    def echo(a: int, b: str, c: float, d: list[int]) -> dict:
        return {"a": a, "b": b, "c": c, "d": d}


    @pipeline
    def params(a: int = 1, b: str = "default", c: float = 0.5, d: list[int] = [1]):
        return echo(a, b, c, d)
"""

FAIL_FAST = """
    import time

    from suiro import pipeline, task


    @task
    def start() -> int:
        return 1


    @task
    def boom(x: int) -> int:
        raise ValueError("boom")


    @task
    def slow(x: int) -> int:
        time.sleep(0.5)
        return x


    @task
    def later(x: int) -> int:
        return x + 1


    @pipeline
    def failfast():
        x = start()
        boom(x)
        return later(slow(x))
"""

TWO_SLEEPERS = """
    import time
    from pathlib import Path

    from suiro import pipeline, task

    SPANS = Path(__file__).with_name("spans.txt")


    def nap(name):
        began = time.time()
        time.sleep(0.3)
        with SPANS.open("a") as handle:
            handle.write(f"{name} {began} {time.time()}\\n")
        return name


    @task
    def left() -> str:
        return nap("left")


    @task
    def right() -> str:
        return nap("right")


    @task
    def join(a: str, b: str) -> str:
        return a + "+" + b


    @pipeline
    def sleepers():
        return join(left(), right())
"""

DIAMOND = """
    from suiro import pipeline, task


    @task
    def source(n: int) -> list[int]:
        return list(range(n))


    @task
    def double(xs: list[int]) -> list[int]:
        return [2 * x for x in xs]


    @task
    def square(xs: list[int]) -> list[int]:
        return [x * x for x in xs]


    @task
    def combine(a: list[int], b: list[int]) -> int:
        return sum(a) + sum(b)


    @pipeline
    def diamond(n: int = 3):
        xs = source(n)
        return combine(double(xs), square(xs))
"""
DIAMOND_EDGES = {("source", "double"), ("source", "square"), ("double", "combine"), ("square", "combine")}


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


# --- the built-in pipeline -------------------------------------------------------------------


@pytest.mark.slow  # the built-in pipeline tunes and trains real models: several seconds, unavoidably
def test_run_without_a_file_runs_the_builtin_pipeline(tmp_path):
    cli = Cli(tmp_path, new_home=True)  # the first command in an empty folder
    result = cli.ok("run")
    run_id = result.run_id
    assert RUN_ID.fullmatch(run_id)
    out = result.stdout
    assert "\x1b" not in out, "output to a pipe must have no ANSI escapes"
    name = BUILTIN.rpartition(":")[2]
    assert out.splitlines()[0].startswith(f"run {run_id}: pipeline {name}, ")
    assert re.search(rf"^run {run_id} success in [\d.]+s \(", out, re.M)
    run = cli.json("show", run_id)
    assert (run["pipeline"], run["target"], run["state"]) == (name, BUILTIN, "success")
    for task in run["tasks"]:
        key, state = task["task_key"], task["state"]
        assert state in ("success", "skipped"), task
        assert re.search(rf"^\d\d:\d\d:\d\d  {key}  {state}\b", out, re.M), key  # the plain lines
        assert re.search(rf"^. {key}\s+. {state}\s+.", out, re.M), key  # the summary table
    assert result.stderr == ""


def test_demo_pipeline_prints_plain_lines_including_the_retry(cli):
    result = cli.ok("run", "suiro.demo:demo")  # a module:PIPELINE target
    run_id = result.run_id
    out = result.stdout
    assert "\x1b" not in out, "output to a pipe must have no ANSI escapes"
    assert out.splitlines()[0].startswith(f"run {run_id}: pipeline demo, 9 tasks")
    # Plain mode: one greppable line per state change, the demo's flaky source included.
    assert re.search(
        r"^\d\d:\d\d:\d\d  collect  retrying  attempt 1  retry in [\d.]+s  - ConnectionError", out, re.M
    )
    assert re.search(r"^\d\d:\d\d:\d\d  collect  success  attempt 2 ", out, re.M)
    states = dict.fromkeys(
        ["collect", "split", "fit", "evaluate", "pick_best", "gate", "publish", "report"], "success"
    )
    for task, state in {**states, "alert": "skipped"}.items():
        assert re.search(rf"^\d\d:\d\d:\d\d  {task}  {state}\b", out, re.M), task  # the plain lines
        assert re.search(rf"^. {task}\s+. {state}\s+.", out, re.M), task  # the summary table
    assert re.search(r"^. fit\s+. success\s+. 4\s+.*4 items: 4 success", out, re.M)
    assert re.search(rf"^run {run_id} success in [\d.]+s \(1 skipped, 8 success\)$", out, re.M)
    assert result.output == "'published degree 3'"
    assert result.stderr == ""


# --- loading a pipeline ----------------------------------------------------------------------


def test_run_a_file_with_one_pipeline(cli):
    cli.write("small.py", SMALL)
    result = cli.ok("run", "small.py")
    assert f"run {result.run_id}: pipeline small, 3 tasks" in result.stdout
    assert ast.literal_eval(result.output) == SMALL_OUTPUT


def test_run_names_one_pipeline_of_a_file_with_two(cli):
    cli.write("two.py", TWO)
    result = cli.ok("run", "two.py:second")
    assert "pipeline second" in result.stdout
    assert result.output == "11"


def test_file_with_two_pipelines_and_no_name_is_an_error_naming_both(cli):
    cli.write("two.py", TWO)
    line = cli.error(2, "run", "two.py")
    assert "two.py" in line
    assert "first" in line
    assert "second" in line
    assert "two.py:NAME" in line


def test_unknown_pipeline_name_offers_the_closest(cli):
    cli.write("two.py", TWO)
    line = cli.error(2, "run", "two.py:secnd")
    assert 'did you mean "second"' in line


def test_missing_pipeline_file_is_a_one_line_error(cli):
    result = cli.expect(2, "run", "nope.py")
    assert result.stderr == "error: pipeline file nope.py does not exist; check the path.\n"
    assert result.stdout == ""


def test_definition_error_is_one_line_naming_file_and_line(cli):
    path = cli.write("broken.py", BAD_DEFINITION)
    line_no = path.read_text().splitlines().index("    if ref:") + 1
    line = cli.error(2, "run", "broken.py")
    assert f"{path}:{line_no}" in line
    assert "used as a Python bool" in line
    assert "when(" in line  # says what to do instead
    assert "Traceback" not in line


def test_definition_error_with_verbose_shows_a_traceback(cli):
    path = cli.write("broken.py", BAD_DEFINITION)
    result = cli.expect(2, "run", "broken.py", "--verbose")  # exit code as without --verbose
    assert "Traceback (most recent call last)" in result.stderr
    assert f'File "{path}", line ' in result.stderr
    assert "DefinitionError" in result.stderr


# --- failure ---------------------------------------------------------------------------------


def test_failed_run_exits_1_with_the_error_and_last_output(cli):
    cli.write("failing.py", FAILING)
    result = cli.expect(1, "run", "failing.py")
    out = result.stdout
    assert "boom failed: ValueError: the model exploded at row 42" in out
    tail = out.split("last output of boom:", 1)[1].splitlines()
    assert tail[1:3] == ["  loading rows", "  last line before the error"]
    assert re.search(rf"^run {result.run_id} failed in ", out, re.M)
    tasks = cli.tasks()
    assert tasks["start"]["state"] == "success"
    assert tasks["boom"]["state"] == "failed"
    assert tasks["boom"]["errors"][-1]["error_message"] == "the model exploded at row 42"
    assert tasks["downstream"]["state"] == "upstream_failed"


# --- parameters ------------------------------------------------------------------------------


def test_parameter_layers_set_over_env_over_file_over_default(cli):
    cli.write("params.py", PARAMS)
    cli.write("config.yaml", "a: 10\nb: from-file\nc: 1.5\n")
    env = {"SUIRO_PARAM_A": "20", "SUIRO_PARAM_B": "from-env"}
    result = cli.ok("run", "params.py", "-c", "config.yaml", "--set", "a=30", env=env)
    expected = {"a": 30, "b": "from-env", "c": 1.5, "d": [1]}
    assert ast.literal_eval(result.output) == expected
    assert cli.json("show", "last")["params"] == expected


def test_set_parses_values_by_annotation(cli):
    cli.write("params.py", PARAMS)
    result = cli.ok("run", "params.py", "--set", "d=[4, 5]", "--set", "b=007", "--set", "c=2")
    assert ast.literal_eval(result.output) == {"a": 1, "b": "007", "c": 2.0, "d": [4, 5]}


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        (["--set", "a=x"], {}, "from --set"),
        ([], {"SUIRO_PARAM_C": "abc"}, "from env SUIRO_PARAM_C"),
        (["-c", "bad.yaml"], {}, "from bad.yaml"),
    ],
    ids=["set", "env", "file"],
)
def test_bad_parameter_value_names_parameter_and_source(cli, args, env, source):
    cli.write("params.py", PARAMS)
    cli.write("bad.yaml", "a: nope\n")
    line = cli.error(2, "run", "params.py", *args, env=env)
    assert "pipeline params: parameter " in line
    assert source in line
    name = "c" if "SUIRO_PARAM_C" in env else "a"
    assert f"parameter {name} = " in line
    assert not (cli.home / "logs").exists() or not any((cli.home / "logs").iterdir()), "nothing may run"


def test_unknown_parameter_offers_the_closest(cli):
    cli.write("params.py", PARAMS)
    line = cli.error(2, "run", "params.py", "--set", "bb=1")
    assert "has no parameter 'bb'" in line
    assert 'did you mean "b"' in line
    assert "known parameters are a, b, c, d" in line


# --- executors -------------------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_every_executor_gives_the_same_output(cli, executor):
    cli.write("small.py", SMALL)
    result = cli.ok("run", "small.py", "--executor", executor)
    assert f"executor {executor}" in result.stdout
    assert ast.literal_eval(result.output) == SMALL_OUTPUT
    run = cli.json("show", "last")
    assert run["executor"] == executor
    pids = {int(p) for p in (cli.root / "pids.txt").read_text().split()}
    if executor == "processes":
        assert run["pid"] not in pids, "tasks must run in worker processes"
    else:
        assert pids == {run["pid"]}


FORKING = """
    import sys
    from pathlib import Path

    from suiro import pipeline, task


    @task
    def where() -> str:
        if Path("broken").exists():
            raise ValueError("broken until the test removes the file")
        # typer is loaded in the suiro command only: a forked worker has it, a fresh interpreter not.
        return "forked" if "typer" in sys.modules else "fresh"


    @pipeline
    def forking():
        return where()
"""


def _on_a_terminal(cli: Cli, *args: str) -> tuple[int, str]:
    """Run ``suiro *args`` with its output on a pseudo-terminal (so the live view's thread runs).

    Returns its exit code and everything it wrote.
    """
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        cli.argv(*args),
        env=cli.env(),
        cwd=cli.root,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if select.select([leader], [], [], 0.1)[0]:
            try:
                chunks.append(os.read(leader, 65536))
            except OSError:  # EIO: every process holding the terminal closed it
                break
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=10), b"".join(chunks).decode(errors="replace")


def test_run_and_resume_fork_their_process_workers_on_a_terminal(cli):
    """The executor is made before the live view starts its thread, so workers are forked."""
    cli.write("forking.py", FORKING)
    (cli.root / "broken").touch()
    code, out = _on_a_terminal(cli, "run", "forking.py", "-e", "processes")
    assert code == 1, out
    (cli.root / "broken").unlink()
    code, out = _on_a_terminal(cli, "resume", "last", "-e", "processes")
    assert code == 0 and "output: 'forked'" in out, out
    code, out = _on_a_terminal(cli, "run", "forking.py", "--fresh", "-e", "processes")
    assert code == 0 and "output: 'forked'" in out, out
    piped = cli.ok("run", "forking.py", "--fresh", "-e", "processes")  # no live view: forked too
    assert piped.output == "'forked'"


def test_workers_1_runs_one_task_at_a_time(cli):
    cli.write("sleepers.py", TWO_SLEEPERS)
    result = cli.ok("run", "sleepers.py", "--workers", "1")
    assert result.output == "'left+right'"
    spans = sorted(
        (float(b), float(e))
        for _, b, e in (ln.split() for ln in (cli.root / "spans.txt").read_text().splitlines())
    )
    assert len(spans) == 2
    assert spans[0][1] <= spans[1][0], f"tasks overlapped with --workers 1: {spans}"


def test_fail_fast_starts_nothing_new_after_a_failure(cli):
    cli.write("failfast.py", FAIL_FAST)
    cli.expect(1, "run", "failfast.py")
    assert cli.tasks()["later"]["state"] == "success"  # without --fail-fast the other branch finishes

    result = cli.expect(1, "run", "failfast.py", "--fail-fast", "--fresh")
    assert re.search(r"^. later\s+. pending\s+.", result.stdout, re.M)  # the run's summary
    tasks = cli.tasks()
    assert {k: t["state"] for k, t in tasks.items()} == {
        "start": "success",
        "boom": "failed",
        "slow": "success",  # already running: allowed to finish
        "later": "pending",  # never started, still listed
    }
    assert tasks["later"]["attempts"] == 0


# --- graph -----------------------------------------------------------------------------------


def _edges(text: str, fmt: str) -> set[tuple[str, str]]:
    if fmt == "dot":
        return set(re.findall(r'^\s*"(\w+)" -> "(\w+)";', text, re.M))
    if fmt == "mermaid":
        names = dict(re.findall(r'^\s*(\w+)\["(\w+)"\]', text, re.M))
        return {(names[a], names[b]) for a, b in re.findall(r"^\s*(\w+) --> (\w+)", text, re.M)}
    edges = set()
    for task, ups in re.findall(r"^\s+(\w+)\s+<- after (.+)$", text, re.M):
        edges |= {(up.strip(), task) for up in ups.split(",")}
    return edges


@pytest.mark.parametrize("fmt", ["text", "mermaid", "dot"])
def test_graph_prints_every_task_and_edge(cli, fmt):
    cli.write("diamond.py", DIAMOND)
    text = cli.ok("graph", "diamond.py", "--format", fmt).stdout
    for task in ("source", "double", "square", "combine"):
        assert task in text
    assert _edges(text, fmt) == DIAMOND_EDGES
    assert not (cli.home / "suiro.db").exists() or cli.json("runs") == [], "graph must run nothing"
    if fmt == "mermaid":
        assert text.startswith("flowchart")
    if fmt == "dot":
        assert text.startswith('digraph "diamond"')


def test_graph_without_a_file_shows_the_builtin_pipeline(cli):
    text = cli.ok("graph").stdout
    assert text.startswith(f"pipeline {BUILTIN.rpartition(':')[2]}\n")


def test_graph_of_a_module_pipeline(cli):
    text = cli.ok("graph", "suiro.demo:demo", "--format", "mermaid").stdout
    for task in ("collect", "split", "fit", "evaluate", "pick_best", "gate", "publish", "alert", "report"):
        assert re.search(rf'^\s+n\d+\[\[?"{task}(\[\*\])?"\]', text, re.M), task  # mapped: [["fit[*]"]]


# --- help and version ------------------------------------------------------------------------


def test_help_lists_the_commands(cli):
    out = cli.ok("--help").stdout
    for command in (
        "run",
        "resume",
        "graph",
        "runs",
        "show",
        "logs",
        "metrics",
        "artifacts",
        "explain",
        "gc",
    ):
        assert re.search(rf"^\s+{command}\s", out, re.M), command
    assert "--version" in out


def test_run_help_lists_the_options(cli):
    out = cli.ok("run", "--help").stdout
    for option in ("--config", "--set", "--executor", "--workers", "--fail-fast", "--fresh", "--verbose"):
        assert option in out, option
    assert "sequential|threads|processes|dask" in out
    assert "--dask-address" in out
    assert "FILE.py[:PIPELINE]" in out


def test_version(cli):
    result = cli.ok("--version")
    assert result.stdout == f"suiro {suiro.__version__}\n"
