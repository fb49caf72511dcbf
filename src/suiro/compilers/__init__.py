"""Compile a pipeline's graph to another engine's spec (``suiro compile``).

Each target reads the traced ``Graph`` (through ``plan``, what every target needs decided once)
and writes the engine's own spec with the engine's own tools; every task of the spec runs
``suiro task-run`` (``suiro.taskrun``), so data moves through the suiro store, never the engine.
Must not run anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suiro.errors import DefinitionError

#: The engines ``suiro compile --target`` writes for.
TARGETS = ("kfp",)


class CompileError(DefinitionError, ValueError):
    """The pipeline uses a feature the target engine cannot express (the message names the task)."""


def compile_pipeline(
    target: str, engine: str, output: str | Path, *, image: str | None = None, home: str | None = None
) -> dict[str, Any]:
    """Compile the pipeline ``target`` (``file.py[:name]``) for ``engine`` into the file ``output``.

    Returns:
        ``{"pipeline": name, "tasks": count, "path": output}``.

    Raises:
        CompileError: a feature the engine cannot express, or its SDK is not installed.
    """
    from suiro.api import load_pipeline

    if engine not in TARGETS:
        raise CompileError(f"compile target {engine!r} is not one of {', '.join(TARGETS)}.")
    pipe = load_pipeline(target)
    from suiro.compilers.kfp import compile_kfp

    return compile_kfp(pipe, target, Path(output), image=image, home=home)
