"""Commands that hand a pipeline to another engine: ``compile`` and the ``task-run`` entry point.

``compile`` writes another engine's spec from the pipeline's graph (``suiro.compilers``);
``task-run`` is what each task of that spec runs: one task of the pipeline, inputs read from
and output written to the suiro store, its output reference printed (``suiro.taskrun``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from suiro.cli.options import Verbose
from suiro.cli.output import errors

commands = typer.Typer()


class CompileTarget(StrEnum):
    kfp = "kfp"
    airflow = "airflow"


@commands.command(name="compile")
def compile_(
    target: Annotated[str, typer.Argument(metavar="FILE.py[:PIPELINE]", help="The pipeline to compile.")],
    to: Annotated[CompileTarget, typer.Option("--target", "-t", help="The engine to compile for.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The spec file to write.")],
    image: Annotated[
        str | None,
        typer.Option(
            "--image", help="Container image with suiro and the pipeline's code (default suiro:latest)."
        ),
    ] = None,
    home: Annotated[
        str | None,
        typer.Option("--home", help="SUIRO_HOME set in every task (a path on the shared volume)."),
    ] = None,
    suiro_command: Annotated[
        str | None,
        typer.Option(
            "--suiro-command",
            help="Airflow: how tasks start suiro, e.g. '/venv/bin/python -m suiro' (default suiro).",
        ),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            "--deployment", help="Airflow: the saved deployment whose schedule, catch-up and params to use."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Compile a pipeline to another engine's spec; each task runs `suiro task-run` there.

    --target kfp writes a Kubeflow Pipelines v2 spec through the kfp SDK's compiler
    (pip install 'suiro[kfp]'); --target airflow an Airflow 3 DAG file. See docs/compile.md.
    """
    from suiro.compilers import compile_pipeline

    with errors(verbose):
        written = compile_pipeline(
            target,
            to.value,
            output,
            image=image,
            home=home,
            suiro_command=suiro_command,
            deployment=deployment,
        )
    n = written["tasks"]
    tasks = f"{n} task" if n == 1 else f"{n} tasks"
    print(f"compiled {written['pipeline']} ({tasks}) for {to.value} to {written['path']}")


@commands.command(name="task-run", hidden=True)  # for engines, not people: documented in docs/compile.md
def task_run(
    target: Annotated[str, typer.Argument(metavar="FILE.py[:PIPELINE]", help="The pipeline.")],
    key: Annotated[str, typer.Argument(metavar="TASK", help="The task's key (suiro graph lists them).")],
    index: Annotated[int, typer.Option("--index", help="The item of a mapped task (-1: not mapped).")] = -1,
    inputs: Annotated[
        str, typer.Option("--inputs", help="JSON: upstream task key -> its output reference (or list).")
    ] = "{}",
    params: Annotated[
        str, typer.Option("--params", help="JSON: the parameter values the task reads.")
    ] = "{}",
    mode: Annotated[str, typer.Option("--mode", help="run, count (a mapped task's items) or when.")] = "run",
    condition: Annotated[int, typer.Option("--condition", help="With --mode when: the guard's number.")] = 0,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="The engine's run id, told to the task.")
    ] = None,
    home: Annotated[str | None, typer.Option("--home", help="The suiro home (default $SUIRO_HOME).")] = None,
    output: Annotated[
        str | None, typer.Option("--output", help="Also write the result (JSON) to this file.")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run ONE task of a pipeline for an engine that runs the pipeline (KFP, Airflow).

    Reads the task's inputs from the suiro store by the output references given, writes its
    output there and prints its output reference (JSON, last line); see docs/compile.md.
    """
    import json

    from suiro import taskrun

    with errors(verbose):
        try:
            given_inputs, given_params = json.loads(inputs), json.loads(params)
        except json.JSONDecodeError as exc:
            raise taskrun.TaskRunError(f"--inputs and --params must be JSON objects ({exc}).") from None
        result = taskrun.run_task(
            target,
            key,
            inputs=given_inputs,
            params=given_params,
            index=index,
            mode=mode,
            condition=condition,
            home=home,
            run_id=run_id,
        )
        print(taskrun.write_result(result, output))
        taskrun.leave_without_teardown()
