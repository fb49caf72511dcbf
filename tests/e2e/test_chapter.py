"""Every port of the textbook chapter in examples/chapter/ runs through the CLI and does what it says.

One test per listing or exercise: ``suiro run examples/chapter/NAME.py`` in a subprocess (the
harness), then what was recorded is read back (``suiro show --json``, ``logs``, ``metrics``,
``graph``), so each test checks the output, the task states or the branch taken, not only
that the file ran.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.pipelines.cli_harness import Cli
from tests.pipelines.smtp_stub import SmtpServer

CHAPTER = Path(__file__).resolve().parents[2] / "examples" / "chapter"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def example(name: str) -> str:
    path = CHAPTER / f"{name}.py"
    assert path.exists(), path
    return str(path)


def run(cli: Cli, name: str, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    """Run one chapter example; return its output as a Python value (None for a failed run)."""
    result = cli.expect(code, "run", example(name), *args, env=env)
    if code != 0 or "\noutput: " not in result.stdout:
        return None
    # The summary's last item; a long one is wrapped by the renderer at spaces, so rejoin its lines.
    text = result.stdout[result.stdout.index("\noutput: ") + len("\noutput: ") :]
    return ast.literal_eval(" ".join(line.strip() for line in text.splitlines()))


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


def hours(times: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(hour, minute) in UTC of each fire time ``suiro deployments --json`` lists."""
    return [(int(t["utc"][11:13]), int(t["utc"][14:16])) for t in times]


def states(cli: Cli) -> dict[str, str]:
    return {key: task["state"] for key, task in cli.tasks().items()}


def test_every_file_in_the_chapter_folder_has_a_test():
    tested = set(re.findall(r'(?:run\(\s*cli,\s*|"run", example\()"(\d\d_\w+)"', Path(__file__).read_text()))
    on_disk = {path.stem for path in CHAPTER.glob("[0-9]*.py")}
    assert on_disk == tested


def test_01_design_principles_reruns_from_cache(cli):
    assert run(cli, "01_design_principles", "--set", "batch_id=2") == {
        "batch_id": 2,
        "rows": 10,
        "total": 10022.5,
    }
    assert [(m["name"], m["value"]) for m in cli.json("metrics", "last")] == [("batch_total", 10022.5)]
    again = cli.ok("run", example("01_design_principles"), "--set", "batch_id=2")
    assert "(3 cached)" in again.stdout  # rerunnable without a force flag: nothing recomputed
    assert "batch 2: succeeded, 10 rows" in cli.ok("logs", "last", "process_batch").stdout


def test_02_airflow_basic_dag_ends_in_the_shell_validate_task(cli):
    assert run(cli, "02_airflow_basic_dag") == "model validated: accuracy=0.92"
    assert states(cli) == dict.fromkeys(["extract", "transform", "train", "validate"], "success")
    shown = cli.json("show", "last")
    assert shown["owner"] == "mlops-team" and shown["tags"] == ["ml", "training"]


def test_02_a_failed_run_mails_the_dags_address(cli, smtp):
    # No records to extract fails extract at once (retrying cannot fill the table); email_on_failure
    # is notify=Notify(email=["alerts@example.com"]): the message reaches a real SMTP server.
    run(cli, "02_airflow_basic_dag", "--set", "records=0", code=1, env=smtp.env())
    (mail,) = smtp.mailbox.messages
    assert mail["To"] == "alerts@example.com"
    assert mail["Subject"].endswith("of ml_pipeline_basic failed")
    body = mail.get_content()
    assert "failed task: extract" in body and "suiro logs " in body and "no records to extract" in body
    assert cli.tasks()["extract"]["attempts"] == 1
    assert [(d["channel"], d["state"]) for d in cli.json("notifications")] == [("email", "sent")]


def test_the_airflow_schedules_are_each_dags_default_deployment(cli):
    # schedule_interval + start_date are @pipeline(schedule=...); catchup=False is suiro's default
    # catch-up, latest (one run for the latest missed tick after downtime).
    from datetime import UTC, datetime

    expected = {
        "02_airflow_basic_dag": ("ml_pipeline_basic", "0 2 * * *", 2),
        "03_airflow_complete_pipeline": ("complete_ml_pipeline", "0 0 * * *", 0),
        "17_exercise2_fixed_dag": ("example", "0 0 * * *", 0),
    }
    for file, (name, cron, hour) in expected.items():
        (done,) = cli.json("deploy", example(file))
        assert (done["name"], done["schedule"]["cron"], done["catchup"]) == (name, cron, "latest")
        assert done["schedule"]["start"] == datetime(2025, 1, 1, tzinfo=UTC).timestamp()
        fires = [datetime.fromtimestamp(t, UTC) for t in done["next"]]
        assert [(f.hour, f.minute) for f in fires] == [(hour, 0)] * 3


def test_03_airflow_complete_pipeline_branches_on_accuracy(cli, smtp):
    # The listing's threshold (0.8) on its random target: the alert branch, which tells the
    # project's address (a gate_failed notification, by e-mail to a real SMTP server).
    env = {**smtp.env(), "SUIRO_NOTIFY_EMAIL": "ops@example.com"}
    assert run(cli, "03_airflow_complete_pipeline", env=env).startswith("alert: model rejected, accuracy 0.")
    tasks = states(cli)
    assert (tasks["send_alert"], tasks["register_model"], tasks["end"]) == ("success", "skipped", "success")
    (mail,) = smtp.mailbox.messages
    assert mail["To"] == "ops@example.com" and "complete_ml_pipeline" in mail["Subject"]
    assert "alert: model rejected, accuracy 0." in mail.get_content()
    # A lower threshold: the register branch (the rest are cache hits).
    assert run(cli, "03_airflow_complete_pipeline", "--set", "threshold=0.4").startswith(
        "registered chapter_complete v1"
    )
    tasks = states(cli)
    assert (tasks["register_model"], tasks["send_alert"], tasks["end"]) == ("success", "skipped", "success")


def test_04_airflow_best_practices_waits_for_its_file_then_trains_one_task_run_per_model(cli):
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, example("04_airflow_best_practices")], cwd=cli.root, env=cli.env(), check=True
    )
    assert (cli.root / "chapter_work" / "input.csv").exists()
    assert run(cli, "04_airflow_best_practices") in {
        "random_forest",
        "gradient_boosting",
        "logistic_regression",
    }
    tasks = cli.tasks()
    assert tasks["train"]["items"] == {"success": 3}
    assert tasks["wait_for_file"]["state"] == "success"
    assert "found 1 file matching" in cli.ok("logs", "last", "wait_for_file").stdout


def test_05_kfp_basic_pipeline_passes_dataset_and_model_files_between_tasks(cli):
    assert run(cli, "05_kfp_basic_pipeline", "--set", "n_estimators=10") is None
    stored = cli.json("artifacts", "last")
    assert [(a["task_key"], a["state"]) for a in stored] == [
        ("load_data", "success"),
        ("train_model", "success"),
        ("evaluate_model", "success"),
    ]
    files = {f["name"]: f for a in stored for f in a.get("files", [])}
    assert (files["dataset"]["kind"], files["dataset"]["metadata"]) == ("Dataset", {"rows": 5})
    assert files["model"]["kind"] == "Model" and files["model"]["metadata"]["n_estimators"] == 10
    assert files["metrics"]["kind"] == "Metrics" and files["metrics"]["metadata"] == {"accuracy": 1.0}


def test_06_kfp_containerized_runs_each_container_as_a_command(cli):
    accuracy = float(run(cli, "06_kfp_containerized", "--set", "workdir=work", "--set", "n_estimators=10"))
    assert 0.8 < accuracy <= 1.0
    assert (cli.root / "work" / "prepared.csv").is_file() and (cli.root / "work" / "model.pkl").is_file()
    assert states(cli) == dict.fromkeys(["prepare_data", "train_model", "evaluate_model"], "success")


def test_07_kfp_tuning_pipeline_trains_with_the_tuned_parameters(cli):
    best = run(cli, "07_kfp_tuning_pipeline")
    assert best["n_estimators"] in (10, 20) and best["max_depth"] in (3, 6)
    files = {f["name"]: f for a in cli.json("artifacts", "last") for f in a.get("files", [])}
    assert [files[n]["kind"] for n in ("data", "train_data", "test_data", "model", "metrics")] == [
        "Dataset",
        "Dataset",
        "Dataset",
        "Model",
        "Metrics",
    ]
    assert files["train_data"]["metadata"]["rows"] + files["test_data"]["metadata"]["rows"] == 569
    assert files["model"]["metadata"] == best  # trained with the tuned parameters
    assert files["metrics"]["metadata"]["accuracy"] > 0.9
    metrics = {m["name"] for m in cli.json("metrics", "last")}
    assert {"cv_accuracy", "accuracy", "f1_score", "precision", "recall"} <= metrics


def test_08_prefect_etl_flow_runs_its_body_after_the_tasks(cli):
    result = cli.ok("run", example("08_prefect_etl_flow"), "--set", "records=7")
    assert result.stdout.rstrip().endswith("output: True")
    # the body's print runs at run time, after the tasks it follows (dynamic=True), not at trace time
    assert result.stdout.index("load_data  success") < result.stdout.index(
        "ETL pipeline completed: 7 records"
    )
    assert "transforming 7 records" in cli.ok("logs", "last", "transform_data").stdout


def test_09_prefect_dynamic_tasks_loops_over_the_model_types_at_run_time(cli):
    # No list given: the body's `if model_types is None` picks the four defaults, then loops.
    best = run(cli, "09_prefect_dynamic_tasks")
    assert best["model"] in {"random_forest", "extra_trees", "decision_tree", "naive_bayes"}
    assert best["accuracy"] > 0.9
    # one call per model type in the body's loop, in its order, then the selection
    calls = ["train_model", "train_model_2", "train_model_3", "train_model_4", "select_best_model"]
    assert states(cli) == dict.fromkeys(calls, "success")


def test_10_prefect_complete_pipeline_registers_only_above_the_floor(cli):
    output = run(cli, "10_prefect_complete_pipeline", "--set", "n_estimators=10")
    assert output["model"] == "chapter_prefect v1" and output["metrics"]["accuracy"] >= 0.7
    assert [m["name"] for m in cli.json("models", "list")] == ["chapter_prefect"]
    tasks = cli.tasks()
    # validate_data ran before preprocess_data although it passes it nothing (the `>>`)
    assert tasks["preprocess_data"]["started"] >= tasks["validate_data"]["ended"]
    refused = run(
        cli, "10_prefect_complete_pipeline", "--set", "n_estimators=10", "--set", "min_accuracy=0.99"
    )
    assert refused["model"] is False
    tasks = cli.tasks()
    assert tasks["collect_data"]["cached_from"] is None  # cache=False: collected again, not a hit


def test_11_prefect_deployment_suiro_yaml_deploys_both_chapter_deployments(cli):
    done = cli.ok("deploy", "--file", str(CHAPTER / "11_suiro.yaml")).stdout
    assert "deployed daily-ml-training:" in done and "params: n_estimators=100" in done
    deployed = {d["name"]: d for d in cli.json("deployments")}
    assert sorted(deployed) == ["daily-ml-training", "production-deployment"]
    # CronSchedule(cron="0 2 * * *"): 02:00 UTC every day; IntervalSchedule(hours=6): 00, 06, 12, 18 UTC
    assert hours(deployed["daily-ml-training"]["next"]) == [(2, 0)] * 3
    every6 = deployed["production-deployment"]["next"]
    assert {h % 6 for h, _ in hours(every6)} == {0} and every6[1]["at"] - every6[0]["at"] == 6 * 3600
    preview = cli.ok("schedule", "preview", "production-deployment", "--next", "8").stdout
    assert all(preview.count(f"{h:02d}:00 UTC") == 2 for h in (0, 6, 12, 18)), preview


def test_11_prefect_deployment_runs_on_its_data_interval(cli):
    by_hand = run(cli, "11_prefect_deployment")  # a run by hand: an empty interval, now
    assert by_hand["since"] == by_hand["until"] and by_hand["accuracy"] > 0.8
    window = run(
        cli, "11_prefect_deployment", "--set", "since=2026-12-01T06:00", "--set", "until=2026-12-01T12:00"
    )
    assert (window["since"], window["until"]) == ("2026-12-01T06:00:00", "2026-12-01T12:00:00")
    assert cli.json("show", "last")["tags"] == ["ml", "production"]


def test_11_a_scheduled_run_processes_the_six_hours_before_its_tick(cli):
    # What `suiro scheduler` starts for the 12:00 UTC tick: suiro.run with the tick's Scheduled.
    from datetime import UTC, datetime

    import suiro
    from suiro.api import load_pipeline
    from suiro.runinfo import Scheduled
    from suiro.schedules import Schedule

    pipe = load_pipeline(example("11_prefect_deployment") + ":production_ml_pipeline")
    noon = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
    start, end = Schedule.parse(pipe.schedule).interval(noon)
    scheduled = Scheduled(
        deployment="production-deployment", logical_time=noon, interval_start=start, interval_end=end
    )
    result = suiro.run(pipe, home=cli.home, scheduled=scheduled)
    assert (result.output["since"], result.output["until"]) == (
        "2026-12-01T06:00:00+00:00",
        "2026-12-01T12:00:00+00:00",
    )
    shown = cli.json("show", "last")
    assert (shown["deployment"], shown["logical_time"]) == ("production-deployment", noon)


def test_11_prefect_deployment_deploys_from_python_and_from_its_schedule(cli):
    import subprocess
    import sys

    # The listing's deployment.apply(), from Python; then the file's @pipeline(schedule=...) by the CLI.
    applied = subprocess.run(
        [sys.executable, example("11_prefect_deployment")],
        cwd=cli.root,
        env=cli.env(),
        check=True,
        capture_output=True,
        text=True,
    )
    assert applied.stdout.startswith("deployed production-deployment: production_ml_pipeline")
    cli.ok("deploy", example("11_prefect_deployment"))
    deployed = {d["name"]: d for d in cli.json("deployments")}
    assert {n: (d["schedule"], d["source"]) for n, d in deployed.items()} == {
        "production-deployment": ("every 6h (UTC)", "python"),
        "production_ml_pipeline": ("every 6h (UTC)", "python"),
    }


def test_12_idempotency_patterns_leave_the_same_state_when_run_twice(cli):
    first = run(cli, "12_idempotency_patterns", "--set", "workdir=work", "--set", "rows=3")
    (cli.root / "work" / "output" / "stray.txt").write_text("from an earlier run")
    second = run(cli, "12_idempotency_patterns", "--set", "workdir=work", "--set", "rows=3")
    assert (
        first
        == second
        == {"data": "work/output/data.txt", "versioned": "work/output/output_v1.csv", "table_rows": 3}
    )
    assert sorted(p.name for p in (cli.root / "work" / "output").iterdir()) == ["data.txt", "output_v1.csv"]
    assert (cli.root / "work" / "output" / "data.txt").read_text().count("new data") == 3


def test_13_error_handling_retries_then_tolerates_a_non_critical_failure(cli):
    assert run(cli, "13_error_handling") == {"model": 49.5, "enriched": 100, "failed": []}
    assert cli.tasks()["fetch_data"]["attempts"] == 3
    # enrich has allow_failure=True: its failure is recorded, the run still succeeds (exit 0).
    assert run(cli, "13_error_handling", "--set", "fail_enrich=true") == {
        "model": 49.5,
        "enriched": None,
        "failed": ["enrich"],
    }
    tasks = cli.tasks()
    assert (tasks["enrich"]["state"], tasks["summarize"]["state"]) == ("failed", "success")


def test_14_parameterization_layers_yaml_then_environment_then_set(cli):
    config = str(CHAPTER / "14_config.yaml")
    environment = {"SUIRO_PARAM_HYPERPARAMETERS": "{max_depth: 3, min_samples_split: 2}"}
    output = run(
        cli, "14_parameterization", "-c", config, "--set", "pipeline.n_estimators=7", env=environment
    )
    expected = {"model_type": "random_forest", "n_estimators": 7, "max_depth": 3, "min_samples_split": 2}
    assert output["config"] == expected  # n_estimators from --set, the hyper-parameters from the environment
    assert output["accuracy"] > 0.85
    params = cli.json("show", "last")["params"]
    assert params["pipeline"]["test_size"] == 0.25  # from the YAML file; the rest of the field kept


def test_15_testability_runs_and_its_tasks_are_plain_functions(cli):
    assert 0.9 < run(cli, "15_testability") <= 1.0
    spec = importlib.util.spec_from_file_location("chapter_testability", example("15_testability"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.preprocess(pd.DataFrame({"f1": [1.0, 2.0, None, 4.0], "f2": [10.0, None, 30.0, 40.0]}))
    assert result.isna().sum().sum() == 0 and len(result) == 2
    assert result["f1"].mean() == pytest.approx(0.0)


def test_16_exercise1_dag_is_the_chapter_figure(cli):
    graph = cli.ok("graph", example("16_exercise1_dag")).stdout
    for line in ("train  <- after split", "tune  <- after split", "evaluate  <- after split, train, tune"):
        assert line in graph, graph
    assert "deploy  <- after evaluate, register; when evaluate['accuracy'] >= threshold" in graph
    assert run(cli, "16_exercise1_dag").startswith("deployed: registered (accuracy 0.9")
    assert states(cli)["alert"] == "skipped"
    assert run(cli, "16_exercise1_dag", "--set", "threshold=0.999").startswith("alert: accuracy 0.9")
    tasks = states(cli)
    assert (tasks["deploy"], tasks["register"]) == ("skipped", "skipped")


def test_17_exercise2_fixed_dag_orders_b_after_a(cli):
    assert run(cli, "17_exercise2_fixed_dag") == "b"
    tasks = cli.tasks()
    assert tasks["task_b"]["started"] >= tasks["task_a"]["ended"]
    assert "Task B" in cli.ok("logs", "last", "task_b").stdout


def test_18_exercise3_output_is_the_same_after_two_runs(cli):
    assert run(cli, "18_exercise3_idempotent", "--set", "workdir=work") == 4
    first = (cli.root / "work" / "output.csv").read_bytes()
    assert run(cli, "18_exercise3_idempotent", "--set", "workdir=work") == 4
    written = (cli.root / "work" / "output.csv").read_bytes()
    assert written == first == b"a,b\n0,8\n2,10\n4,12\n6,14\n"
    # the returned File is stored by its bytes, as a Dataset
    stored = [(f["kind"], f["digest"]) for a in cli.json("artifacts", "last") for f in a.get("files", [])]
    assert stored == [("Dataset", hashlib.sha256(written).hexdigest())]


def test_19_exercise4_trains_each_model_type_and_picks_the_best(cli):
    best = run(cli, "19_exercise4_multi_model", "--set", "model_types=[random_forest,lightgbm]")
    assert best["model"] in {"random_forest", "lightgbm"} and best["value"] > 0.9
    # the body's loops at run time: one train and one evaluate call per model type
    assert states(cli) == dict.fromkeys(
        ["load_dataset", "split", "train", "train_2", "evaluate", "evaluate_2", "pick_best", "report"],
        "success",
    )


def test_20_exercise5_retries_only_the_chosen_errors(cli):
    run(cli, "20_exercise5_retry_backoff", code=1)
    tasks = cli.tasks()
    assert {k: (t["state"], t["attempts"]) for k, t in tasks.items()} == {
        "flaky": ("success", 3),
        "always_fails": ("failed", 4),
        "not_retryable": ("failed", 1),
        "summary": ("success", 1),
    }
    assert [e["error_type"] for e in tasks["not_retryable"]["errors"]] == ["RuntimeError"]
    assert [e["error_type"] for e in tasks["flaky"]["errors"]] == ["ValueError", "ValueError"]
