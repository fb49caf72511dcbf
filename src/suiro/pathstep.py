"""The steps of a reference's path: ``ref["rows"]``, ``ref.meta`` and ``~ref`` taken at run time.

A ``suiro.graph.Use`` names a task's output (or a parameter) and the steps read into it when the
run gets there. Each kind of step is its own small frozen type, so a step of an unknown kind
cannot be made; ``follow`` is the one place a path is applied to a value, and ``token`` the one
place a path becomes the text cache keys are made of. That text is the one recorded keys were made
of when steps were ``("item", key)`` tuples, so no recorded key changed with these types.

Imports nothing from suiro (the graph, the tracer, the runner and the cache all read paths).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias, assert_never


@dataclass(frozen=True, slots=True)
class Item:
    """``ref[key]``: an item of a list, tuple or mapping."""

    key: Any
    #: The operator of ``suiro.expressions`` the step is, and its kind in a key's text.
    op: ClassVar[str] = "item"

    @property
    def arg(self) -> Any:
        """The key (the step's argument in a key's text)."""
        return self.key


@dataclass(frozen=True, slots=True)
class Attr:
    """``ref.name``: an attribute."""

    name: str
    op: ClassVar[str] = "attr"

    @property
    def arg(self) -> str:
        """The attribute's name (the step's argument in a key's text)."""
        return self.name


@dataclass(frozen=True, slots=True)
class Not:
    """``~ref``: the value's truth, negated (as ``when(~ref)`` reads it)."""

    op: ClassVar[str] = "not"

    @property
    def arg(self) -> None:
        """None: negation takes no argument."""
        return None


PathStep: TypeAlias = Item | Attr | Not


def apply(step: PathStep, value: Any) -> Any:
    """The value ``step`` reads from ``value``."""
    if isinstance(step, Item):
        return value[step.key]
    if isinstance(step, Attr):
        return getattr(value, step.name)
    if isinstance(step, Not):
        return not value
    assert_never(step)


def follow(value: Any, path: Iterable[PathStep]) -> Any:
    """``value`` read through every step of ``path`` in turn."""
    for step in path:
        value = apply(step, value)
    return value


def token(path: Iterable[PathStep]) -> list[list[Any]]:
    """A path as a cache key takes it: ``[["item", "rows"], ["attr", "meta"], ["not", None]]``.

    ``suiro.cache.combine`` hashes its ``repr``; keep it byte for byte, or every recorded key of a
    pipeline that reads into an output stops matching (tests/unit/test_memo.py spells the text out).
    """
    return [[step.op, step.arg] for step in path]
