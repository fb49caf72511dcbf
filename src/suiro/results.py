"""What a run returns: its state, every task's result and the pipeline's output.

Plain records filled in by the runner and read by the CLI and by users of
``suiro.run``; no behaviour beyond small conveniences.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from suiro.events import ErrorInfo
from suiro.states import RunState, TaskState


@dataclass
class TaskResult:
    """What happened to one node in a run (for a mapped node: all its items)."""

    key: str
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    errors: list[ErrorInfo] = field(default_factory=list)
    duration: float | None = None
    map_size: int | None = None
    item_states: list[TaskState] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """The outcome of a run: its state, every task's result and the pipeline's output."""

    run_id: str
    pipeline: str
    state: RunState
    params: dict[str, Any]
    tasks: dict[str, TaskResult]
    output: Any = None
    started: float = 0.0
    ended: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.state is RunState.SUCCESS

    def failed(self) -> list[str]:
        """Keys of the tasks that failed themselves (not those failed upstream)."""
        return [k for k, t in self.tasks.items() if t.state is TaskState.FAILED]


def new_run_id() -> str:
    """A short, sortable-enough, unique run id.

    Six random hex digits as ``uuid4().hex[:6]`` gave, read from ``os.urandom`` directly: importing
    ``uuid`` (and the ``platform`` module it loads) cost a fresh process ~2 ms on every run.
    """
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()
