"""Diamond: one source feeds two branches that join again (source -> double, square -> combine)."""

from __future__ import annotations

from suiro import pipeline, task


@task
def source(n: int) -> list[int]:
    return list(range(1, n + 1))


@task
def double(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@task
def square(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@task
def combine(doubled: list[int], squared: list[int]) -> dict[str, int]:
    return {"doubled": sum(doubled), "squared": sum(squared)}


@pipeline
def diamond(n: int = 4):
    xs = source(n)
    return combine(double(xs), square(xs))


#: What ``diamond`` returns with its default parameters.
EXPECTED = {"doubled": 20, "squared": 30}
