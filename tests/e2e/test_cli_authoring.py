"""Authoring features through the CLI: expressions on task outputs, pipeline-wide task defaults and
metadata, and sub-pipelines, run, shown, drawn and explained by ``suiro`` in a subprocess."""

from __future__ import annotations

import pytest
from pipelines.cli_harness import Cli


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


# --- expressions on task outputs -------------------------------------------------------------------

GATE = """
    from suiro import pipeline, task, when


    @task
    def evaluate(quality: float) -> dict:
        return {"accuracy": quality}


    @task
    def register(metrics: dict, path: str) -> str:
        return f"registered {metrics['accuracy']} from {path}"


    @task
    def alert(metrics: dict) -> str:
        return f"too low: {metrics['accuracy']}"


    @task(trigger_rule="one_success")
    def report(registered, alerted) -> str:
        return registered or alerted


    @pipeline
    def gate(quality: float = 0.9, threshold: float = 0.8, workdir: str = "/data"):
        metrics = evaluate(quality)
        passed = metrics["accuracy"] >= threshold
        with when(passed):
            registered = register(metrics, workdir + "/input.csv")
        with when(~passed):
            alerted = alert(metrics)
        return report(registered, alerted)
"""

IF_ON_A_COMPARISON = """
    from suiro import pipeline, task


    @task
    def evaluate(quality: float) -> dict:
        return {"accuracy": quality}


    @task
    def register(metrics: dict) -> str:
        return "registered"


    @pipeline
    def gate(quality: float = 0.9, threshold: float = 0.8):
        metrics = evaluate(quality)
        if metrics["accuracy"] >= threshold:
            register(metrics)
"""


def test_a_comparison_of_task_outputs_gates_a_branch_through_the_cli(cli):
    cli.write("gate.py", GATE)

    high = cli.ok("run", "gate.py")
    assert high.output == "'registered 0.9 from /data/input.csv'"
    assert {k: t["state"] for k, t in cli.tasks().items()} == {
        "evaluate": "success",
        "register": "success",
        "alert": "skipped",
        "report": "success",
    }
    low = cli.ok("run", "gate.py", "--set", "threshold=0.95")
    assert low.output == "'too low: 0.9'"
    assert cli.tasks()["register"]["state"] == "skipped"
    assert cli.tasks()["evaluate"]["state"] == "cached"

    text = cli.ok("graph", "gate.py").stdout
    assert (
        "  register  <- after evaluate; path = workdir + '/input.csv'; "
        "when evaluate['accuracy'] >= threshold\n" in text
    )
    assert "  alert  <- after evaluate; when not evaluate['accuracy'] >= threshold\n" in text
    mermaid = cli.ok("graph", "gate.py", "--format", "mermaid").stdout
    assert "    n0 -- \"when evaluate['accuracy'] #gt;= threshold\" --> n1\n" in mermaid


def test_if_on_a_comparison_of_task_outputs_is_one_line_naming_the_line_and_the_fix(cli):
    path = cli.write("broken.py", IF_ON_A_COMPARISON)
    line_no = path.read_text().splitlines().index('    if metrics["accuracy"] >= threshold:') + 1

    line = cli.error(2, "run", "broken.py")

    assert line == (
        "error: the expression evaluate['accuracy'] >= threshold was used as a Python bool (if/and/or/not) "
        f"at "
        f"{path}:{line_no}; its value does not exist while the pipeline is traced, so use `with when(ref):` "
        "for a branch (and ~ref for its negation, a & b or a | b to combine)."
    )


# --- task defaults, description, owner, tags ------------------------------------------------------------

DEFAULTS = """
    from pathlib import Path

    from suiro import pipeline, task

    COUNTS = Path(__file__).with_name("counts")


    @task
    def collect(n: int) -> list[int]:
        tries = len(COUNTS.read_text()) if COUNTS.exists() else 0
        COUNTS.write_text("x" * (tries + 1))
        if tries < 2:
            raise ConnectionError(f"the source is down (try {tries + 1})")
        return list(range(n))


    @task(retries=0, owner="data-eng")
    def summarize(rows: list[int]) -> int:
        return sum(rows)


    @pipeline(
        task_defaults={"retries": 2, "retry_delay": 0.01, "timeout": 3600},
        description="Collect and sum the rows.",
        owner="mlops-team",
        tags=["ml", "training"],
    )
    def nightly(n: int = 4):
        return summarize(collect(n))
"""


def test_task_defaults_retry_a_task_and_the_pipeline_says_what_it_is(cli):
    cli.write("nightly.py", DEFAULTS)

    result = cli.ok("run", "nightly.py", "--executor", "sequential")
    assert result.output == "6"
    tasks = cli.tasks()
    assert (tasks["collect"]["state"], tasks["collect"]["attempts"]) == ("success", 3)
    shown = cli.json("show", "last")
    assert (shown["description"], shown["owner"], shown["tags"]) == (
        "Collect and sum the rows.",
        "mlops-team",
        ["ml", "training"],
    )
    show = cli.ok("show", "last").stdout.splitlines()
    assert show[1] == "about: Collect and sum the rows. (owner: mlops-team; tags: ml, training)"

    text = cli.ok("graph", "nightly.py").stdout.splitlines()
    assert text[:5] == [
        "pipeline nightly",
        "  about: Collect and sum the rows. (owner: mlops-team; tags: ml, training)",
        "  params: n: int = 4",
        "  task defaults: retries=2, retry_delay=0.01, timeout=3600",
        "  collect",
    ]
    assert text[5] == "  summarize  <- after collect; owner data-eng"
    mermaid = cli.ok("graph", "nightly.py", "--format", "mermaid").stdout.splitlines()
    assert (
        mermaid[1]
        == "    %% pipeline nightly: Collect and sum the rows. (owner: mlops-team; tags: ml, training)"
    )
    dot = cli.ok("graph", "nightly.py", "--format", "dot").stdout.splitlines()
    assert (
        dot[2] == '    label="nightly: Collect and sum the rows. (owner: mlops-team; tags: ml, training)";'
        " labelloc=t;"
    )


def test_an_unknown_task_default_is_one_line_naming_it_with_the_close_one(cli):
    path = cli.write("bad.py", DEFAULTS.replace('"retries": 2', '"retires": 2'))
    line_no = path.read_text().splitlines().index("@pipeline(") + 1

    line = cli.error(2, "graph", "bad.py")

    assert line.startswith(
        f"error: pipeline nightly at {path}:{line_no}: task_defaults has an unknown option 'retires' "
        '(did you mean "retries"?); known options are allow_failure, backoff, '
    )


# --- sub-pipelines -----------------------------------------------------------------------------------------

SUB = """
    from suiro import pipeline, task


    @task
    def load(source: str) -> list[int]:
        return [1, 2, 3, 4]


    @task
    def clean(rows: list[int], limit: int) -> list[int]:
        print(f"cleaning {len(rows)} rows up to {limit}")
        return [r for r in rows if r <= limit]


    @task
    def scale(rows: list[int], factor: float) -> list[float]:
        return [r * factor for r in rows]


    @task
    def total(a: list[float], b: list[float]) -> float:
        return sum(a) + sum(b)


    @pipeline(description="Clean and scale the rows.")
    def prep(rows: list[int], limit: int = 3, factor: float = 2.0):
        return scale(clean(rows, limit), factor)


    @pipeline
    def training(source: str = "s3://x", factor: float = 10.0):
        rows = load(source)
        return total(prep(rows), prep(rows, limit=2, factor=factor))
"""


def test_a_sub_pipeline_runs_as_a_group_addressable_by_dotted_keys(cli):
    cli.write("sub.py", SUB)

    first = cli.ok("run", "sub.py")  # the file's one pipeline no other calls: training
    assert "pipeline training" in first.stdout
    assert first.output == "42.0"
    assert list(cli.tasks()) == ["load", "prep.clean", "prep.scale", "prep_2.clean", "prep_2.scale", "total"]
    logs = cli.ok("logs", "last", "prep_2.clean").stdout
    assert logs == "== prep_2.clean attempt 1 (success)\ncleaning 4 rows up to 2\n"

    cli.ok("run", "sub.py:training", "--set", "factor=100")
    explained = cli.ok("explain", "last", "prep_2.scale").stdout
    assert explained.startswith("prep_2.scale in run ")
    reason = explained.splitlines()[1]  # what changed: the input bound to the call's factor
    assert reason == "ran because `factor` changed from 10.0 to 100.0", explained
    assert cli.ok("explain", "last", "prep.scale").stdout.splitlines()[1].startswith("cache hit")

    text = cli.ok("graph", "sub.py").stdout
    assert (
        "  prep: pipeline prep - Clean and scale the rows.\n"
        "    prep.clean  <- after load\n"
        "    prep.scale  <- after prep.clean\n"
    ) in text
    mermaid = cli.ok("graph", "sub.py", "--format", "mermaid").stdout
    assert '    subgraph g1["prep_2: pipeline prep - Clean and scale the rows."]\n' in mermaid
    dot = cli.ok("graph", "sub.py", "--format", "dot").stdout
    assert '    subgraph "cluster_prep_2" {\n' in dot


def test_a_dotted_key_that_is_not_a_task_offers_the_closest(cli):
    cli.write("sub.py", SUB)
    cli.ok("run", "sub.py")

    line = cli.error(2, "logs", "last", "prep.clen")

    assert line.endswith(
        """has no task 'prep.clen' (did you mean "prep.clean"?); its tasks are load, prep.clean, """
        "prep.scale, "
        "prep_2.clean, prep_2.scale, total."
    )
