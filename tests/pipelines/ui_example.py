"""Pipelines for the web UI's tests: a mapped one with metrics over steps, one that fails after a
retry, one whose name and task are HTML, and one that waits for a file (a run to watch live)."""

from __future__ import annotations

import os
import time

import suiro
from suiro import context, pipeline, task


@task
def items(n: int) -> list[int]:
    return list(range(n))


@task
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@task
def train(xs: list[int]) -> float:
    for step in range(5):
        suiro.log_metric("loss", 1.0 / (step + 1), step=step)
    suiro.log_metric("accuracy", 0.9)
    return float(sum(xs))


@pipeline
def mapped(n: int = 3):
    return train(square.map(items(n)))


@task(retries=1, retry_delay=0.0, retry_on=(ConnectionError,))
def fragile(x: int) -> int:
    print(f"fragile attempt {context().attempt}")
    if context().attempt == 1:
        raise ConnectionError("first attempt fails")
    raise ValueError(f"the value {x} is <b>wrong</b>")


@task
def after(y: int) -> int:
    return y


@pipeline
def failing(x: int = 7):
    return after(fragile(x))


@task(name="<script>alert('task')")
def hostile_task(x: int) -> int:
    print("<script>alert('log')</script>")
    suiro.log_metric("<script>metric</script>", 1.0)
    return x


@pipeline(name="<script>alert('pipeline')</script>")
def hostile(x: int = 1):
    return hostile_task(x)


@task
def wait_for(path: str) -> str:
    """Wait (up to 60 s) until ``path`` exists: the test decides when this task finishes."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return path


@task
def done(path: str) -> str:
    return path


@pipeline
def gated(path: str = "release"):
    return done(wait_for(path))


@task
def echo(label: str) -> str:
    return label


@pipeline
def labelled(label: str = "x"):
    return echo(label)
