"""A reused output is always valid for its inputs (G10), and a run is resumed once at a time.

Each test does what a user would from the README: a pipeline file, `suiro run`, a failure or a
kill -9, a change (a file removed, `--set`, an edited task), then `suiro resume` and later plain
`suiro run`s. What a run returns is compared with a run of the same code and parameters in a
clean home. Every task appends to a ledger outside suiro's control: the ground truth of what ran.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from pipelines.cli_harness import RUN_ID, Cli

CHAIN = """
    import os
    import time
    from pathlib import Path

    from suiro import pipeline, task

    HERE = Path(__file__).parent


    def ledger(name):
        with open(HERE / "ledger.txt", "a") as handle:
            handle.write(name + "\\n")


    def die_if(name):
        flag = HERE / f"KILL-{name}"
        if flag.exists():
            flag.unlink()
            time.sleep(0.3)  # past the recorder's quiet commit: what finished is durable
            os.kill(os.getpid(), 9)  # the runner itself: the task runs in its process


    @task
    def a(n: int, salt: str) -> str:
        ledger("a")
        return f"a({n},{salt})"


    @task
    def b(x: str) -> str:
        ledger("b")
        die_if("b")
        return f"b[{x}]+1"


    @task
    def c(x: str) -> str:
        ledger("c")
        die_if("c")
        return f"c[{x}]"


    @pipeline(executor="sequential")
    def chain(n: int = 8, salt: str = "a"):
        return c(b(a(n, salt)))
"""


def ledger(cli: Cli) -> list[str]:
    path = cli.root / "ledger.txt"
    lines = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def killed_run(cli: Cli, *args: str) -> str:
    """Run the chain with ``KILL-c`` planted, so the runner is SIGKILLed inside task c."""
    (cli.root / "KILL-c").touch()
    result = cli("run", "chain.py", *args)
    assert result.returncode == -9, str(result)
    return RUN_ID.search(result.stdout).group(0)


def clean_output(tmp_path: Path, source: str, *args: str) -> str:
    """What a run of the same code and parameters returns in a home that never saw a failure."""
    clean = Cli(tmp_path / "clean")
    clean.root.mkdir(exist_ok=True)
    clean.write("chain.py", source)
    return clean.ok("run", "chain.py", *args).output


# -- item 1: resume reuses only what is still valid ------------------------------------------------


def test_resume_with_changed_parameters_reruns_what_they_feed(tmp_path):
    cli = Cli(tmp_path)
    cli.write("chain.py", CHAIN)
    run = killed_run(cli, "--set", "n=8", "--set", "salt=a")
    assert ledger(cli) == ["a", "b", "c"]

    resumed = cli.ok("resume", run, "--set", "n=4", "--set", "salt=b")
    expected = clean_output(tmp_path, CHAIN, "--set", "n=4", "--set", "salt=b")
    assert resumed.output == expected == "'c[b[a(4,b)]+1]'"
    assert ledger(cli) == ["a", "b", "c"], "a and b were computed with n=8: their keys changed"
    assert cli.json("show", "last")["params"] == {"n": 4, "salt": "b"}

    # The cache holds only what each output was computed from: later plain runs stay right.
    again = cli.ok("run", "chain.py", "--set", "n=4", "--set", "salt=b")
    assert again.output == expected and ledger(cli) == []
    old = cli.ok("run", "chain.py", "--set", "n=8", "--set", "salt=a")
    assert old.output == "'c[b[a(8,a)]+1]'" and ledger(cli) == ["c"]


def test_resume_after_a_code_edit_reruns_the_edited_task_and_what_follows(tmp_path):
    cli = Cli(tmp_path)
    cli.write("chain.py", CHAIN)
    run = killed_run(cli)
    assert ledger(cli) == ["a", "b", "c"]

    edited = CHAIN.replace('return f"b[{x}]+1"', 'return f"b[{x}]+2"')
    cli.write("chain.py", edited)
    resumed = cli.ok("resume", run)
    assert resumed.output == clean_output(tmp_path, edited) == "'c[b[a(8,a)]+2]'"
    assert ledger(cli) == ["b", "c"], "a is unchanged and reused; b was edited"
    assert cli.ok("run", "chain.py").output == "'c[b[a(8,a)]+2]'"
    assert ledger(cli) == []


def test_resume_without_changes_still_reuses_every_recorded_output(tmp_path):
    cli = Cli(tmp_path)
    cli.write("chain.py", CHAIN)
    (cli.root / "KILL-c").touch()
    first = cli("run", "chain.py", "--executor", "threads")
    assert first.returncode == -9, str(first)
    ledger(cli)
    cli.ok("runs")  # a reader finds the dead run and marks it crashed
    resumed = cli.ok("resume", "--last", "chain.py")
    assert ledger(cli) == ["c"], "a and b succeeded before the kill and are still valid"
    assert resumed.output == "'c[b[a(8,a)]+1]'"
    tasks = cli.tasks("last")
    assert tasks["a"]["cached_from"] == tasks["b"]["cached_from"] == RUN_ID.search(first.stdout).group(0)


GATED = """
    from pathlib import Path

    from suiro import pipeline, task

    HERE = Path(__file__).parent


    @task
    def flaky() -> int:
        if (HERE / "FAIL").exists():
            raise RuntimeError("upstream source is down")
        return 42


    @task(trigger_rule="all_done")
    def summary(x: int | None) -> str:
        with open(HERE / "ledger.txt", "a") as handle:
            handle.write("summary\\n")
        return f"x={x}"


    @pipeline
    def p():
        return summary(flaky())
"""


def test_a_task_that_ran_on_a_failed_upstream_reruns_once_the_upstream_succeeds(tmp_path):
    cli = Cli(tmp_path)
    cli.write("f.py", GATED)
    (cli.root / "FAIL").touch()
    failed = cli.expect(1, "run", "f.py")
    assert cli.tasks(failed.run_id)["summary"]["state"] == "success"
    assert ledger(cli) == ["summary"]

    (cli.root / "FAIL").unlink()
    resumed = cli.ok("resume", "last")
    assert resumed.output == "'x=42'", str(resumed)
    assert ledger(cli) == ["summary"]
    plain = cli.ok("run", "f.py")
    assert plain.output == "'x=42'" and ledger(cli) == []
    why = cli.json("explain", "last", "summary")
    assert why["cached_from"] == resumed.run_id, why


def test_every_recorded_cache_entry_matches_the_inputs_it_was_computed_from(tmp_path):
    """After failures, kills, --set and edits, rerunning each recorded key in a clean home agrees."""
    cli = Cli(tmp_path)
    cli.write("chain.py", CHAIN)
    run = killed_run(cli, "--set", "n=3")
    cli.ok("resume", run, "--set", "n=5")
    cli.ok("run", "chain.py", "--set", "n=3")
    cli.ok("run", "chain.py", "--set", "n=5")
    rows = cli.json("artifacts", "last")
    by_task = {r["task_key"]: r["digest"] for r in rows}
    clean = Cli(tmp_path / "clean")
    clean.root.mkdir(exist_ok=True)
    clean.write("chain.py", CHAIN)
    clean.ok("run", "chain.py", "--set", "n=5")
    assert {r["task_key"]: r["digest"] for r in clean.json("artifacts", "last")} == by_task


# -- item 2: one resume of a run at a time ---------------------------------------------------------

SLOW_RESUME = """
    import time
    from pathlib import Path

    from suiro import pipeline, task

    HERE = Path(__file__).parent


    @task
    def first() -> int:
        return 1


    @task(cache=False)  # reads the FAIL flag: its output is not a function of its inputs
    def second(x: int) -> int:
        with open(HERE / "ledger.txt", "a") as handle:
            handle.write("second\\n")
        if (HERE / "FAIL").exists():
            raise RuntimeError("not yet")
        time.sleep(1.5)
        return x + 1


    @pipeline
    def p():
        return second(first())
"""


def test_three_resumes_of_one_run_started_together_make_one_resumed_run(tmp_path):
    cli = Cli(tmp_path)
    cli.write("p.py", SLOW_RESUME)
    (cli.root / "FAIL").touch()
    failed = cli.expect(1, "run", "p.py").run_id
    ledger(cli)
    (cli.root / "FAIL").unlink()

    procs = [
        subprocess.Popen(
            cli.argv("resume", failed),
            env=cli.env(),
            cwd=cli.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outs)
    assert codes == [0, 2, 2], outs
    winner = next(out for code, out, _ in outs if code == 0)
    child = RUN_ID.findall(winner)[0]
    for code, _, err in outs:
        if code == 2:
            assert re.search(rf"run {failed} is being resumed by run {child}", err), err
    assert ledger(cli) == ["second"], "the task ran once, in the one resume"
    children = [r for r in cli.json("runs") if r["parent_run_id"] == failed]
    assert [r["id"] for r in children] == [child]


def test_a_run_whose_resume_succeeded_cannot_be_resumed_again(tmp_path):
    cli = Cli(tmp_path)
    cli.write("p.py", SLOW_RESUME.replace("time.sleep(1.5)", "pass"))
    (cli.root / "FAIL").touch()
    failed = cli.expect(1, "run", "p.py").run_id
    (cli.root / "FAIL").unlink()
    child = cli.ok("resume", failed).run_id
    line = cli.error(2, "resume", failed)
    assert f"run {failed} was already resumed by run {child}, which succeeded" in line, line
    assert len(cli.json("runs")) == 2


def test_a_run_whose_resume_failed_can_be_resumed_again(tmp_path):
    cli = Cli(tmp_path)
    cli.write("p.py", SLOW_RESUME.replace("time.sleep(1.5)", "pass"))
    (cli.root / "FAIL").touch()
    failed = cli.expect(1, "run", "p.py").run_id
    cli.expect(1, "resume", failed)
    (cli.root / "FAIL").unlink()
    assert cli.ok("resume", failed).output == "2"


# -- item 3: --last resumes the tip of an unfinished chain, or says there is nothing -------------


def test_resume_last_file_ignores_runs_whose_chain_succeeded(tmp_path):
    cli = Cli(tmp_path)
    cli.write("p.py", SLOW_RESUME.replace("time.sleep(1.5)", "pass"))
    (cli.root / "FAIL").touch()
    old = cli.expect(1, "run", "p.py").run_id
    (cli.root / "FAIL").unlink()
    cli.ok("resume", old)
    line = cli.error(2, "resume", "--last", "p.py")
    assert "nothing to resume" in line and "p" in line, line

    # A failure, then a newer success of the same pipeline: the failure is history, not work left.
    (cli.root / "FAIL").touch()
    cli.expect(1, "run", "p.py")
    (cli.root / "FAIL").unlink()
    time.sleep(0.01)
    newest = cli.ok("run", "p.py").run_id
    line = cli.error(2, "resume", "--last", "p.py")
    assert f"its latest run {newest} succeeded" in line, line


def test_resume_last_file_takes_the_newest_unfinished_run_of_the_chain(tmp_path):
    cli = Cli(tmp_path)
    cli.write("p.py", SLOW_RESUME.replace("time.sleep(1.5)", "pass"))
    (cli.root / "FAIL").touch()
    first = cli.expect(1, "run", "p.py").run_id
    second = cli.expect(1, "resume", first).run_id
    (cli.root / "FAIL").unlink()
    done = cli.ok("resume", "--last", "p.py")
    assert cli.json("show", done.run_id)["parent_run_id"] == second


# -- item 12: a resume keeps the run's executor --------------------------------------------------


def test_resume_keeps_the_executor_of_the_run_unless_told_otherwise(tmp_path):
    cli = Cli(tmp_path)
    cli.write("p.py", SLOW_RESUME.replace("time.sleep(1.5)", "pass"))
    (cli.root / "FAIL").touch()
    failed = cli.expect(1, "run", "p.py", "--executor", "processes").run_id
    again = cli.expect(1, "resume", failed)
    assert "executor processes" in again.stdout.splitlines()[0], again.stdout
    (cli.root / "FAIL").unlink()
    told = cli.ok("resume", "last", "--executor", "sequential")
    assert "executor sequential" in told.stdout.splitlines()[0], told.stdout
    executors = {r["id"]: r["executor"] for r in cli.json("runs")}
    assert executors == {failed: "processes", again.run_id: "processes", told.run_id: "sequential"}
