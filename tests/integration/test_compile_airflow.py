"""``suiro compile --target airflow`` in a real Airflow 3: the DAG files load into a ``DagBag`` with no
import errors (and Airflow's timetable fires at suiro's ticks), and ``airflow dags test`` runs them
end to end to the same final output as ``suiro run``.

Airflow lives in its own environment (it pins versions suiro's own dependencies conflict with):
``tests/.venvs/airflow`` (``make airflow-env``; ``SUIRO_AIRFLOW_VENV`` points elsewhere). Without it
these tests skip with one loud line. Each task runs this checkout's suiro through
``--suiro-command`` (this Python, with ``src`` on its path); Airflow's process never imports suiro.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from suiro import run
from suiro.compilers import compile_pipeline
from suiro.taskrun import load_ref

ROOT = Path(__file__).parents[2]
PIPELINES = ROOT / "tests" / "pipelines" / "compilable.py"
VENV = Path(os.environ.get("SUIRO_AIRFLOW_VENV", ROOT / "tests" / ".venvs" / "airflow"))

_DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
from airflow.timetables.base import TimeRestriction

bag = DagBag(sys.argv[1])
found = {"errors": {k: v.splitlines()[-1] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    ticks, last = [], None  # the first four runs from the start date, as Airflow's scheduler decides them
    timetable = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable  # the scheduler's
    if timetable.can_be_scheduled:
        for _ in range(4):
            info = timetable.next_dagrun_info(
                last_automated_data_interval=last, restriction=TimeRestriction(dag.start_date, None, True)
            )
            ticks.append(info.run_after.timestamp())
            last = info.data_interval
    found["dags"][dag_id] = {
        "tasks": {
            t.task_id: {
                "rule": getattr(t.trigger_rule, "value", t.trigger_rule),
                "upstream": sorted(t.upstream_task_ids),
                "mapped": bool(getattr(t, "is_mapped", False)),
                "retries": t.retries,
                "type": type(t).__name__,
            }
            for t in dag.tasks
        },
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "ticks": ticks,
    }
print(json.dumps(found))
"""


class _Airflow:
    """One Airflow home (its own SQLite database and DAG folder) and the commands run against it."""

    def __init__(self, home: Path):
        self.home, self.dags, self.suiro_home = home, home / "dags", home / "suiro"
        self.dags.mkdir(parents=True)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SUIRO", "PYTHON"))
        } | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        self.migrated = False

    def compile(self, name: str, target: str | None = None, **options: Any) -> Path:
        out = self.dags / f"{name}.py"
        suiro = shlex.join(["env", f"PYTHONPATH={ROOT / 'src'}", sys.executable, "-m", "suiro"])
        compile_pipeline(
            target or f"{PIPELINES}:{name}",
            "airflow",
            out,
            suiro_command=suiro,
            home=str(self.suiro_home),
            **options,
        )
        return out

    def dagbag(self) -> dict[str, Any]:
        done = self._run([str(VENV / "bin" / "python"), "-c", _DAGBAG, str(self.dags)])
        return json.loads(done.stdout.strip().splitlines()[-1])

    def test(self, dag_id: str, conf: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        if not self.migrated:
            self._run([str(VENV / "bin" / "airflow"), "db", "migrate"])
            self.migrated = True
        return self._run(
            [str(VENV / "bin" / "airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)], check=False
        )

    def output(self, dag_id: str, task_id: str) -> Any:
        """The value behind the output reference ``task_id`` pushed in the DAG's latest run."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            (value,) = db.execute(
                "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' "
                "ORDER BY timestamp DESC LIMIT 1",
                (dag_id, task_id),
            ).fetchone()
        return load_ref(json.loads(value), home=self.suiro_home)

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, env=self.env, cwd=self.home, capture_output=True, text=True, timeout=600)
        if check:
            assert done.returncode == 0, f"{argv[:3]} exited {done.returncode}:\n{done.stderr[-3000:]}"
        return done


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> _Airflow:
    if not (VENV / "bin" / "airflow").exists():
        pytest.skip(
            f"AIRFLOW NOT INSTALLED at {VENV}: the DagBag and `airflow dags test` checks of "
            "suiro compile --target airflow did not run; create it once with `make airflow-env`."
        )
    return _Airflow(tmp_path_factory.mktemp("airflow"))


@pytest.mark.slow
def test_the_dag_files_load_into_a_dagbag_and_fire_at_suiros_ticks(airflow: _Airflow) -> None:
    """About 5 s (past the default tier's budget): one Airflow process parses nine DAG files, three of
    them the chapter's Airflow listings (the built-in pipeline's: in its dags test)."""
    from suiro.deployments import deploy, get
    from suiro.schedules import Schedule

    for name in ("small", "gated", "one_of", "cleaning", "weekdays"):
        airflow.compile(name)
    for listing in ("02_airflow_basic_dag", "03_airflow_complete_pipeline", "04_airflow_best_practices"):
        airflow.compile(f"chapter_{listing[:2]}", str(ROOT / "examples" / "chapter" / f"{listing}.py"))
    deploy(name="six", pipeline=f"{PIPELINES}:identity", every="6h", catchup="all", max_active_runs=1)
    airflow.compile("identity", deployment="six")
    found = airflow.dagbag()
    assert found["errors"] == {}
    dags = found["dags"]
    chapter = ["best_practices", "complete_ml_pipeline", "ml_pipeline_basic"]
    assert sorted(dags) == sorted([*chapter, "cleaning", "gated", "identity", "one_of", "small", "weekdays"])
    assert dags["best_practices"]["tasks"]["train"]["mapped"]
    small = dags["small"]["tasks"]
    assert small["square"]["mapped"] and small["square"]["upstream"] == ["numbers", "square__items"]
    assert small["square"]["retries"] == 2 and small["summary"]["rule"] == "none_failed"
    assert dags["one_of"]["tasks"]["either"]["rule"] == "all_done_min_one_success"
    assert dags["cleaning"]["tasks"]["cleanup"]["rule"] == "all_done"
    assert dags["gated"]["tasks"]["big_2"]["upstream"] == ["big", "fit", "if_1", "small_"]
    assert dags["gated"]["tasks"]["if_2"]["type"] == "ShortCircuitOperator"
    for dag_id, schedule in (
        ("weekdays", Schedule.parse("0 6 * * 1-5", timezone="Asia/Tokyo")),
        ("identity", Schedule.from_json(get("six").schedule or {})),
    ):
        ticks = dags[dag_id]["ticks"]
        assert ticks == schedule.upcoming(ticks[0] - 1, 4), dag_id  # suiro's ticks, from the first
    assert (dags["identity"]["catchup"], dags["identity"]["max_active_runs"]) == (True, 1)
    assert (dags["weekdays"]["catchup"], dags["small"]["ticks"]) == (False, [])


@pytest.mark.slow
def test_dags_test_runs_a_map_and_in_task_guards_to_suiro_runs_output(airflow: _Airflow) -> None:
    """About 30 s with the Airflow database made (a one-off 3 s): an empty map (Airflow would skip an
    .expand over nothing, suiro's readers get an empty list) and the ~ branch decided in the task."""
    params = {"n": 0, "scale": 3.0, "limit": 2}
    expected = run(f"{PIPELINES}:small", params, record=False).output
    airflow.compile("small")
    done = airflow.test("small", params)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (
        airflow.output("small", "summary") == expected == {"total": 0.0, "note": "small: 0.0", "flag": True}
    )


@pytest.mark.slow
def test_dags_test_holds_guards_with_short_circuits_and_runs_past_a_failure_as_suiro_does(
    airflow: _Airflow, tmp_path: Path
) -> None:
    """About 35 s: a guard held by ShortCircuits, an all_done cleanup after a task that fails, and
    one_success as all_done_min_one_success."""
    expected = run(f"{PIPELINES}:gated", {"n": 3}, record=False).output
    airflow.compile("gated")
    assert airflow.test("gated", {"n": 3}).returncode == 0
    assert airflow.output("gated", "big_2") == expected == "over: 4: 4"
    suiro_run = run(f"{PIPELINES}:cleaning", {"n": 1, "marker": str(tmp_path / "suiro.txt")}, record=False)
    assert not suiro_run.ok  # boom failed; cleanup ran anyway with None for it
    airflow.compile("cleaning")
    marker = tmp_path / "airflow {{ ds }}.txt"  # a value that looks like Jinja reaches the task unrendered
    airflow.test("cleaning", {"n": 1, "marker": str(marker)})
    assert marker.read_text() == (tmp_path / "suiro.txt").read_text() == "cleaned after None"
    expected = run(f"{PIPELINES}:one_of", {"n": 3}, record=False).output
    airflow.compile("one_of")
    assert airflow.test("one_of", {"n": 3}).returncode == 0
    assert airflow.output("one_of", "either") == expected == "x: 4"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dags_test_runs_the_builtin_pipeline_to_suiro_runs_summary(airflow: _Airflow, tmp_path: Path) -> None:
    """About 90 s on 2 busy cores: 23 Airflow task runs, three tunings and trainings."""
    expected = run("suiro.ml.pipeline:training", home=tmp_path / "suiro-run").output
    airflow.compile("training", "suiro.ml.pipeline:training")
    found = airflow.dagbag()
    assert found["errors"] == {}
    assert len(found["dags"]["training"]["tasks"]) == 13 + 3 + 2  # a count per map; the alert's check, gate
    done = airflow.test("training", {})
    assert done.returncode == 0, done.stdout[-3000:]
    assert airflow.output("training", "summarize") == expected
    assert expected["gate"].startswith("passed: ")
