"""What a run reports while it happens: frozen records and the observer interface.

Leaf module: imports nothing from suiro but states. The runner emits these; the
CLI's live view, the store's recorder and tests consume them through
``RunObserver.notify``. Events are small and immutable so observers may keep them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from suiro.states import RunState, TaskState


@dataclass(frozen=True, slots=True)
class Poke:
    """How a sensor whose poke found nothing waits (``suiro.errors.SensorNotReady``'s settings)."""

    interval: float
    timeout: float
    soft_fail: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """An exception raised by a task, reduced to what can cross processes and be stored."""

    type: str
    message: str
    traceback: str
    retryable: bool = True
    #: The process running the attempt died (not the task's own exception): counted
    #: against ``infra_retries``, not ``retries``.
    infra: bool = False
    #: Set when the attempt was a sensor's poke that found nothing: not a failure, it waits
    #: for its next poke (see ``suiro.sensors``); spends no retry.
    poke: Poke | None = None

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    """A run began: its id, pipeline, resolved parameters and graph (``Graph.to_record()``'s form:
    ``suiro.graphrecord`` reads it)."""

    run_id: str
    pipeline: str
    params: dict[str, Any]
    graph: dict[str, Any]
    time: float
    executor: str = ""
    parent_run_id: str | None = None
    target: str | None = None
    #: A ``suiro.runinfo.Scheduled`` for a run a deployment started (kept untyped: events is a leaf).
    scheduled: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStateChanged:
    """A task (or one mapped item, ``map_index`` >= 0) entered ``state``.

    ``delay`` is set for ``retrying`` (seconds until the next attempt); ``error`` for
    ``retrying``/``failed``, and for a sensor ``skipped`` at its timeout with ``soft_fail``. A sensor
    waiting for its next poke is ``retrying`` with an error whose ``poke`` is set (not a failure:
    hooks and alerts about retries should pass it by). ``duration`` for terminal states reached by
    running; ``log_path`` for every state of an attempt (``attempt`` >= 1) when the run writes log
    files: where that attempt's lines are.
    """

    run_id: str
    task_key: str
    state: TaskState
    time: float
    attempt: int = 0
    map_index: int = -1
    error: ErrorInfo | None = None
    delay: float | None = None
    duration: float | None = None
    log_path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskMapped:
    """A mapped task learned how many items it has (before any item runs)."""

    run_id: str
    task_key: str
    size: int
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskLogged:
    """Lines a task attempt wrote to stdout/stderr or its logger, in order."""

    run_id: str
    task_key: str
    attempt: int
    lines: tuple[str, ...]
    map_index: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOutput:
    """A task produced ``value`` (or reused it: ``cached_from`` names the run that made it).

    Sent before the matching ``success``/``cached`` state; ``artifact`` is where the
    value was stored, if an output store is plugged in. ``value`` is None when the value
    was not loaded here: reused, or left in the worker process that stored it.
    """

    run_id: str
    task_key: str
    value: Any = field(repr=False)
    map_index: int = -1
    artifact: Any = None
    cached_from: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskKeyed:
    """A task's cache key was computed (before it ran or was found cached)."""

    run_id: str
    task_key: str
    key: str | None
    parts: dict[str, Any]
    map_index: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricLogged:
    """A task logged a metric with ``suiro.log_metric``."""

    run_id: str
    task_key: str
    name: str
    value: float
    step: int | None
    time: float
    map_index: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    """A run ended in ``state``; the last event of every run (``error`` says why, if not a task)."""

    run_id: str
    state: RunState
    time: float
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunGraph:
    """The graph of what a dynamic pipeline's run called (``Graph.to_record()``), known once its body ended;
    sent before ``RunFinished``. A static run's graph is in ``RunStarted``."""

    run_id: str
    graph: dict[str, Any]


Event = (
    RunStarted
    | RunGraph
    | TaskStateChanged
    | TaskMapped
    | TaskLogged
    | TaskOutput
    | TaskKeyed
    | MetricLogged
    | RunFinished
)


class RunObserver(Protocol):
    """Receives every event of a run, in order, on the runner's thread.

    An observer must be quick (the runner waits for it) and must not raise: an
    observer that fails stops the run, since a lost record is worse than a stop. One that
    buffers events (the store's recorder) makes them durable by itself, from its own thread:
    the runner never asks it to flush, and a task running in the runner's thread could not.
    """

    def notify(self, event: Event) -> None:
        """Handle one event."""
        ...
