"""Dynamic pipelines through the command line: run with ``--set``, a failure, ``suiro resume``,
``suiro show``/``explain``, and ``suiro graph`` (known after a run)."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli_harness import Cli

SOURCE = """
    import os
    from pathlib import Path

    from suiro import pipeline, task

    HERE = Path(__file__).parent


    def mark(name):
        with open(HERE / "ledger.txt", "a") as ledger:
            ledger.write(name + "\\n")


    @task
    def load(n: int) -> list:
        mark("load")
        return list(range(n))


    @task
    def train(data: list, kind: str) -> dict:
        mark(f"train-{kind}")
        if (HERE / f"fail-{kind}").exists():
            raise RuntimeError(f"{kind} fails on purpose")
        return {"kind": kind, "score": sum(data) * (2 if kind == "rf" else 1)}


    @task
    def evaluate(model: dict) -> float:
        mark(f"evaluate-{model['kind']}")
        return float(model["score"])


    @pipeline(dynamic=True)
    def select(n: int = 3, model_types: list | None = None):
        data = load(n)
        if model_types is None:
            model_types = ["lr", "rf"]
        scores = {kind: evaluate(train(data, kind)) for kind in model_types}
        return max(scores, key=scores.get)
"""


def ran(root: Path) -> list[str]:
    ledger = root / "ledger.txt"
    lines = sorted(ledger.read_text().split()) if ledger.exists() else []
    ledger.write_text("")
    return lines


def test_a_dynamic_pipeline_runs_fails_resumes_and_is_drawn_from_the_command_line(tmp_path: Path):
    cli = Cli(tmp_path)
    cli.write("flow.py", SOURCE)

    refused = cli.error(2, "graph", "flow.py")
    assert refused == (
        "error: pipeline select is dynamic: its graph is known after a run; "
        "run it (suiro run), then suiro graph draws what that run called."
    )

    (tmp_path / "fail-rf").touch()
    failed = cli.expect(1, "run", "flow.py", "--set", "n=4")
    assert f"run {failed.run_id}: pipeline select, tasks as they are called," in failed.stdout
    assert ran(tmp_path) == ["evaluate-lr", "load", "train-lr", "train-rf"]
    tasks = cli.tasks(failed.run_id)
    assert {k: t["state"] for k, t in tasks.items()} == {
        "load": "success",
        "train": "success",
        "evaluate": "success",
        "train_2": "failed",
    }

    (tmp_path / "fail-rf").unlink()
    resumed = cli.ok("resume", failed.run_id)
    assert resumed.output == "'rf'"
    assert ran(tmp_path) == ["evaluate-rf", "train-rf"]  # nothing that succeeded ran again
    states = {k: t["state"] for k, t in cli.tasks(resumed.run_id).items()}
    assert states == {
        "load": "cached",
        "train": "cached",
        "evaluate": "cached",
        "train_2": "success",
        "evaluate_2": "success",
    }

    explained = cli.ok("explain", resumed.run_id, "train").stdout
    assert f"from run {failed.run_id}" in explained or failed.run_id in explained

    drawn = cli.ok("graph", "flow.py").stdout
    assert drawn.splitlines()[0] == f"(dynamic: the calls of run {resumed.run_id})"
    assert "  evaluate_2  <- after train_2" in drawn.splitlines()
