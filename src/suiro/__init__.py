"""suiro: machine-learning pipelines as plain Python.

Write tasks with ``@task``, compose them with ``@pipeline``, run them with
``suiro.run`` or ``suiro run FILE.py``. ``import suiro`` stays light: the runner,
executors and storage load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suiro.context import TaskContext, context, get_logger, log_metric
from suiro.errors import (
    CycleError,
    DefinitionError,
    ParameterError,
    PipelineNotFoundError,
    ShellCommandError,
    SuiroError,
    TaskTimeoutError,
    WorkerCrashedError,
)
from suiro.files import Artifact, Dataset, File, Input, Metrics, Model, Output
from suiro.mapping import unmapped
from suiro.pipeline import Pipeline, Ref, pipeline, when
from suiro.secrets import secret
from suiro.shell import shell
from suiro.states import RunState, TaskState, TriggerRule
from suiro.task import Task, TaskOptions, task

if TYPE_CHECKING:
    from suiro import api as api
    from suiro import history as history
    from suiro import logical as logical
    from suiro import registry as registry
    from suiro.api import load_pipeline, resume, run
    from suiro.results import RunResult, TaskResult
    from suiro.schedules import Schedule

__version__ = "0.1.0"

_LAZY = {
    "resume": "suiro.api",
    "run": "suiro.api",
    "load_pipeline": "suiro.api",
    "RunResult": "suiro.results",
    "TaskResult": "suiro.results",
    "Schedule": "suiro.schedules",
}
#: Sub-modules the README uses as ``suiro.history.runs()``: imported on first use, not by ``import suiro``.
_LAZY_MODULES = frozenset({"api", "history", "logical", "registry"})


def __getattr__(name: str) -> Any:
    if name in _LAZY or name in _LAZY_MODULES:
        import importlib

        if name in _LAZY_MODULES:
            return importlib.import_module(f"suiro.{name}")
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'suiro' has no attribute {name!r}")


__all__ = [
    "Artifact",
    "CycleError",
    "Dataset",
    "DefinitionError",
    "File",
    "Input",
    "Metrics",
    "Model",
    "Output",
    "ParameterError",
    "Pipeline",
    "PipelineNotFoundError",
    "Ref",
    "RunResult",
    "RunState",
    "Schedule",
    "ShellCommandError",
    "SuiroError",
    "Task",
    "TaskContext",
    "TaskOptions",
    "TaskResult",
    "TaskState",
    "TaskTimeoutError",
    "TriggerRule",
    "WorkerCrashedError",
    "context",
    "get_logger",
    "load_pipeline",
    "log_metric",
    "logical",
    "pipeline",
    "resume",
    "run",
    "secret",
    "shell",
    "task",
    "unmapped",
    "when",
]
