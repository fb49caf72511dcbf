"""Compile a pipeline's graph to another engine's spec (``suiro compile``).

Each target reads the traced ``Graph`` (through ``plan``, what every target needs decided once)
and writes the engine's own spec (KFP through the kfp SDK's compiler, Airflow as a DAG file of
Python written with ``repr``); every task of the spec runs
``suiro task-run`` (``suiro.taskrun``), so data moves through the suiro store, never the engine.
Must not run anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suiro.errors import DefinitionError

#: The engines ``suiro compile --target`` writes for.
TARGETS = ("kfp", "airflow")


class CompileError(DefinitionError, ValueError):
    """The pipeline uses a feature the target engine cannot express (the message names the task)."""


def compile_pipeline(
    target: str,
    engine: str,
    output: str | Path,
    *,
    image: str | None = None,
    home: str | None = None,
    suiro_command: str | None = None,
    deployment: str | None = None,
) -> dict[str, Any]:
    """Compile the pipeline ``target`` (``file.py[:name]``) for ``engine`` into the file ``output``.

    ``image`` is KFP's; ``suiro_command`` and ``deployment`` Airflow's (see each target's module);
    ``home`` is the ``SUIRO_HOME`` set in every task of either.

    Returns:
        ``{"pipeline": name, "tasks": count, "path": output}``.

    Raises:
        CompileError: a feature the engine cannot express, or its SDK is not installed.
    """
    from suiro.api import load_pipeline

    if engine not in TARGETS:
        raise CompileError(f"compile target {engine!r} is not one of {', '.join(TARGETS)}.")
    given = (
        {"--image": image}
        if engine == "airflow"
        else {"--suiro-command": suiro_command, "--deployment": deployment}
    )
    misplaced = sorted(option for option, value in given.items() if value is not None)
    if misplaced:
        raise CompileError(
            f"{', '.join(misplaced)} {'does' if len(misplaced) == 1 else 'do'} not apply to "
            f"--target {engine}; see docs/compile.md."
        )
    pipe = load_pipeline(target)
    if engine == "airflow":
        from suiro.compilers.airflow import compile_airflow

        return compile_airflow(
            pipe, Path(output), suiro_command=suiro_command, home=home, deployment=deployment
        )
    from suiro.compilers.kfp import compile_kfp

    return compile_kfp(pipe, target, Path(output), image=image, home=home)
