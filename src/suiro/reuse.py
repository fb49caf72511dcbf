"""What the runner and the store share about reused outputs: the found output, lazy values, the protocol.

Leaf module (imports nothing from suiro at run time), so ``suiro.store`` can implement
``OutputStore`` and return ``Hit`` without importing the runner's side (``memo``, ``graph``).
A value found again is loaded only when a task that really runs needs it: ``Lazy`` holds
its loader until then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from suiro.cache import CacheKey


@dataclass(frozen=True, slots=True)
class Hit:
    """An output found again: where it is stored, how to load it, which run made it."""

    artifact: Any
    load: Callable[[], Any]
    source_run: str


class OutputStore(Protocol):
    """Where task outputs are written and found again (the store implements it)."""

    #: Runs where the task ran, with (value, serializer); returns the artifact record.
    finalize: Callable[[Any, str | None], Any] | None

    def lookup(
        self, task_key: str, map_index: int, key: CacheKey, *, cache: bool, ttl: float | None
    ) -> Hit | None:
        """A reusable output computed under exactly ``key``: the resumed run's, else (if ``cache``)
        any run's; None if there is none."""
        ...

    def lookup_items(
        self, task_key: str, keys: Sequence[tuple[int, CacheKey]], *, cache: bool, ttl: float | None
    ) -> dict[int, Hit]:
        """``lookup`` for items of one mapped task, each (map index, key): {map index: hit} of those
        found (the same answers, read together)."""
        ...

    def collect(self, artifacts: list[Any]) -> Any:
        """The artifact record of a mapped task's list output, from its items' records."""
        ...

    def digest_of(self, artifact: Any) -> str:
        """The content digest of an artifact record."""
        ...

    def fetch(self, artifact: Any) -> Callable[[], Any]:
        """A loader of an artifact's value (for an output a worker process stored and kept).

        Loaders here and in ``Hit.load`` that have ``portable = True`` are picklable and load
        in any process of this machine, so the runner can hand them to a worker process.
        """
        ...


class Lazy:
    """A value not loaded yet; loaded once, when a running task needs it."""

    __slots__ = ("load",)

    def __init__(self, load: Callable[[], Any]):
        self.load = load


class Gather:
    """Loads a mapped task's list output from its items (some ``Lazy``), each once.

    Portable (see ``is_portable``) when every lazy item is, so a worker process can gather a
    list of large stored items itself.
    """

    def __init__(self, items: list[Any]):
        self.items = items

    @property
    def portable(self) -> bool:
        return all(not isinstance(v, Lazy) or is_portable(v) for v in self.items)

    def __call__(self) -> list[Any]:
        return [materialize(v) for v in self.items]


def is_portable(value: Any) -> bool:
    """Whether ``value`` is a ``Lazy`` whose loader can run in a worker process instead of here."""
    return isinstance(value, Lazy) and getattr(value.load, "portable", False)


def materialize(value: Any) -> Any:
    """The value itself, loading it if it is ``Lazy`` (also inside a mapped task's list)."""
    if isinstance(value, Lazy):
        return value.load()
    return value
