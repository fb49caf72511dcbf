"""Fan-out: ``map`` over a list made at run time, over a parameter and over a literal; then fan-in."""

from __future__ import annotations

import os
import time

from suiro import pipeline, task, unmapped


@task
def make_items(n: int) -> list[int]:
    return list(range(n))


@task
def score(x: int, factor: int) -> int:
    return x * factor


@task
def total(scores: list[int]) -> int:
    return sum(scores)


@pipeline
def fanout(n: int = 5, factor: int = 3, extra: tuple[int, ...] = (10, 20)):
    from_task = score.map(x=make_items(n), factor=unmapped(factor))
    from_param = score.map(x=extra, factor=unmapped(1))
    from_literal = score.map(x=[1, 2, 3], factor=[4, 5, 6])
    return {
        "from_task": from_task,
        "from_param": from_param,
        "from_literal": from_literal,
        "total": total(from_task),
    }


#: What ``fanout`` returns with its default parameters.
EXPECTED = {
    "from_task": [0, 3, 6, 9, 12],
    "from_param": [10, 20],
    "from_literal": [4, 10, 18],
    "total": 30,
}


@task
def burn(seconds: float) -> dict[str, float]:
    """Keep a CPU busy for ``seconds``; report which process did it and when."""
    start = time.time()
    spins = 0
    while time.time() - start < seconds:
        spins += 1
    return {"pid": os.getpid(), "start": start, "end": time.time(), "spins": spins}


@pipeline
def cpu_fanout(seconds: tuple[float, ...] = (0.3, 0.3, 0.3, 0.3)):
    return burn.map(seconds)
