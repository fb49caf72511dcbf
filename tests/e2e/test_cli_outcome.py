"""What the CLI tells about a run's ending and a pipeline's order (issue 12, run-time traps).

``suiro run`` and ``suiro show`` give a failed run's first error and the output it computed, and
mark a tolerated failure; ``suiro graph`` shows which tasks can run at once, and ``--check``
names tasks whose output nothing uses. The CLI runs in a subprocess on files in tmp_path.
"""

from __future__ import annotations

import re

import pytest
from pipelines.cli_harness import Cli


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


PARTIAL = """
    from suiro import pipeline, task


    @task
    def load() -> int:
        return 3


    @task
    def explode(x: int) -> int:
        raise ValueError(f"row {x} is bad")


    @task(trigger_rule="all_done")
    def report(x: int, y: int | None) -> str:
        return f"loaded {x}, got {y}"


    @pipeline
    def partial():
        x = load()
        return report(x, explode(x))
"""


def test_a_failed_run_prints_its_first_error_and_the_output_it_computed(cli):
    cli.write("partial.py", PARTIAL)

    result = cli.expect(1, "run", "partial.py")

    assert "error: task explode failed: ValueError: row 3 is bad" in result.stdout.splitlines()
    assert result.output == "'loaded 3, got None'"
    shown = cli.ok("show", "last").stdout.splitlines()
    assert [line for line in shown if "row 3 is bad" in line and not line.startswith(("│", "┃", "|"))] == [
        "error: task explode failed: ValueError: row 3 is bad"
    ]
    assert cli.json("show", "last")["error"] == "task explode failed: ValueError: row 3 is bad"


TOLERANT = """
    from suiro import pipeline, task


    @task
    def train() -> float:
        return 0.9


    @task(allow_failure=True)
    def notify(score: float) -> str:
        raise ConnectionError(f"smtp.example.com refused the message about {score}")


    @pipeline
    def tolerant():
        score = train()
        notify(score)
        return score
"""


def test_a_tolerated_failure_leaves_the_run_successful_and_is_marked_in_run_and_show(cli):
    cli.write("tolerant.py", TOLERANT)

    result = cli.ok("run", "tolerant.py")

    assert result.output == "0.9"
    assert re.search(rf"^run {result.run_id} success in .*\(1 failed, 1 success\)$", result.stdout, re.M)
    assert re.search(
        r"^. notify\s+. failed \(tolerated\)\s+. 1\s+. .*ConnectionError: smtp.example.com refused",
        result.stdout,
        re.M,
    ), result.stdout
    shown = cli.ok("show", "last").stdout
    assert re.search(
        r"^. notify\s+. failed \(tolerated\)\s+. 1\s+. .*ConnectionError: smtp.example.com", shown, re.M
    ), shown
    tasks = cli.tasks()
    assert (tasks["notify"]["state"], tasks["notify"]["tolerated"]) == ("failed", True)
    assert tasks["train"]["tolerated"] is False
    assert cli.json("show", "last")["state"] == "success"


SCRIPT = """
    from suiro import pipeline, task


    @task
    def load() -> list[int]:
        return [1, 2, 3]


    @task
    def validate(rows: list[int]) -> bool:
        return all(r > 0 for r in rows)


    @task
    def preprocess(rows: list[int]) -> list[int]:
        return [r * 2 for r in rows]


    @task
    def train(rows: list[int]) -> int:
        return sum(rows)


    @pipeline
    def script():
        rows = load()
        validate(rows)
        return train(preprocess(rows))
"""


def test_graph_shows_which_tasks_can_run_at_once(cli):
    cli.write("script.py", SCRIPT)

    text = cli.ok("graph", "script.py").stdout

    assert text.endswith(
        "  can run at once (each step after the one before):\n"
        "    1: load\n"
        "    2: validate, preprocess\n"
        "    3: train\n"
    ), text


def test_graph_check_names_a_task_whose_output_nothing_uses_and_exits_1(cli):
    cli.write("script.py", SCRIPT)

    result = cli.expect(1, "graph", "script.py", "--check")

    assert result.stdout == (
        "task validate's output is used by nothing: if preprocess must run after it, write "
        "validate >> preprocess; if nothing must, return its output from the pipeline or drop it.\n"
    )


def test_graph_check_passes_once_the_order_is_written(cli):
    cli.write(
        "script.py",
        SCRIPT.replace("validate(rows)\n", "validate(rows) >> (pre := preprocess(rows))\n").replace(
            "return train(preprocess(rows))", "return train(pre)"
        ),
    )

    result = cli.ok("graph", "script.py", "--check")

    assert result.stdout == "pipeline script: every task's output is used.\n"
