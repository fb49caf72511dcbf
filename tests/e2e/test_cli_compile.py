"""``suiro task-run`` and ``suiro compile`` from the command line, as an engine's task calls them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli

PIPELINES = Path(__file__).parents[1] / "pipelines" / "compilable.py"


def test_task_run_prints_and_writes_the_output_reference_the_next_task_reads(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    target = f"{PIPELINES}:small"
    numbers = cli.ok("task-run", target, "numbers", "--params", '{"n": 2}', "--output", "out/numbers.json")
    ref = json.loads(numbers.stdout.strip().splitlines()[-1])
    assert json.loads((tmp_path / "out" / "numbers.json").read_text()) == ref
    assert json.loads(ref["inline"]) == [1, 2]
    inputs = json.dumps({"numbers": ref})
    assert (
        cli.ok("task-run", target, "square", "--inputs", inputs, "--mode", "count").stdout.strip() == "[0, 1]"
    )
    square = cli.ok("task-run", target, "square", "--inputs", inputs, "--index", "1")
    assert json.loads(json.loads(square.stdout.strip().splitlines()[-1])["inline"]) == 4


def test_bad_input_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    target = f"{PIPELINES}:small"
    line = cli.error(2, "task-run", target, "numbers", "--params", "{n: 2}")
    assert line.startswith("error: --inputs and --params must be JSON objects (")
    line = cli.error(
        2, "task-run", target, "square", "--inputs", '{"numbers": {"digest": "0"}}', "--mode", "count"
    )
    assert "the input from numbers is not a suiro output reference" in line
    pytest.importorskip("kfp")
    line = cli.error(2, "compile", f"{PIPELINES}:one_of", "--target", "kfp", "-o", "one_of.yaml")
    assert line.startswith("error: cannot compile pipeline one_of for KFP: task either (")
    assert "trigger_rule one_success, which KFP cannot express" in line
    assert not (tmp_path / "one_of.yaml").exists()
    done = cli.ok("compile", f"{PIPELINES}:gated", "--target", "kfp", "-o", "gated.yaml")
    assert done.stdout == "compiled gated (5 tasks) for kfp to gated.yaml\n"
    assert (tmp_path / "gated.yaml").stat().st_size > 1000


def test_compile_for_airflow_writes_a_dag_file_and_refuses_kfps_options_in_one_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    done = cli.ok(
        "compile", f"{PIPELINES}:small", "--target", "airflow", "-o", "dags/small.py",
        "--suiro-command", "/opt/venv/bin/python -m suiro",
    )  # fmt: skip
    assert done.stdout == "compiled small (7 tasks) for airflow to dags/small.py\n"
    text = (tmp_path / "dags" / "small.py").read_text()
    assert "SUIRO = ['/opt/venv/bin/python', '-m', 'suiro']" in text and "with DAG(" in text
    line = cli.error(2, "compile", f"{PIPELINES}:small", "--target", "airflow", "-o", "x.py", "--image", "i")
    assert line == "error: --image does not apply to --target airflow; see docs/compile.md."
    line = cli.error(
        2, "compile", f"{PIPELINES}:small", "-t", "airflow", "-o", "x.py", "--deployment", "nightly"
    )
    assert line == "error: no deployment named 'nightly'; deploy one with `suiro deploy`."
    assert not (tmp_path / "x.py").exists()


def test_a_logical_time_default_is_one_clear_sentence_for_kfp_as_for_airflow(tmp_path: Path) -> None:
    pytest.importorskip("kfp")
    cli = Cli(tmp_path)
    cli.write(
        "daily.py",
        """
        import suiro

        @suiro.task
        def load(day: str) -> str:
            return day

        @suiro.pipeline(schedule="@daily")
        def daily(day: str = suiro.logical.ds):
            return load(day)
        """,
    )
    line = cli.error(2, "compile", "daily.py", "--target", "kfp", "-o", "daily.yaml")
    assert line == (
        "error: pipeline daily: parameter day's default is suiro.logical.ds, a logical time the KFP target "
        "does not carry (a KFP run has no logical time); give it a plain default, or none and a value "
        "for each run."
    )
    assert not (tmp_path / "daily.yaml").exists()
