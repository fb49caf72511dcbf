"""``suiro compile --target kfp``: the spec the kfp SDK's compiler writes, loaded back with the SDK,
and run on KFP's local runner (subprocesses, no Kubernetes) to the same output as ``suiro run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from suiro import run
from suiro.compilers import CompileError, compile_pipeline
from suiro.taskrun import load_ref

kfp = pytest.importorskip("kfp")

ROOT = Path(__file__).parents[2]
PIPELINES = ROOT / "tests" / "pipelines" / "compilable.py"
CHAPTER = ROOT / "examples" / "chapter"


def _compile(target: str, tmp_path: Path, **options: Any) -> dict[str, Any]:
    out = tmp_path / "pipeline.yaml"
    written = compile_pipeline(target, "kfp", out, **options)
    assert written["path"] == str(out)
    from kfp.components import load_component_from_file

    loaded = load_component_from_file(str(out))  # the SDK reads it back as a pipeline
    assert loaded.pipeline_spec is not None
    return yaml.safe_load(out.read_text())


def _tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task of every DAG in the spec, by task name."""
    found = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        found |= component.get("dag", {}).get("tasks", {})
    return found


def _executor(spec: dict[str, Any], task: str) -> dict[str, Any]:
    return spec["deploymentSpec"]["executors"][f"exec-{task}"]["container"]


def test_small_keeps_types_map_retries_resources_and_cache(tmp_path: Path) -> None:
    spec = _compile(f"{PIPELINES}:small", tmp_path, image="registry.example/suiro:1")
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {k: v["parameterType"] for k, v in params.items()} == {
        "n": "NUMBER_INTEGER",
        "scale": "NUMBER_DOUBLE",
        "label": "STRING",
        "limit": "NUMBER_INTEGER",
        "flag": "BOOLEAN",
    }
    assert params["scale"]["defaultValue"] == 1.5 and params["flag"]["defaultValue"] is True
    tasks = _tasks(spec)
    loop = next(t for t in tasks.values() if "parameterIterator" in t)
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("suiro-square-count-Output")
    square = tasks["suiro-square"]
    assert square["retryPolicy"] == {
        "backoffDuration": "1s",
        "backoffFactor": 2.0,
        "backoffMaxDuration": "10s",
        "maxRetryCount": 2,
    }
    assert _executor(spec, "suiro-square")["resources"]["resourceCpuLimit"] == "1"
    assert _executor(spec, "suiro-square")["resources"]["resourceMemoryLimit"] == "1G"
    assert tasks["suiro-total"]["cachingOptions"] == {}  # cache=False: KFP's cache off
    assert tasks["suiro-frame"]["cachingOptions"] == {"enableCache": True}
    assert (
        tasks["suiro-frame"]["inputs"]["parameters"]["r0"]["taskOutputParameter"]["producerTask"]
        == "for-loop-1"
    )
    assert all(
        _executor(spec, t)["image"] == "registry.example/suiro:1" for t in ("suiro-square", "suiro-total")
    )
    assert "component_call" in " ".join(
        _executor(spec, "suiro-total")["args"] + _executor(spec, "suiro-total")["command"]
    )
    # summary (none_failed) reads the guarded tasks: their guards are decided by suiro task-run, no dsl.If
    assert not any("triggerPolicy" in t for t in tasks.values())
    assert spec["root"]["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "STRING"
    frame = spec["components"]["comp-suiro-frame"]["outputDefinitions"]
    assert frame["artifacts"]["dataset"]["artifactType"]["schemaTitle"] == "system.Dataset"
    assert set(frame["parameters"]) == {"Output"}  # the reference, which readers take


def test_guards_become_if_else_and_gpu_an_accelerator(tmp_path: Path) -> None:
    spec = _compile(f"{PIPELINES}:gated", tmp_path, home="/mnt/suiro")
    tasks = _tasks(spec)
    conditions = sorted(t["triggerPolicy"]["condition"] for t in tasks.values() if "triggerPolicy" in t)
    assert conditions == [
        "!(inputs.parameter_values['pipelinechannel--suiro-big-when-Output'] == true)",
        "inputs.parameter_values['pipelinechannel--suiro-big-when-Output'] == true",
    ]
    fit = _executor(spec, "suiro-fit")
    assert fit["resources"]["accelerator"]["resourceType"] == "NVIDIA_TESLA_T4"
    assert fit["resources"]["accelerator"]["resourceCount"] == "1"
    assert {"name": "SUIRO_HOME", "value": "/mnt/suiro"} in fit["env"]
    # big_2 waits for big and small_ (both guarded by the same test): all three in one block
    block = next(c for c in spec["components"].values() if "suiro-big-2" in c.get("dag", {}).get("tasks", {}))
    assert {"suiro-big", "suiro-small", "suiro-big-2"} <= set(block["dag"]["tasks"])


def test_the_builtin_pipeline_and_the_chapters_kfp_listings_compile(tmp_path: Path) -> None:
    spec = _compile("suiro.ml.pipeline:training", tmp_path)
    tasks = _tasks(spec)
    loops = [t for t in tasks.values() if "parameterIterator" in t]
    assert len(loops) == 3  # tune, train, evaluate: one ParallelFor each
    assert spec["root"]["inputDefinitions"]["parameters"]["models"]["parameterType"] == "LIST"
    grids = spec["root"]["inputDefinitions"]["parameters"]["grids"]  # holds None: JSON text
    assert grids["parameterType"] == "STRING" and json.loads(grids["defaultValue"])["random_forest"]
    assert [t["triggerPolicy"]["condition"] for t in tasks.values() if "triggerPolicy" in t] == [
        "inputs.parameter_values['pipelinechannel--suiro-alert-when-Output'] == false"
    ]
    assert (
        tasks["suiro-champion"]["cachingOptions"] == {}
    )  # cache_key= (reads the registry): KFP cannot call it
    kinds = {
        name: {
            a: d["artifactType"]["schemaTitle"]
            for a, d in c.get("outputDefinitions", {}).get("artifacts", {}).items()
        }
        for name, c in spec["components"].items()
    }
    assert kinds["comp-suiro-load-dataset"] == {"dataset": "system.Dataset"}
    assert kinds["comp-suiro-evaluate"] == {"metrics": "system.Metrics"}  # what it logs with log_metric
    spec = _compile(str(CHAPTER / "05_kfp_basic_pipeline.py"), tmp_path)  # the listing's Output[...] files
    assert sorted(spec["root"]["dag"]["tasks"]) == [
        "suiro-evaluate-model",
        "suiro-load-data",
        "suiro-train-model",
    ]
    outputs = {n: c["outputDefinitions"]["artifacts"] for n, c in spec["components"].items()}
    assert outputs["comp-suiro-load-data"]["dataset"]["artifactType"]["schemaTitle"] == "system.Dataset"
    assert outputs["comp-suiro-train-model"]["model"]["artifactType"]["schemaTitle"] == "system.Model"
    assert outputs["comp-suiro-evaluate-model"]["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    spec = _compile(str(CHAPTER / "07_kfp_tuning_pipeline.py"), tmp_path)
    assert len(spec["root"]["dag"]["tasks"]) == 5


def test_a_default_with_a_newline_keeps_the_spec_yaml(tmp_path: Path) -> None:
    # The compiler's header comment wrote the default as it is: its second line broke the YAML
    source = tmp_path / "query.py"
    source.write_text(
        "from suiro import pipeline, task\n\n\n@task\ndef read(query: str) -> str:\n    return query\n\n\n"
        '@pipeline\ndef report(query: str = "SELECT *\\nFROM sales\\n  WHERE x: 1"):\n'
        "    return read(query)\n"
    )
    spec = _compile(f"{source}:report", tmp_path)  # loads it with yaml and with the kfp SDK
    query = spec["root"]["inputDefinitions"]["parameters"]["query"]["defaultValue"]
    assert query == "SELECT *\nFROM sales\n  WHERE x: 1"
    header = (tmp_path / "pipeline.yaml").read_text().split("components:")[0]
    assert all(line.startswith("#") for line in header.splitlines())


def test_what_kfp_cannot_express_is_one_sentence_naming_the_task(tmp_path: Path) -> None:
    with pytest.raises(
        CompileError,
        match=r"^cannot compile pipeline one_of for KFP: task either \(.*compilable.py:\d+\) "
        r"has trigger_rule one_success, which KFP cannot express .*; use none_failed or all_done\.$",
    ):
        compile_pipeline(f"{PIPELINES}:one_of", "kfp", tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()


def test_a_missing_kfp_names_the_pip_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kfp", None)  # as if suiro[kfp] were not installed
    with pytest.raises(
        CompileError, match=r"needs the kfp SDK; install it with pip install 'suiro\[kfp\]'\.$"
    ):
        compile_pipeline(f"{PIPELINES}:small", "kfp", tmp_path / "x.yaml")


def _run_locally(spec: Path, tmp_path: Path, params: dict[str, Any]) -> Any:
    from kfp import local
    from kfp.components import load_component_from_file

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp-root"))
    return load_component_from_file(str(spec))(**params)


def test_it_runs_on_kfp_local_to_the_same_output_as_suiro_run(tmp_path: Path) -> None:
    params = {"n": 1, "scale": 3.0, "limit": 2}  # total 3.0: big runs, small_ is skipped
    expected = run(f"{PIPELINES}:small", params, record=False).output
    compile_pipeline(f"{PIPELINES}:small", "kfp", tmp_path / "small.yaml")
    task = _run_locally(tmp_path / "small.yaml", tmp_path, params)
    ref = json.loads(task.output)
    assert load_ref(ref) == expected == {"total": 3.0, "note": "big: 3.0", "flag": True}
    (dataset,) = (tmp_path / "kfp-root").glob("*/suiro-frame/dataset")  # the frame, as a typed KFP artifact
    assert pd.read_parquet(dataset)["v"].tolist() == [3.0]


@pytest.mark.slow
def test_the_builtin_pipeline_runs_on_kfp_local_to_the_same_summary_as_suiro_run(tmp_path: Path) -> None:
    """About 35 s on 2 busy cores: 21 component processes, three tunings and trainings."""
    expected = run("suiro.ml.pipeline:training", home=tmp_path / "suiro-run").output
    compile_pipeline("suiro.ml.pipeline:training", "kfp", tmp_path / "training.yaml")
    task = _run_locally(tmp_path / "training.yaml", tmp_path, {})
    assert load_ref(json.loads(task.output)) == expected
    assert expected["gate"].startswith("passed: ") and expected["production"] == "sklearn_breast_cancer v1"


def test_an_all_done_task_is_ignore_upstream_failure_with_defaults_and_runs_on_kfp_local(
    tmp_path: Path,
) -> None:
    """KFP runs it past a failed upstream task with its inputs' defaults ("" = failed, for suiro
    task-run). kfp.local 2.17 cannot (it looks for the failed task's output and raises), so the
    local run here is the path where the upstream task succeeds."""
    params = {"n": 0, "marker": str(tmp_path / "suiro.txt")}
    assert run(f"{PIPELINES}:cleaning", params, record=False).ok
    compile_pipeline(f"{PIPELINES}:cleaning", "kfp", tmp_path / "cleaning.yaml")
    spec = yaml.safe_load((tmp_path / "cleaning.yaml").read_text())
    assert spec["root"]["dag"]["tasks"]["suiro-cleanup"]["triggerPolicy"] == {
        "strategy": "ALL_UPSTREAM_TASKS_COMPLETED"
    }
    inputs = spec["components"]["comp-suiro-cleanup"]["inputDefinitions"]["parameters"]
    assert inputs["r0"] == {"defaultValue": "", "isOptional": True, "parameterType": "STRING"}
    _run_locally(tmp_path / "cleaning.yaml", tmp_path, {"n": 0, "marker": str(tmp_path / "kfp.txt")})
    assert (tmp_path / "kfp.txt").read_text() == (tmp_path / "suiro.txt").read_text() == "cleaned after 0"


def test_task_run_reads_an_empty_reference_as_a_failed_upstream_task(tmp_path: Path) -> None:
    from suiro.taskrun import run_task

    marker = tmp_path / "marker.txt"
    ref = run_task(f"{PIPELINES}:cleaning", "cleanup", inputs={"boom": ""}, params={"marker": str(marker)})
    assert load_ref(ref) == "cleaned" and marker.read_text() == "cleaned after None"
    skipped = run_task(f"{PIPELINES}:small", "frame", inputs={"square": ""}, params={"scale": 1.0})
    assert skipped == {"suiro": 1, "state": "skipped"}  # all_success after a failure: never runs


def test_a_task_reading_two_sibling_guarded_blocks_compiles(tmp_path: Path) -> None:
    spec = _compile(f"{PIPELINES}:crossed", tmp_path)  # the SDK refuses a read across blocks
    block = next(c for c in spec["components"].values() if "suiro-join" in c.get("dag", {}).get("tasks", {}))
    assert set(block["dag"]["tasks"]) == {"suiro-big", "suiro-join"}


def test_every_task_of_a_kfp_run_sees_the_kfp_run_id(tmp_path: Path) -> None:
    compile_pipeline(f"{PIPELINES}:identity", "kfp", tmp_path / "identity.yaml")
    task = _run_locally(tmp_path / "identity.yaml", tmp_path, {"n": 7})
    first, second = load_ref(json.loads(task.output)).split(" | ")
    run_id, n = first.split(" ")
    assert (n, second) == ("7", run_id) and run_id  # one id for the whole KFP run
