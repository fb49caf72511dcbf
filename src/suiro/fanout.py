"""The bookkeeping of a mapped node while its items run, and its state once they all ended.

A mapped node runs as one unit per item. ``MapState`` counts the items still to end and keeps
each one's value and stored output until the last one ends; ``map_verdict`` then decides the node's
state from its items', and ``gathered`` gives its list output.

Must not run, submit or report anything, nor decide what happens to a single item (the runner
does; this module only adds the items up).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from suiro.memo import Gather, Lazy
from suiro.states import TaskState


@dataclass(slots=True)
class MapState:
    """One mapped node whose items have not all ended."""

    #: Items not ended yet.
    left: int
    #: Each item's value (None until it ends, or if it failed); ``Lazy`` when reused or kept.
    values: list[Any]
    #: Each item's stored output, where the run stores outputs (None until it ends ok).
    artifacts: list[Any]
    #: ``time.perf_counter()`` when the items started (None: none had to run).
    started: float | None = None

    @classmethod
    def of_size(cls, size: int) -> MapState:
        """The state of a node with ``size`` items, none ended."""
        return cls(left=size, values=[None] * size, artifacts=[None] * size)

    def start(self) -> None:
        """The items start: the node's duration counts from now."""
        self.started = time.perf_counter()

    def item_ended(self, index: int, value: Any, artifact: Any = None) -> bool:
        """Keep item ``index``'s value and stored output; True if it was the last item."""
        self.values[index] = value
        if artifact is not None:
            self.artifacts[index] = artifact
        self.left -= 1
        return self.left == 0

    def item_dropped(self) -> bool:
        """An item will never start (fail-fast, cancel); True if it was the last item."""
        self.left -= 1
        return self.left == 0

    def duration(self) -> float | None:
        """Wall time of the whole fan-out so far, not the sum of its items'."""
        return None if self.started is None else time.perf_counter() - self.started

    def gathered(self) -> Any:
        """The node's list output; loaded item by item, when needed, if some items are ``Lazy``."""
        if any(isinstance(v, Lazy) for v in self.values):
            return Lazy(Gather(self.values))
        return self.values


def map_verdict(item_states: Sequence[TaskState]) -> TaskState:
    """A mapped node's state from its items': it succeeds only if all did, and is ``cached``
    only if every item (at least one) was reused."""
    if not all(s.is_ok for s in item_states):
        # Items are skipped only by a sensor's soft_fail: then, without a failure, the node is too.
        if all(s.is_ok or s is TaskState.SKIPPED for s in item_states):
            return TaskState.SKIPPED
        return TaskState.FAILED
    if item_states and all(s is TaskState.CACHED for s in item_states):
        return TaskState.CACHED
    return TaskState.SUCCESS
