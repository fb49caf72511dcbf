"""Task and run states: the vocabulary the runner, the store and the CLI share.

Leaf module: imports nothing from suiro. Values are what the database stores (model stages too).
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    """Where one task (or one mapped item of it) is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCESS = "success"
    CACHED = "cached"
    SKIPPED = "skipped"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"

    @property
    def is_terminal(self) -> bool:
        """True once the state can no longer change within this run."""
        return self in _TERMINAL

    @property
    def is_ok(self) -> bool:
        """True when the task produced an output downstream can use."""
        return self in (TaskState.SUCCESS, TaskState.CACHED)

    @property
    def is_failure(self) -> bool:
        """True for the states that make a run fail."""
        return self in (TaskState.FAILED, TaskState.UPSTREAM_FAILED)


_TERMINAL = frozenset(
    {TaskState.SUCCESS, TaskState.CACHED, TaskState.SKIPPED, TaskState.FAILED, TaskState.UPSTREAM_FAILED}
)


class RunState(StrEnum):
    """Where one run is in its life; ``crashed`` is set by whoever finds its process dead."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CRASHED = "crashed"

    @property
    def is_terminal(self) -> bool:
        """True once the run has ended, whichever way."""
        return self is not RunState.RUNNING


class TriggerRule(StrEnum):
    """When a task runs, given the states of the tasks it depends on (as in Airflow)."""

    ALL_SUCCESS = "all_success"
    ONE_SUCCESS = "one_success"
    ALL_DONE = "all_done"
    NONE_FAILED = "none_failed"


class ModelStage(StrEnum):
    """Where a registered model version is in its life; at most one per name is in ``production``."""

    NONE = "none"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
