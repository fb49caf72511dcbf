"""What a run returns: its state, every task's result and the pipeline's output.

Plain records filled in by the runner and read by the CLI and by users of
``suiro.run``; no behaviour beyond small conveniences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suiro.events import ErrorInfo
from suiro.states import RunState, TaskState


class RunError(str):
    """Why a run did not succeed, as text (``task boom failed: ValueError: ...``) with its parts.

    A ``str`` so every reader of ``RunResult.error`` (messages, JSON, the store's ``runs.error``)
    keeps working; ``task`` is None when no task caused it (a cancel, an unreadable output).
    """

    task: str | None
    type: str
    message: str

    def __new__(cls, text: str, *, task: str | None = None, type: str = "", message: str = "") -> RunError:
        self = super().__new__(cls, text)
        self.task, self.type, self.message = task, type, message or text
        return self

    @classmethod
    def of_task(cls, task: str, error: ErrorInfo) -> RunError:
        """The error of a run that failed because ``task`` did, with the task's last error."""
        return cls(f"task {task} failed: {error}", task=task, type=error.type, message=error.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return _run_error, (str(self), self.task, self.type, self.message)


def _run_error(text: str, task: str | None, type_: str, message: str) -> RunError:
    return RunError(text, task=task, type=type_, message=message)


@dataclass(kw_only=True)
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
    #: It failed, but its task has ``allow_failure=True``: the run does not fail for it.
    tolerated: bool = False


@dataclass(kw_only=True)
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
    #: Why the run did not succeed: the first task that failed (``error.task``, ``.type``,
    #: ``.message``), or the reason it was cancelled or its output could not be read.
    error: RunError | None = None

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.state is RunState.SUCCESS

    def failed(self) -> list[str]:
        """Keys of the tasks that failed themselves (not those failed upstream)."""
        return [k for k, t in self.tasks.items() if t.state is TaskState.FAILED]
