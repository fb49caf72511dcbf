"""``suiro explain`` in words a user wrote, and ``suiro logs`` of a task that was a cache hit.

explain names the task's parameters (``batch_id``), not the positions of its arguments (``#1``),
and says what a parameter or literal changed from and to (masked, cut to about 60 characters).
``suiro logs RUN TASK`` for a task that was a cache hit in RUN says which run ran it and prints
that run's logs of it.
"""

from __future__ import annotations

import pytest
from pipelines.cli_harness import Cli

BATCHES = """
    from suiro import context, pipeline, task


    @task
    def load(source: str, batch_id: int) -> list[int]:
        print(f"loading batch {batch_id} from {source}, attempt {context().attempt}")
        if context().attempt == 1 and batch_id == 3:
            raise ConnectionError("flaky source")
        return [batch_id] * 3


    @task
    def train(rows: list[int], rate: float, *extra: str, note: str = "") -> float:
        print(f"training at {rate}")
        return sum(rows) * rate


    @pipeline
    def batches(batch_id: int = 3, token: str = "public", label: str = "a"):
        rows = load.with_options(retries=1)("db", batch_id)
        return train(rows, RATE, token, note=label)
"""


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


def write(cli: Cli, rate: str = "0.5") -> None:
    cli.write("batches.py", BATCHES.replace("RATE", rate))


def explain(cli: Cli, run: str, task: str) -> list[str]:
    return cli.ok("explain", run, task).stdout.splitlines()


def test_explain_names_the_parameter_that_changed_and_its_values(cli):
    write(cli)
    first = cli.ok("run", "batches.py").run_id
    second = cli.ok("run", "batches.py", "--set", "batch_id=4").run_id
    assert explain(cli, second, "load") == [
        f"load in run {second}: success",
        "ran because `batch_id` changed from 3 to 4",
        f"(compared with run {first})",
    ]
    assert explain(cli, second, "train")[1] == "ran because `rows` changed (a new output of task load)"
    why = cli.json("explain", second, "load")
    assert why["changed"] == ["input batch_id"]
    assert why["reason"] == "ran because `batch_id` changed from 3 to 4"


def test_explain_names_every_change_of_code_literals_and_keywords(cli):
    write(cli, "0.5")
    cli.ok("run", "batches.py")
    write(cli, "0.25")  # a literal in the pipeline's call: train's own code is the same
    second = cli.ok("run", "batches.py", "--set", "label=b").run_id
    assert explain(cli, second, "train")[1] == (
        "ran because `note` changed from 'a' to 'b' and `rate` changed from 0.5 to 0.25"
    )
    third = cli.ok("run", "batches.py", "--set", "label=b", "--set", "token=other").run_id
    assert explain(cli, third, "train")[1] == "ran because `extra[0]` changed from 'public' to 'other'"


def test_explain_masks_secrets_and_cuts_long_values(cli):
    write(cli)
    cli.ok("run", "batches.py")
    canary = "hunter2-CANARY-x"
    env = {"SUIRO_SECRET_TOKEN": canary}
    second = cli.ok("run", "batches.py", "--set", f"token={canary}", env=env).run_id
    assert explain(cli, second, "train")[1] == "ran because `extra[0]` changed from 'public' to '***'"
    third = cli.ok(
        "run", "batches.py", "--set", f"token={canary}", "--set", f"label={'x' * 100}", env=env
    ).run_id
    assert explain(cli, third, "train")[1] == f"ran because `note` changed from 'a' to '{'x' * 56}..."
    dump = b"".join(p.read_bytes() for p in cli.home.rglob("*") if p.is_file())
    assert canary.encode() not in dump, "the secret reached a file under the home"


def test_logs_of_a_cached_task_are_those_of_the_run_that_ran_it(cli):
    write(cli)
    first = cli.ok("run", "batches.py").run_id
    second = cli.ok("run", "batches.py").run_id
    third = cli.ok("run", "batches.py").run_id
    assert cli.tasks(third)["load"]["state"] == "cached"
    logs = cli.ok("logs", third, "load").stdout.splitlines()
    retried = logs.index("== load attempt 2 (success)")
    assert logs[:4] == [
        f"load was a cache hit in run {third}; its logs are those of run {first}, which ran it:",
        "== load attempt 1 (retrying)",
        "loading batch 3 from db, attempt 1",
        "Traceback (most recent call last):",  # how attempt 1 ended
    ]
    assert logs[retried:] == ["== load attempt 2 (success)", "loading batch 3 from db, attempt 2"]
    assert cli.ok("logs", second, "train", "--attempt", "1").stdout.splitlines() == [
        f"train was a cache hit in run {second}; its logs are those of run {first}, which ran it:",
        "== train attempt 1 (success)",
        "training at 0.5",
    ]
    assert cli.ok("logs", first, "train").stdout.splitlines() == [
        "== train attempt 1 (success)",
        "training at 0.5",
    ]


SQUARES = """
    from suiro import pipeline, task


    @task
    def square(x: int) -> int:
        print(f"squaring {x}")
        return x * x


    @pipeline
    def squares(xs: list[int] = [1, 2, 3]):
        return square.map(xs)
"""


def test_logs_of_reused_mapped_items_come_from_the_runs_that_ran_them(cli):
    cli.write("squares.py", SQUARES)
    first = cli.ok("run", "squares.py").run_id
    second = cli.ok("run", "squares.py", "--set", "xs=[1,2,4]").run_id  # items 0 and 1 reused
    assert cli.ok("logs", second, "square").stdout.splitlines() == [
        f"square[0] was a cache hit in run {second}; its logs are those of run {first}, which ran it:",
        "== square[0] attempt 1 (success)",
        "squaring 1",
        f"square[1] was a cache hit in run {second}; its logs are those of run {first}, which ran it:",
        "== square[1] attempt 1 (success)",
        "squaring 2",
        "== square[2] attempt 1 (success)",
        "squaring 4",
    ]
    third = cli.ok("run", "squares.py", "--set", "xs=[1,2,4]").run_id  # the whole task reused
    assert cli.tasks(third)["square"]["state"] == "cached"
    assert cli.ok("logs", third, "square").stdout.splitlines() == [
        f"square was a cache hit in run {third}; its logs are those of run {first}, which ran it:",
        "== square[0] attempt 1 (success)",
        "squaring 1",
        "== square[1] attempt 1 (success)",
        "squaring 2",
        f"square was a cache hit in run {third}; its logs are those of run {second}, which ran it:",
        "== square[2] attempt 1 (success)",
        "squaring 4",
    ]
    fourth = cli.ok("run", "squares.py", "--set", "xs=[4,1]").run_id  # each item reused, from two runs
    assert cli.tasks(fourth)["square"]["state"] == "cached"
    explained = cli.ok("explain", fourth, "square").stdout  # it said "ran in run None"
    assert f"each item's code, options and inputs ran before, in runs {first}, {second}" in explained


PROJECT_PIPE = """
    from helpers import clean

    from suiro import pipeline, task

    OFFSET = 1


    @task
    def prepare(n: int) -> list[int]:
        return [clean(i) + OFFSET for i in range(n)]


    @task
    def total(rows: list[int]) -> int:
        return sum(rows)


    @pipeline
    def project(n: int = 4):
        return total(prepare(n))
"""


def test_a_helper_or_constant_a_task_reads_is_part_of_its_code(tmp_path):
    # A pipeline file imports a module beside it, run from another folder; editing the helper or
    # a constant re-runs the task (the cache served the old output before: a wrong result).
    cli = Cli(tmp_path)
    (tmp_path / "project").mkdir()
    cli.write("project/helpers.py", "SCALE = 2\n\n\ndef clean(x):\n    return x * SCALE\n")
    cli.write("project/pipe.py", PROJECT_PIPE)
    assert cli.ok("run", "project/pipe.py").output == "16"
    assert cli.tasks()["prepare"]["state"] == "success"
    assert cli.ok("run", "project/pipe.py").output == "16" and cli.tasks()["prepare"]["state"] == "cached"

    cli.write("project/helpers.py", "SCALE = 3\n\n\ndef clean(x):\n    return x * SCALE\n")
    assert cli.ok("run", "project/pipe.py").output == "22"
    assert {k: t["state"] for k, t in cli.tasks().items()} == {"prepare": "success", "total": "success"}
    assert "ran because code changed" in cli.ok("explain", "last", "prepare").stdout

    cli.write("project/pipe.py", PROJECT_PIPE.replace("OFFSET = 1", "OFFSET = 0"))
    assert cli.ok("run", "project/pipe.py").output == "18"
