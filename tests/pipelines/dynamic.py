"""Dynamic pipelines (``@pipeline(dynamic=True)``) for the dynamic-run tests.

Bodies append to the ledger ``$SUIRO_TEST_LEDGER`` (see ``store_chain``) so a test proves
which ones ran; ``train`` fails while ``$SUIRO_TEST_FLAGS/fail-train-<kind>`` exists.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipelines.store_chain import fail_if_flagged, mark

from suiro import pipeline, task
from suiro.errors import TaskFailedError


@task
def load(n: int) -> list[int]:
    mark("load")
    return list(range(n))


@task
def train(data: list[int], kind: str) -> dict[str, object]:
    mark(f"train-{kind}")
    fail_if_flagged(f"train-{kind}")
    return {"kind": kind, "weights": [x * (2 if kind == "rf" else 1) for x in data]}


@task
def evaluate(model: dict[str, object]) -> float:
    mark(f"evaluate-{model['kind']}")
    return float(sum(model["weights"]))  # type: ignore[arg-type]


@pipeline(dynamic=True)
def select(n: int = 3, model_types: list[str] | None = None) -> str:
    """Train each kind of model and keep the best: the chapter's Prefect flow, in suiro."""
    data = load(n)
    if model_types is None:
        model_types = ["lr", "rf"]
    scores = {}
    for kind in model_types:
        model = train(data, kind)
        scores[kind] = evaluate(model)
    return max(scores, key=lambda k: scores[k])


@pipeline(dynamic=True)
def until(target: int = 10) -> int:
    """A while loop over real results: add 3 until the target is passed."""
    total = 0
    while total < target:
        total = step(total)
    return total


@task
def step(total: int) -> int:
    mark("step")
    return total + 3


@task
def nap(name: str, seconds: float) -> tuple[str, float, float]:
    """Sleep; return when it started and ended (to see which calls overlapped)."""
    start = time.time()
    time.sleep(seconds)
    return name, start, time.time()


@pipeline(dynamic=True)
def parallel(count: int = 3, seconds: float = 0.3) -> list[tuple[str, float, float]]:
    futures = [nap.submit(f"nap{i}", seconds) for i in range(count)]
    return [f.result() for f in futures]


@task
def total(values: list[float]) -> float:
    return sum(values)


@pipeline(dynamic=True)
def joined(count: int = 3) -> float:
    """Futures passed to a task: it waits for them (edges from each)."""
    scores = [evaluate.submit({"kind": f"k{i}", "weights": [i]}) for i in range(count)]
    return total(scores)


@task(retries=2, retry_delay=0)
def flaky(counter: str) -> int:
    """Fails until it has been attempted three times (counted in the file ``counter``)."""
    path = Path(counter)
    tries = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(tries))
    if tries < 3:
        raise RuntimeError(f"attempt {tries} fails on purpose")
    return tries


@pipeline(dynamic=True)
def retried(counter: str) -> int:
    return flaky(counter)


@pipeline(dynamic=True)
def tolerant(n: int = 2) -> str:
    """Catches a failed call and goes on with another."""
    data = load(n)
    try:
        train(data, "rf")
    except TaskFailedError as err:
        return f"without {err.task}"
    return "with rf"


@pipeline(dynamic=True)
def broken(n: int = 2) -> int:
    data = load(n)
    return data["x"]  # type: ignore[call-overload]


@task
def square(x: int) -> int:
    mark(f"square-{x}")
    return x * x


@pipeline(dynamic=True)
def mapped(n: int = 4) -> int:
    squares = square.map(load(n))
    return int(evaluate({"kind": "sum", "weights": squares}))


@pipeline(dynamic=True)
def miscalled(n: int = 2) -> object:
    return load(n, 3)  # type: ignore[call-arg]


@task(timeout=0.5)
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pipeline(dynamic=True)
def sleepy(seconds: float = 5.0) -> float:
    return slow(seconds)


@pipeline(dynamic=True)
def endless() -> None:
    """Calls a short task until the run is stopped."""
    while True:
        slow(0.1)


@pipeline(dynamic=True)
def guarded(n: int = 2) -> None:
    from suiro import when

    with when(load(n)):
        load(n + 1)
