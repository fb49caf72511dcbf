"""Executors: sequential, threads, processes, dask — one interface, chosen by name.

The names and the default are the one home of both (the CLI's ``--executor`` choices come from
here). Importing the package loads no executor and not the interface either (``Executor``,
``Outcome``, ``Work`` load from ``base`` on first use), so the CLI can name the choices and
``suiro --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suiro.errors import SuiroError, did_you_mean

if TYPE_CHECKING:
    from suiro.executors.base import Executor, Outcome, Work

EXECUTORS = ("sequential", "threads", "processes", "dask")
#: Used when neither the caller nor the pipeline names an executor.
DEFAULT_EXECUTOR = "threads"


def make_executor(
    name: str = DEFAULT_EXECUTOR, workers: int | None = None, *, dask_address: str | None = None
) -> Executor:
    """Build the executor called ``name`` with ``workers`` slots (None: its default).

    ``dask_address``: the scheduler the ``dask`` executor uses (default ``$SUIRO_DASK_ADDRESS``,
    else a ``LocalCluster`` it starts); the other executors take no address.
    """
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
    if name == "dask":
        from suiro.executors.dask import DaskExecutor

        return DaskExecutor(workers, address=dask_address)
    raise SuiroError(
        f"unknown executor {name!r}{did_you_mean(name, EXECUTORS)}; choose one of {', '.join(EXECUTORS)}."
    )


def __getattr__(name: str) -> Any:
    """``Executor``, ``Outcome`` and ``Work``, loaded from ``base`` when first asked for."""
    if name in ("Executor", "Outcome", "Work"):
        from suiro.executors import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_EXECUTOR", "EXECUTORS", "Executor", "Outcome", "Work", "make_executor"]
