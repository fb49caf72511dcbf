"""Fan-out rules shared by tracing, the runner and eager ``task.map`` calls.

Owns ``unmapped`` and the one function that turns mapped arguments into the
argument lists of each item, so the rules are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from suiro.errors import DefinitionError

#: Types whose instances are iterated by ``task.map``; everything else must be unmapped.
MAPPABLE = (list, tuple, range)


class unmapped:  # noqa: N801 - reads like a function at the call site, as in Prefect
    """Pass a value whole to every item of ``task.map(...)`` instead of iterating it."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return f"unmapped({self.value!r})"


def split_mapped(
    task_name: str, args: Sequence[Any], kwargs: dict[str, Any]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Return one ``(args, kwargs)`` per item of a mapped call.

    Raises:
        DefinitionError: an argument to iterate is not a list, or the lists differ in length.
    """
    lengths: dict[str, int] = {}
    for label, value in _labelled(args, kwargs):
        if isinstance(value, unmapped):
            continue
        if not isinstance(value, MAPPABLE):
            raise DefinitionError(
                f"{task_name}.map: argument {label} is {_short(value)} ({type(value).__name__}), "
                "not a list; wrap it in unmapped() to pass it whole to every item.",
                task=task_name,
            )
        lengths[label] = len(value)
    if not lengths:
        raise DefinitionError(
            f"{task_name}.map: no argument to iterate; pass a list, or call {task_name}(...) instead.",
            task=task_name,
        )
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{label}={n}" for label, n in sorted(lengths.items()))
        raise DefinitionError(
            f"{task_name}.map: the mapped arguments differ in length ({sizes}); give lists of one length.",
            task=task_name,
        )
    count = next(iter(lengths.values()))
    return [
        (
            tuple(_item(v, i) for v in args),
            {k: _item(v, i) for k, v in kwargs.items()},
        )
        for i in range(count)
    ]


def _labelled(args: Sequence[Any], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(f"#{i + 1}", v) for i, v in enumerate(args)] + [(repr(k), v) for k, v in kwargs.items()]


def _item(value: Any, index: int) -> Any:
    return value.value if isinstance(value, unmapped) else value[index]


def _short(value: Any) -> str:
    """A value in one short line: a DataFrame's repr spans lines, and the error must not."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 40 else text[:37] + "..."
