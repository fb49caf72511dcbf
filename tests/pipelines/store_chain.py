"""Pipelines for the storage, caching and resume tests; every task body leaves a trace.

Each body appends a line to the ledger file ``$SUIRO_TEST_LEDGER`` (nothing when unset), so
a test proves which bodies really ran instead of trusting recorded states. A task guarded by
``fail_if_flagged`` fails on purpose while ``$SUIRO_TEST_FLAGS/fail-<name>`` exists; the test
removes the file to "fix" it. Both are read when the task runs, so they never enter cache keys.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from suiro import context, log_metric, pipeline, task

LEDGER_ENV = "SUIRO_TEST_LEDGER"
FLAGS_ENV = "SUIRO_TEST_FLAGS"
#: A folder where each ``stamps`` run leaves its tag and waits for the other's.
MEETING_ENV = "SUIRO_TEST_MEETING"
#: Tasks in ``wide``: enough to show records are group-committed, not one commit per task.
WIDE = 1000
#: Tasks in each ``stamps`` run (two of those run at once against one store).
STAMPS = 30


def mark(name: str) -> None:
    """Append ``name`` to the ledger."""
    path = os.environ.get(LEDGER_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as ledger:
            ledger.write(name + "\n")


def fail_if_flagged(name: str) -> None:
    """Raise while the flag file ``fail-<name>`` exists; end the whole process if ``crash-<name>`` does."""
    folder = os.environ.get(FLAGS_ENV)
    if not folder:
        return
    if Path(folder, f"crash-{name}").exists():
        time.sleep(0.3)  # let the recorder commit what finished before (it commits every 50 ms)
        os._exit(3)
    if Path(folder, f"fail-{name}").exists():
        raise RuntimeError(f"{name} fails on purpose while its flag file exists")


# -- chain: load -> (scale, shift) -> report ----------------------------------------------


@task(serializer="pickle")
def load(n: int) -> list[int]:
    mark("load")
    return list(range(n))


@task(serializer="pickle")
def scale(xs: list[int], factor: int) -> list[int]:
    mark("scale")
    fail_if_flagged("scale")
    return [x * factor for x in xs]


@task
def shift(xs: list[int], offset: int) -> list[int]:
    mark("shift")
    return [x + offset for x in xs]


@task
def report(scaled: list[int], shifted: list[int], label: str) -> dict[str, object]:
    mark("report")
    fail_if_flagged("report")
    return {"label": label, "scaled": sum(scaled), "shifted": sum(shifted)}


@pipeline
def chain(n: int = 5, factor: int = 2, offset: int = 1, label: str = "a"):
    xs = load(n)
    return report(scale(xs, factor), shift(xs, offset), label)


@pipeline
def loaded(n: int = 5):
    return load(n)


# -- mapped: one item can fail on purpose -------------------------------------------------


@task
def square(x: int) -> int:
    mark(f"square[{x}]")
    fail_if_flagged(f"square-{x}")
    return x * x


@task
def total(values: list[int]) -> int:
    mark("total")
    return sum(values)


@pipeline
def mapped(xs: list[int] = [1, 2, 3]):  # noqa: B006 - a default the tracer reads, never mutated
    return total(square.map(xs))


# -- recorded: retries, prints, metrics, a fan-out -----------------------------------------


@task(retries=1, retry_on=(ConnectionError,))
def shaky(x: int) -> int:
    attempt = context().attempt
    mark(f"shaky.{attempt}")
    print(f"shaky attempt {attempt} starting")
    if attempt == 1:
        raise ConnectionError("the first attempt of shaky fails on purpose")
    print(f"shaky attempt {attempt} done")
    return x + attempt


@task
def measure(x: int) -> float:
    for step in range(3):
        log_metric("loss", 1.0 / (step + 1), step=step)
    log_metric("final", x)
    return float(x)


@task
def broken(x: int) -> int:
    raise ValueError(f"broken refuses {x}")


@pipeline
def recorded(x: int = 1, items: list[int] = [1, 2, 3]):  # noqa: B006
    return {"measured": measure(shaky(x)), "squares": square.map(items)}


@pipeline
def failing(x: int = 1):
    return shaky(broken(x))


# -- cache options --------------------------------------------------------------------------


@task(cache=False)
def uncached(x: int) -> int:
    mark("uncached")
    return x


@task(cache_key=lambda x, note: f"x={x}")
def keyed(x: int, note: str) -> str:
    mark("keyed")
    return f"{x}:{note}"


@pipeline
def options(x: int = 1, note: str = "first"):
    return {"uncached": uncached(x), "keyed": keyed(x, note)}


@task(cache_ttl=0.5)
def fleeting(x: int) -> int:
    mark("fleeting")
    return x


@pipeline
def expiring(x: int = 1):
    return fleeting(x)


# -- many tasks -------------------------------------------------------------------------------


@task
def noop(i: int) -> int:
    return i


@pipeline
def wide():
    for i in range(WIDE):
        noop(i)


@task
def stamp(tag: str, i: int) -> str:
    mark(f"{tag}:{i}")
    meeting = os.environ.get(MEETING_ENV)
    if meeting and i == 0:  # wait until the other run is running too, so the two surely overlap
        Path(meeting, tag).touch()
        deadline = time.monotonic() + 30
        while len(os.listdir(meeting)) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    return f"{tag}-{i}"


@pipeline
def stamps(tag: str = "a"):
    return [stamp(tag, i) for i in range(STAMPS)]
