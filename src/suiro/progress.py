"""What happened in one run: each task's ``TaskResult`` and the events, updated in one step.

Each change to a task (an attempt started or ended, a retry, a reuse, the node's end) updates
the ``TaskResult`` the run returns and sends the matching event to the observers in the same
call, so the result and the events never disagree; the run's start and end are sent from here
too, and its end gives the ``RunResult``. Events are built by keyword and stamped with the run's
id and the time on the run's clock.

Must not decide anything (the runner says which state a task enters), buffer, or swallow an
observer's error: an observer that fails stops the run (a lost record is worse than a stop).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from suiro.events import (
    ErrorInfo,
    Event,
    MetricLogged,
    RunFinished,
    RunObserver,
    RunStarted,
    TaskKeyed,
    TaskLogged,
    TaskMapped,
    TaskOutput,
    TaskStateChanged,
)
from suiro.results import RunError, RunResult, TaskResult
from suiro.states import RunState, TaskState

if TYPE_CHECKING:
    from suiro.attempts import Unit
    from suiro.cache import CacheKey
    from suiro.clock import Clock
    from suiro.executors.base import Outcome
    from suiro.graph import Graph
    from suiro.memo import Hit
    from suiro.runinfo import RunInfo

#: The ends of a node whose event carries the task's last error, if it has one.
_WITH_ERROR = (TaskState.FAILED, TaskState.SKIPPED)


class Progress:
    """The results of one run's tasks, and the events that tell observers about them.

    Args:
        run: the run every event belongs to (and where attempts' logs are).
        keys: the run's task keys.
        observers: receive every event, in order, on the runner's thread.
        clock: the time events are stamped with.
    """

    def __init__(self, run: RunInfo, keys: Iterable[str], observers: Sequence[RunObserver], clock: Clock):
        self.run = run
        self.results = {key: TaskResult(key=key) for key in keys}
        self._observers = tuple(observers)
        self._clock = clock
        #: Tasks that ended ``failed``, in the order they did (the first is the run's error).
        self._failures: list[str] = []
        #: The run's pipeline, parameters and start (``run_started``), for its ``RunResult``.
        self._pipeline, self._params, self._started = "", {}, 0.0

    def send(self, event: Event) -> None:
        """Hand ``event`` to every observer."""
        for observer in self._observers:
            observer.notify(event)

    def run_started(self, graph: Graph, params: dict[str, Any], executor: str) -> None:
        """The run starts (the first event of every run)."""
        run, now = self.run, self._clock.time()
        self._pipeline, self._params, self._started = graph.name, params, now
        self.send(
            RunStarted(
                run_id=run.run_id,
                pipeline=graph.name,
                params=params,
                graph=graph.to_record(),
                time=now,
                executor=executor,
                parent_run_id=run.parent_run_id,
                target=run.target,
                scheduled=run.scheduled,
            )
        )

    def run_finished(self, state: RunState, output: Any, error: RunError | None) -> RunResult:
        """The run ended (the last event of every run); returns what it gives its caller."""
        now = self._clock.time()
        self.send(RunFinished(run_id=self.run.run_id, state=state, time=now, error=error))
        return RunResult(
            run_id=self.run.run_id,
            pipeline=self._pipeline,
            state=state,
            params=self._params,
            tasks=self.results,
            output=output,
            started=self._started,
            ended=now,
            error=error,
        )

    def first_error(self) -> RunError | None:
        """The error of the first task that failed, preferring one whose failure is not tolerated."""
        failures = [k for k in self._failures if self.results[k].errors]
        chosen = [k for k in failures if not self.results[k].tolerated] or failures
        if not chosen:
            return None
        return RunError.of_task(chosen[0], self.results[chosen[0]].errors[-1])

    def state_of(self, unit: Unit) -> TaskState:
        """The state of a unit's task, or of its item."""
        result = self.results[unit.key]
        return result.state if unit.map_index < 0 else result.item_states[unit.map_index]

    # -- before running -------------------------------------------------------------------

    def keyed(
        self,
        key: str,
        cache_key: CacheKey | None,
        parts: dict[str, Any] | None = None,
        *,
        map_index: int = -1,
    ) -> None:
        """A cache key was computed (None: the call has none; ``parts`` say why)."""
        if parts is None:
            parts = dict(cache_key.parts) if cache_key is not None else {}
        self.send(
            TaskKeyed(
                run_id=self.run.run_id,
                task_key=key,
                key=cache_key.key if cache_key is not None else None,
                parts=parts,
                map_index=map_index,
            )
        )

    def reused(self, key: str, hit: Hit, *, map_index: int = -1) -> None:
        """A found output stands for the task's (or item's) own; an item is ``cached`` at once."""
        self.output(key, map_index=map_index, artifact=hit.artifact, cached_from=hit.source_run)
        if map_index >= 0:
            self.results[key].item_states[map_index] = TaskState.CACHED
            self.send(
                TaskStateChanged(
                    run_id=self.run.run_id,
                    task_key=key,
                    state=TaskState.CACHED,
                    time=self._clock.time(),
                    map_index=map_index,
                )
            )

    def mapped(self, key: str, size: int) -> None:
        """A mapped task learned its number of items, all pending."""
        result = self.results[key]
        result.map_size = size
        result.item_states = [TaskState.PENDING] * size
        self.send(TaskMapped(run_id=self.run.run_id, task_key=key, size=size, time=self._clock.time()))

    def map_running(self, key: str) -> None:
        """A mapped task's items start."""
        self.results[key].state = TaskState.RUNNING
        self.send(
            TaskStateChanged(
                run_id=self.run.run_id, task_key=key, state=TaskState.RUNNING, time=self._clock.time()
            )
        )

    # -- attempts ----------------------------------------------------------------------

    def attempt_started(self, unit: Unit) -> None:
        """The unit's attempt ``unit.attempt`` started."""
        result = self.results[unit.key]
        if unit.map_index < 0:
            result.attempts = unit.attempt
            result.state = TaskState.RUNNING
        else:
            result.attempts += 1
            result.item_states[unit.map_index] = TaskState.RUNNING
        self.send(
            TaskStateChanged(
                run_id=self.run.run_id,
                task_key=unit.key,
                state=TaskState.RUNNING,
                time=self._clock.time(),
                attempt=unit.attempt,
                map_index=unit.map_index,
                log_path=unit.log_path,
            )
        )

    def attempt_wrote(self, unit: Unit, outcome: Outcome) -> None:
        """The lines and metrics an attempt left, whichever way it ended."""
        if outcome.lines:
            self.results[unit.key].lines.extend(outcome.lines)
            self.send(
                TaskLogged(
                    run_id=self.run.run_id,
                    task_key=unit.key,
                    attempt=unit.attempt,
                    lines=outcome.lines,
                    map_index=unit.map_index,
                )
            )
        for name, value, step, at in outcome.metrics:
            self.send(
                MetricLogged(
                    run_id=self.run.run_id,
                    task_key=unit.key,
                    name=name,
                    value=value,
                    step=step,
                    time=at,
                    map_index=unit.map_index,
                )
            )

    def failed(self, key: str, error: ErrorInfo) -> None:
        """Keep an error of the task (an attempt's, its inputs', or its run's cancel)."""
        self.results[key].errors.append(error)

    def retrying(self, unit: Unit, error: ErrorInfo, delay: float) -> None:
        """The unit's attempt failed and another follows in ``delay`` seconds."""
        if unit.map_index < 0:
            self.results[unit.key].state = TaskState.RETRYING
        self.send(
            TaskStateChanged(
                run_id=self.run.run_id,
                task_key=unit.key,
                state=TaskState.RETRYING,
                time=self._clock.time(),
                attempt=unit.attempt,
                map_index=unit.map_index,
                error=error,
                delay=delay,
                log_path=unit.log_path,
            )
        )

    def item_ended(self, unit: Unit, state: TaskState, outcome: Outcome) -> None:
        """A mapped item's last attempt ended in ``state``."""
        self.results[unit.key].item_states[unit.map_index] = state
        self.send(
            TaskStateChanged(
                run_id=self.run.run_id,
                task_key=unit.key,
                state=state,
                time=self._clock.time(),
                attempt=unit.attempt,
                map_index=unit.map_index,
                error=outcome.error,
                duration=outcome.duration,
                log_path=unit.log_path,
            )
        )

    # -- ends --------------------------------------------------------------------------

    def output(
        self,
        key: str,
        value: Any = None,
        *,
        map_index: int = -1,
        artifact: Any = None,
        cached_from: str | None = None,
    ) -> None:
        """A task produced, or reused (``cached_from``), an output (see ``TaskOutput``)."""
        self.send(
            TaskOutput(
                run_id=self.run.run_id,
                task_key=key,
                value=value,
                map_index=map_index,
                artifact=artifact,
                cached_from=cached_from,
            )
        )

    def node_ended(
        self, key: str, state: TaskState, log_path: str | None = None, *, tolerated: bool = False
    ) -> None:
        """A task (all its items, if mapped) ended in ``state``; ``log_path``: its last attempt's.

        ``tolerated``: it failed, but its task has ``allow_failure`` (the run does not fail for it).
        """
        result = self.results[key]
        if state is TaskState.FAILED:
            self._failures.append(key)
            result.tolerated = tolerated
        result.state = state
        attempt = result.attempts if result.map_size is None else 0
        if log_path is None and attempt and self.run.log_dir is not None:
            log_path = self.run.log_path(key, -1, attempt)
        self.send(
            TaskStateChanged(
                run_id=self.run.run_id,
                task_key=key,
                state=state,
                time=self._clock.time(),
                attempt=attempt,
                # A skipped task has an error only when it gave up itself (a sensor's soft_fail).
                error=result.errors[-1] if state in _WITH_ERROR and result.errors else None,
                duration=result.duration,
                log_path=log_path,
            )
        )
