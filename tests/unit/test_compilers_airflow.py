"""``suiro compile --target airflow``: the DAG file's structure, read back with ``ast`` (no Airflow
here; tests/integration/test_compile_airflow.py loads and runs it in a real Airflow)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from suiro.compilers import CompileError, compile_pipeline

PIPELINES = Path(__file__).parents[1] / "pipelines" / "compilable.py"
CHAPTER = Path(__file__).parents[2] / "examples" / "chapter"


def _read(path: Path) -> dict[str, Any]:
    """The DAG file's constants, ``DAG(...)`` arguments, and each task: its operator, options,
    suiro call (key, inputs, mode), whether it is mapped (and over what), and its gates."""
    tree = ast.parse(path.read_text())
    consts = {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id.isupper()
    }
    (block,) = [n for n in tree.body if isinstance(n, ast.With)]
    dag_call = block.items[0].context_expr
    assert isinstance(dag_call, ast.Call) and ast.unparse(dag_call.func) == "DAG"
    dag = {k.arg: ast.unparse(k.value) for k in dag_call.keywords}
    names: dict[str, str] = {}  # variable text -> task id
    tasks: dict[str, dict[str, Any]] = {}
    for stmt in block.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            found = _task(stmt.value, names)
            if found is not None:
                names[ast.unparse(stmt.targets[0])] = found["task_id"]
                tasks[found["task_id"]] = found
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.BinOp):
            gate, after = names[ast.unparse(stmt.value.left)], names[ast.unparse(stmt.value.right)]
            tasks[after]["after"].append(gate)
    return {"consts": consts, "dag": dag, "tasks": tasks}


def _task(call: ast.Call, names: dict[str, str]) -> dict[str, Any] | None:
    mapped_over = None
    if isinstance(call.func, ast.Attribute) and call.func.attr == "expand":
        mapped_over = names[ast.unparse(call.keywords[0].value)]
        call = call.func.value  # .partial(...)
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
        operator = call.func.value
    elif ast.unparse(call.func) == "ShortCircuitOperator":
        options = {k.arg: ast.unparse(k.value) for k in call.keywords}
        task_id = ast.literal_eval(options["task_id"])
        return {"task_id": task_id, "operator": "ShortCircuitOperator", "options": options, "after": []}
    else:
        operator = call.func
    if not (isinstance(operator, ast.Call) and ast.unparse(operator.func) == "task.bash"):
        return None
    options = {k.arg: ast.unparse(k.value) for k in operator.keywords}
    suiro = {k.arg: k.value for k in call.keywords}
    inputs = suiro["inputs"]
    assert isinstance(inputs, ast.Dict)
    return {
        "task_id": ast.literal_eval(options["task_id"]),
        "operator": "task.bash",
        "options": options,
        "key": ast.literal_eval(suiro["key"]),
        "inputs": {
            ast.literal_eval(k): names[ast.unparse(v)]
            for k, v in zip(inputs.keys, inputs.values, strict=True)
        },
        "params": ast.literal_eval(suiro["param_names"]),
        "mode": ast.literal_eval(suiro["mode"]) if "mode" in suiro else "run",
        "mapped_over": mapped_over,
        "after": [],
    }


def _compile(tmp_path: Path, name: str, **options: Any) -> dict[str, Any]:
    out = tmp_path / f"{name}.py"
    written = compile_pipeline(f"{PIPELINES}:{name}", "airflow", out, **options)
    assert written == {"pipeline": name, "tasks": written["tasks"], "path": str(out)}
    return _read(out)


def test_small_has_a_bash_task_per_task_a_map_as_expand_retries_and_params(tmp_path: Path) -> None:
    dag = _compile(tmp_path, "small", suiro_command="'/opt/suiro venv/bin/python' -m suiro", home="/mnt/s")
    assert dag["consts"] == {
        "SUIRO": ["/opt/suiro venv/bin/python", "-m", "suiro"],
        "TARGET": f"{PIPELINES}:small",
        "ENV": {"SUIRO_HOME": "/mnt/s"},
        "NO_ITEMS": {"suiro": 1, "no_items": True},
    }
    tasks = dag["tasks"]
    assert sorted(tasks) == [
        "big",
        "frame",
        "numbers",
        "small_",
        "square",
        "square__items",
        "summary",
        "total",
    ]
    assert {t["operator"] for t in tasks.values()} == {"task.bash"}  # guards decided by task-run: no gate
    assert (
        tasks["square__items"]["mode"] == "count"
        and tasks["square__items"]["options"]["output_processor"] == "items"
    )
    assert tasks["square"]["mapped_over"] == "square__items" and tasks["square"]["inputs"] == {
        "numbers": "numbers"
    }
    square = tasks["square"]["options"]
    assert (square["retries"], square["retry_delay"], square["retry_exponential_backoff"]) == (
        "2",
        "datetime.timedelta(seconds=1.0)",
        "2.0",
    )
    assert square["max_retry_delay"] == "datetime.timedelta(seconds=10.0)"
    assert "retry_delay" not in tasks["frame"]["options"]
    assert tasks["frame"]["inputs"] == {"square": "square"} and tasks["frame"]["params"] == ("scale",)
    summary = tasks["summary"]
    assert summary["options"]["trigger_rule"] == "'none_failed'"
    assert summary["inputs"] == {"big": "big", "small_": "small_", "total": "total"}
    for found in tasks.values():
        assert found["options"]["skip_on_exit_code"] == "None"  # suiro decides skips, not an exit code
        assert "env" not in found["options"]  # a templated field: ENV is set by suiro_task, never rendered
    assert dag["dag"]["schedule"] == "None" and dag["dag"]["catchup"] == "False"
    imported = {a.name for n in ast.parse((tmp_path / "small.py").read_text()).body
                if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}  # fmt: skip
    assert imported == {"annotations", "datetime", "json", "os", "shlex"} | {
        "DAG", "Param", "get_current_context", "task"
    }  # only what it uses: no gate, no timetable, no pendulum  # fmt: skip
    assert dag["dag"]["params"].startswith(
        "{'n': Param(3, type='integer'), 'scale': Param(1.5, type='number')"
    )
    assert "'flag': Param(True, type='boolean')" in dag["dag"]["params"]


def test_held_guards_are_one_check_and_a_short_circuit_per_branch(tmp_path: Path) -> None:
    tasks = _compile(tmp_path, "gated")["tasks"]
    check = tasks["when_1"]
    assert (check["key"], check["mode"], check["inputs"], check["params"]) == (
        "big",
        "when",
        {"fit": "fit"},
        ("limit",),
    )
    assert tasks["if_1"]["options"]["python_callable"] == "holds"
    assert tasks["if_2"]["options"]["python_callable"] == "fails"
    assert tasks["if_1"]["options"]["op_args"] == tasks["if_2"]["options"]["op_args"] == "[check['when_1']]"
    assert tasks["if_1"]["options"]["ignore_downstream_trigger_rules"] == "False"
    assert {k: t["after"] for k, t in tasks.items() if t["after"]} == {
        "big": ["if_1"],
        "small_": ["if_1"],
        "big_2": ["if_1"],
        "small__2": ["if_2"],
    }
    assert tasks["big_2"]["inputs"] == {"big": "big", "fit": "fit", "small_": "small_"}
    assert tasks["fit"]["after"] == []


def test_trigger_rules_timeout_and_the_training_pipeline(tmp_path: Path) -> None:
    assert _compile(tmp_path, "one_of")["tasks"]["either"]["options"]["trigger_rule"] == (
        "'all_done_min_one_success'"  # Airflow's one_success fires before the other inputs exist
    )
    assert _compile(tmp_path, "cleaning")["tasks"]["cleanup"]["options"]["trigger_rule"] == "'all_done'"
    sleepy = _compile(tmp_path, "slow")["tasks"]["sleepy"]["options"]
    assert sleepy["execution_timeout"] == "datetime.timedelta(seconds=0.2)"
    out = tmp_path / "training.py"
    compile_pipeline("suiro.ml.pipeline:training", "airflow", out)
    tasks = _read(out)["tasks"]
    assert sorted(t["key"] for t in tasks.values() if t.get("mapped_over")) == [
        "evaluate",
        "train_best",
        "tune_candidate",
    ]
    assert tasks["alert"]["after"] == ["if_1"] and tasks["if_1"]["options"]["python_callable"] == "fails"
    assert tasks["load_dataset"]["options"]["retry_exponential_backoff"] == "2.0"
    assert tasks["summarize"]["options"]["trigger_rule"] == "'none_failed'"


def test_the_pipelines_own_schedule_timezone_tags_and_owner(tmp_path: Path) -> None:
    dag = _compile(tmp_path, "weekdays")["dag"]
    assert dag["schedule"] == "CronTriggerTimetable('0 6 * * 1-5', timezone='Asia/Tokyo')"
    assert dag["start_date"].startswith("pendulum.datetime(") and dag["start_date"].endswith(
        "tz='Asia/Tokyo')"
    )
    assert (dag["catchup"], dag["tags"], dag["default_args"]) == (
        "False",
        "['suiro', 'nightly']",
        "{'owner': 'ml-team'}",
    )


def test_a_deployment_gives_its_schedule_catchup_params_and_max_active_runs(tmp_path: Path) -> None:
    from suiro.deployments import deploy

    deploy(
        name="nightly",
        pipeline=f"{PIPELINES}:small",
        every="6h",
        catchup="all",
        max_active_runs=2,
        params={"n": 5},
    )
    dag = _compile(tmp_path, "small", deployment="nightly")["dag"]
    assert dag["schedule"] == (
        "DeltaTriggerTimetable(datetime.timedelta(seconds=21600.0), "
        "interval=datetime.timedelta(seconds=21600.0))"
    )
    start = ast.literal_eval(
        "(" + dag["start_date"].removeprefix("pendulum.datetime(").split(", tz=")[0] + ")"
    )
    assert start[3] % 6 == 0 and start[4:] == (0, 0)  # one of suiro's ticks (every 6 h from midnight UTC)
    assert (dag["catchup"], dag["max_active_runs"]) == ("True", "2")
    assert dag["params"].startswith("{'n': Param(5, type='integer'),")
    deploy(name="berlin", pipeline=f"{PIPELINES}:gated", cron="30 2 * * *", timezone="Europe/Berlin")
    dag = _compile(tmp_path, "gated", deployment="berlin")["dag"]
    assert dag["schedule"] == "CronTriggerTimetable('30 2 * * *', timezone='Europe/Berlin')"
    assert dag["catchup"] == "False" and "max_active_runs" not in dag
    with pytest.raises(
        CompileError,
        match=r"^deployment berlin runs pipeline gated \(.*compilable.py:gated\), not small; compile .* "
        r"or name a deployment of small\.$",
    ):
        compile_pipeline(f"{PIPELINES}:small", "airflow", tmp_path / "x.py", deployment="berlin")


def test_names_and_values_are_written_as_literals_never_as_code(tmp_path: Path) -> None:
    source = tmp_path / "odd.py"
    source.write_text(
        "from suiro import pipeline, task\n\n"
        "@task(name='say\\'\"\"\"\\nimport os')\n"
        "def say(text: str) -> str:\n    return text\n\n"
        '@pipeline(name=\'odd""" pipe\', description=\'a """quoted\\\'\\n description\')\n'
        'def odd(text: str = \'{{ ti }}"""\\n__import__("os")\'):\n    return say(text)\n'
    )
    out = tmp_path / "odd_dag.py"
    compile_pipeline(str(source), "airflow", out)
    tree = ast.parse(out.read_text())
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [i for i in imports if "os" in i.split()] == ["import os"]  # the helpers' own, once
    dag = _read(out)
    (task,) = [t for t in dag["tasks"].values()]
    assert task["key"] == 'say\'"""\nimport os' and task["task_id"] == "say_import_os"
    assert (
        ast.literal_eval(dag["dag"]["params"].split("Param(")[1].split(", type")[0])
        == '{{ ti }}"""\n__import__("os")'
    )
    assert ast.literal_eval(dag["dag"]["description"]) == 'a """quoted\'\n description'


def test_what_airflow_cannot_take_is_one_sentence_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "x.py"
    with pytest.raises(
        CompileError,
        match=r"^cannot compile pipeline gather_all for Airflow: task tally \(.*compilable.py:\d+\) has "
        r"trigger_rule all_done and is mapped or reads a mapped task, which Airflow cannot run past a failed "
        r"item .*\.$",
    ):
        compile_pipeline(f"{PIPELINES}:gather_all", "airflow", out)
    with pytest.raises(
        CompileError,
        match=r"^pipeline production_ml_pipeline: parameter since's default is suiro.logical.interval_start, "
        r"a logical time the Airflow target does not carry yet .*; give it a plain default or a value",
    ):
        compile_pipeline(str(CHAPTER / "11_prefect_deployment.py"), "airflow", out)
    with pytest.raises(
        CompileError,
        match=r"^pipeline parameterized: parameter pipeline's value \(a PipelineConfig\) is not JSON",
    ):
        compile_pipeline(str(CHAPTER / "14_parameterization.py"), "airflow", out)
    with pytest.raises(CompileError, match=r"^pipeline needs_n: parameter n has no default, and a scheduled"):
        compile_pipeline(f"{PIPELINES}:needs_n", "airflow", out)
    with pytest.raises(
        CompileError, match=r"^--suiro-command '/x/\{\{ y \}\}/suiro' is empty or holds Jinja"
    ):
        compile_pipeline(f"{PIPELINES}:small", "airflow", out, suiro_command="/x/{{ y }}/suiro")
    with pytest.raises(
        CompileError, match=r"^--image does not apply to --target airflow; see docs/compile\.md\.$"
    ):
        compile_pipeline(f"{PIPELINES}:small", "airflow", out, image="x")
    with pytest.raises(CompileError, match=r"^--deployment, --suiro-command do not apply to --target kfp"):
        compile_pipeline(f"{PIPELINES}:small", "kfp", out, deployment="d", suiro_command="s")
    assert not out.exists()


def test_the_chapters_airflow_listings_compile_back_to_their_airflow_settings(tmp_path: Path) -> None:
    out = tmp_path / "basic.py"
    compile_pipeline(str(CHAPTER / "02_airflow_basic_dag.py"), "airflow", out)
    dag = _read(out)
    assert dag["dag"]["schedule"] == "CronTriggerTimetable('0 2 * * *', timezone='UTC')"
    assert list(dag["tasks"]) == ["extract", "transform", "train", "validate"]
    for found in dag["tasks"].values():  # the listing's default_args, as @task options
        assert (found["options"]["retries"], found["options"]["retry_delay"]) == (
            "2",
            "datetime.timedelta(seconds=300.0)",
        )
        assert found["options"]["execution_timeout"] == "datetime.timedelta(seconds=3600.0)"
    out = tmp_path / "complete.py"
    compile_pipeline(str(CHAPTER / "03_airflow_complete_pipeline.py"), "airflow", out)
    tasks = _read(out)["tasks"]
    assert tasks["end"]["options"]["trigger_rule"] == "'all_done_min_one_success'"
    assert tasks["end"]["inputs"] == {"register_model": "register_model", "send_alert": "send_alert"}
    assert not any(t["operator"] == "ShortCircuitOperator" for t in tasks.values())  # end looks past both
