"""Pipelines for the authoring (tracing) unit tests: the README's example and one that uses every feature.

``training`` is the README pipeline verbatim (fan-out over a parameter with an unmapped upstream
output, a gate, two ``when`` branches and a ``one_success`` join). ``everything`` adds a literal
map with ``max_concurrency``, derived references, a packed list/dict argument, a nested guard on a
derived reference and a ``>>`` ordering edge. Nothing here runs: the tests only read the graphs.
"""

from __future__ import annotations

from typing import Any

from suiro import pipeline, task, unmapped, when


@task(retries=3, retry_delay=1.0, backoff=2.0, retry_on=(ConnectionError,))
def collect(n: int) -> list[float]:
    return [i / n for i in range(n)]


@task(timeout=60)
def train(data: list[float], factor: int) -> float:
    return sum(data) * factor


@task
def gate(scores: list[float], threshold: float) -> bool:
    return max(scores) >= threshold


@task
def register(scores: list[float]) -> str:
    return f"registered {max(scores)}"


@task
def alert(scores: list[float]) -> str:
    return f"too low: {max(scores)}"


@task(trigger_rule="one_success")
def report(registered: str | None, alerted: str | None) -> str:
    return registered or alerted


@pipeline
def training(n: int = 100, factors: list[int] = [1, 2, 3], threshold: float = 100.0):  # noqa: B006
    data = collect(n)
    scores = train.map(data=unmapped(data), factor=factors)  # fan-out, in parallel
    passed = gate(scores, threshold)
    with when(passed):
        registered = register(scores)
    with when(~passed):
        alerted = alert(scores)
    return report(registered, alerted)


#: ``training``'s edges as (upstream, downstream) pairs, written out by hand.
TRAINING_EDGES = {
    ("collect", "train"),
    ("train", "gate"),
    ("train", "register"),
    ("gate", "register"),
    ("train", "alert"),
    ("gate", "alert"),
    ("register", "report"),
    ("alert", "report"),
}


@task(tags=["io"], resources={"cpu": 2})
def load(path: str) -> dict[str, Any]:
    return {"rows": [1, 2, 3], "meta": {"ok": True}, "path": path}


@task
def square(x: int) -> int:
    return x * x


@task
def merge(parts: list[Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {"parts": parts, **extra}


@task(tags=["side-effect"])
def publish(result: dict[str, Any]) -> None:
    print(result)


@task
def cleanup() -> None:
    pass


@pipeline
def everything(path: str, flag: bool = True):
    table = load(path)
    squares = square.map([1, 2, 3], max_concurrency=2)
    merged = merge([table["rows"], squares], {"meta": table.meta, "flag": flag})
    with when(table["meta"]["ok"]), when(flag):
        done = publish(merged)
    tidy = cleanup()
    done >> tidy
    return {"merged": merged, "squares": squares}


#: ``everything``'s edges as (upstream, downstream) pairs, written out by hand.
EVERYTHING_EDGES = {
    ("load", "merge"),
    ("square", "merge"),
    ("load", "publish"),
    ("merge", "publish"),
    ("publish", "cleanup"),
}
