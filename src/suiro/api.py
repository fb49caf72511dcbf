"""The library calls the CLI is made of: load a pipeline file, run a pipeline.

Owns the wiring (parameters -> runner -> executor -> observers). Everything the
CLI does is one of these calls, so a user can do the same from Python.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from suiro.context import routed_streams
from suiro.errors import PipelineNotFoundError, SuiroError, did_you_mean
from suiro.events import RunObserver
from suiro.executors import Executor, make_executor
from suiro.pipeline import Pipeline
from suiro.runner import Runner, RunResult

#: The pipeline ``suiro run`` runs when no file is given.
BUILTIN = "suiro.demo:demo"


def run(
    target: Pipeline | str,
    params: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    executor: str | Executor = "threads",
    workers: int | None = None,
    fail_fast: bool = False,
    observers: Sequence[RunObserver] = (),
    run_id: str | None = None,
) -> RunResult:
    """Run a pipeline once and return its result (it does not raise when the run fails).

    Args:
        target: a ``Pipeline``, or ``"file.py[:name]"`` / ``"module:name"`` to load one.
        params: parameter values (above env and config file, below ``overrides``).
        config_file: YAML file of parameter values.
        overrides: ``"name=value"`` strings, as given to ``--set``.
        environ: where ``SUIRO_PARAM_*`` are read (default ``os.environ``).
        executor: ``sequential``, ``threads``, ``processes``, or an ``Executor``.
        workers: how many attempts run at once (None: the executor's default).
        fail_fast: stop starting new tasks after the first failure.
        observers: receive every event of the run.
        run_id: use this id instead of a new one.

    Raises:
        ParameterError: a parameter is missing, unknown or invalid.
        PipelineNotFoundError: ``target`` cannot be loaded.
    """
    from suiro.config import resolve_params

    pipe = load_pipeline(target) if isinstance(target, str) else target
    values = resolve_params(
        pipe.params,
        pipeline=pipe.name,
        config_file=config_file,
        environ=environ,
        overrides=overrides,
        values=params,
    )
    ex = make_executor(executor, workers) if isinstance(executor, str) else executor
    try:
        runner = Runner(pipe.graph, values, ex, observers=observers, run_id=run_id, fail_fast=fail_fast)
        with routed_streams():
            return runner.run()
    finally:
        if isinstance(executor, str):
            ex.shutdown()


def load_pipeline(target: str | None = None) -> Pipeline:
    """Load a pipeline from ``"path/file.py[:name]"`` or ``"package.module:name"``.

    Without a name, the file must define exactly one pipeline. ``None`` loads the
    built-in pipeline.

    Raises:
        PipelineNotFoundError: the file or module is missing, fails to import,
            or does not define the named pipeline.
    """
    target = target or BUILTIN
    path_part, _, name = target.partition(":") if not _is_windows_drive(target) else (target, "", "")
    if path_part.endswith(".py") or "/" in path_part or Path(path_part).is_file():
        module = _import_file(Path(path_part))
    else:
        try:
            module = importlib.import_module(path_part)
        except ImportError as exc:
            raise PipelineNotFoundError(
                f"cannot import module {path_part!r}: {exc}; check the name."
            ) from exc
    found = {obj.name: obj for obj in vars(module).values() if isinstance(obj, Pipeline)}
    if name:
        if name not in found:
            where = ", ".join(sorted(found)) or "none"
            raise PipelineNotFoundError(
                f"{path_part} has no pipeline {name!r}{did_you_mean(name, found)}; pipelines there: {where}."
            )
        return found[name]
    if len(found) != 1:
        detail = "defines no @pipeline" if not found else f"defines {len(found)} ({', '.join(sorted(found))})"
        raise PipelineNotFoundError(f"{path_part} {detail}; name one as {path_part}:NAME.")
    return next(iter(found.values()))


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise PipelineNotFoundError(f"pipeline file {path} does not exist; check the path.")
    resolved = path.resolve()
    module_name = "suiro_user_" + "".join(c if c.isalnum() else "_" for c in resolved.stem)
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise PipelineNotFoundError(f"{path} cannot be loaded as a Python file; give a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SuiroError:
        raise
    except Exception as exc:
        del sys.modules[module_name]
        raise PipelineNotFoundError(f"{path} failed to import: {type(exc).__name__}: {exc}.") from exc
    import cloudpickle

    # The file is not importable by name in worker processes: ship its functions by value.
    cloudpickle.register_pickle_by_value(module)
    return module


def _is_windows_drive(target: str) -> bool:
    return (
        len(target) > 1
        and target[1] == ":"
        and target[0].isalpha()
        and len(target) > 2
        and target[2] in "\\/"
    )
