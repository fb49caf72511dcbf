"""The one recording observer of the tests: keeps every event a run sends, and reads them back.

A real ``RunObserver`` (nothing stubbed): pass it to ``suiro.run(..., observers=[rec])`` and
assert on what the runner reported.
"""

from __future__ import annotations

from typing import Any, TypeVar

from suiro.events import Event, MetricLogged, TaskOutput, TaskStateChanged
from suiro.states import TaskState

E = TypeVar("E")


class RecordingObserver:
    """A run observer that keeps every event it is sent, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def notify(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        """The events of one kind, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def changes(
        self, key: str, state: TaskState | None = None, *, map_index: int = -1
    ) -> list[TaskStateChanged]:
        """The state changes of task ``key`` (or of its item ``map_index``), optionally of one state."""
        return [
            e
            for e in self.of(TaskStateChanged)
            if e.task_key == key and e.map_index == map_index and (state is None or e.state is state)
        ]

    def states(self, key: str, map_index: int = -1) -> list[TaskState]:
        """The states task ``key`` (or its item) went through, in order."""
        return [e.state for e in self.changes(key, map_index=map_index)]

    def first_time(self, key: str, state: TaskState, map_index: int = -1) -> float:
        """When task ``key`` (or its item) first entered ``state``."""
        return self.changes(key, state, map_index=map_index)[0].time

    def outputs(self) -> dict[str, Any]:
        """The value each whole task reported as its output."""
        return {e.task_key: e.value for e in self.of(TaskOutput) if e.map_index < 0}

    def metrics(self) -> dict[str, float]:
        """The last value logged under each metric name."""
        return {e.name: e.value for e in self.of(MetricLogged)}
