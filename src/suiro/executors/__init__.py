"""Executors: sequential, threads, processes — one interface, chosen by name."""

from __future__ import annotations

from suiro.errors import SuiroError, did_you_mean
from suiro.executors.base import Executor, Outcome, Work

EXECUTORS = ("sequential", "threads", "processes")
#: Used when neither the caller nor the pipeline names an executor.
DEFAULT_EXECUTOR = "threads"


def make_executor(name: str = DEFAULT_EXECUTOR, workers: int | None = None) -> Executor:
    """Build the executor called ``name`` with ``workers`` slots (None: its default)."""
    if workers is not None and workers < 1:
        raise SuiroError(f"--workers must be 1 or more, got {workers}.")
    if name == "sequential":
        from suiro.executors.sequential import SequentialExecutor

        return SequentialExecutor(workers)
    if name == "threads":
        from suiro.executors.threads import ThreadExecutor

        return ThreadExecutor(workers)
    if name == "processes":
        from suiro.executors.processes import ProcessExecutor

        return ProcessExecutor(workers)
    raise SuiroError(
        f"unknown executor {name!r}{did_you_mean(name, EXECUTORS)}; choose one of {', '.join(EXECUTORS)}."
    )


__all__ = ["EXECUTORS", "Executor", "Outcome", "Work", "make_executor"]
