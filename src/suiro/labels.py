"""How things are named where people and files see them: a task item, an attempt's log, an error type.

Leaf module: imports nothing from suiro. Each rule lives here once, so the runner, the store,
the CLI and the web UI name the same thing the same way.
"""

from __future__ import annotations


def task_label(task_key: str, map_index: int) -> str:
    """``task`` for a whole task, ``task[i]`` for item ``i`` of a mapped one."""
    return f"{task_key}[{map_index}]" if map_index >= 0 else task_key


def log_name(task_key: str, map_index: int, attempt: int) -> str:
    """File name of one attempt's log inside a run's log folder: ``task[i].attempt.log``."""
    return f"{task_label(task_key, map_index)}.{attempt}.log"


def type_name(cls: type) -> str:
    """The name an error type is recorded under: ``module.Qualname`` (bare for builtins and ``__main__``)."""
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def first_few(names: list[str], limit: int) -> str:
    """The first ``limit`` names joined, the rest counted: ``a, b, c and 4 more`` (an error or a
    log line about many things stays one readable line)."""
    rest = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {rest:,} more" if rest > 0 else "")
