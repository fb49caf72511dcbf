"""R9's processes: runners, a registry writer and a reader, all on one suiro home until a deadline.

Run as ``python -m reliability.contention_driver ROLE --start T0 --until T1 --out FILE``
(``tests`` and ``src`` on ``PYTHONPATH``, ``SUIRO_HOME`` set). Every role waits for the wall-clock
time ``T0`` so all processes begin together, works until ``T1`` (finishing what it started), then
writes one JSON report: what it did, every exception it caught, and this process's
``suiro.store.db.write_timings()``, suiro's own measure of write latency. Exceptions are caught
only to keep going and be reported (the test fails on any); they are never hidden.

- ``runner``: runs ``stress`` again and again on the threads executor with 4 workers: 27 task runs
  per run (a 16-item map, a chain, a task that fails once and is retried, a task that is a cache
  hit from the second run on), each 0-10 ms long, so its recorder writes all the time.
- ``registry``: two threads, each every ``TICK``: register a version of its own model, promote it,
  every fifth tick roll back, and register a version of a model both share (the stand-in for a
  scheduler writing ticks). Each of these calls is one write transaction.
- ``reader``: every ``POLL``, the Python reads ``suiro.history`` offers (which reap dead runs, i.e.
  may write) and registry reads.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import suiro
from suiro import context, log_metric, pipeline, task, unmapped

WIDTH = 16
CHAIN = 6
#: Task runs recorded per run of ``stress``: one per node (make_items, item, wobbly, the chain,
#: constant, gather) and one per mapped item.
TASK_RUNS = 5 + CHAIN + WIDTH
#: Seconds between a registry thread's ticks (each 3-4 write transactions) and between reader polls:
#: a busy scheduler and an eager UI, so that the runners, not these two, are what load the CPU.
TICK = 0.05
POLL = 0.05
#: Model names the registry role writes: one per thread, and one both threads share.
MODELS = ("stress-a", "stress-b")
SHARED_MODEL = "stress-shared"


@task
def make_items(width: int) -> list[int]:
    return list(range(width))


@task
def item(seed: str, i: int) -> str:
    time.sleep(0.01)
    return f"{seed}:{i}"


@task(retries=1, retry_on=(ConnectionError,))
def wobbly(seed: str) -> str:
    """Fail the first attempt, so every run records a retry and a failed attempt."""
    if context().attempt == 1:
        raise ConnectionError(f"first attempt for {seed} fails on purpose")
    return seed


@task
def step(value: str, k: int) -> str:
    log_metric("k", k)
    time.sleep(0.005)
    return f"{value}+{k}"


@task
def constant() -> str:
    """Depends on nothing: a cache hit in every run after the first (a file in the store)."""
    return "c" * 20_000


@task
def gather(parts: list[str], chained: str, big: str) -> dict[str, Any]:
    return {"parts": len(parts), "last": parts[-1], "chained": chained, "big": len(big)}


@pipeline
def stress(seed: str = "0"):
    parts = item.map(i=make_items(WIDTH), seed=unmapped(seed))
    value = wobbly(seed)
    for k in range(CHAIN):
        value = step(value, k)
    return gather(parts, value, constant())


def expected_output(seed: str) -> dict[str, Any]:
    """What ``stress(seed)`` returns."""
    chained = seed + "".join(f"+{k}" for k in range(CHAIN))
    return {"parts": WIDTH, "last": f"{seed}:{WIDTH - 1}", "chained": chained, "big": 20_000}


class Report:
    """What one driver process did; written as JSON at the end."""

    def __init__(self, role: str):
        self.role = role
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        self.runs: list[dict[str, Any]] = []
        self.states_seen: set[str] = set()
        self._lock = threading.Lock()

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def guard(self, label: str, call: Callable[[], Any]) -> Any:
        """``call()``; an exception is recorded with its traceback (then the loop goes on)."""
        try:
            return call()
        except Exception as exc:
            with self._lock:
                self.errors.append(f"{label}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            time.sleep(0.05)  # no hot loop on a persistent failure
            return None

    def dump(self, path: Path) -> None:
        from suiro.store.db import write_timings

        data = {
            "role": self.role,
            "suiro": suiro.__file__,
            "counts": self.counts,
            "errors": self.errors,
            "runs": self.runs,
            "states_seen": sorted(self.states_seen),
            "timings": [list(t) for t in write_timings()],
        }
        path.write_text(json.dumps(data), encoding="utf-8")


def run_runner(report: Report, until: float, tag: str) -> None:
    from suiro import api

    i = 0
    while time.time() < until:
        seed = f"{tag}-{i}"
        result = report.guard(
            f"run {seed}", lambda seed=seed: api.run(stress, {"seed": seed}, executor="threads", workers=4)
        )
        if result is not None:
            errors = {k: [str(e) for e in r.errors] for k, r in result.tasks.items() if r.errors}
            report.runs.append(
                {
                    "run_id": result.run_id,
                    "seed": seed,
                    "state": result.state.value,
                    "error": result.error,
                    "output_ok": result.output == expected_output(seed),
                    "task_errors": errors,
                    "seconds": result.ended - result.started,
                }
            )
        i += 1


def run_registry(report: Report, until: float) -> None:
    threads = [
        threading.Thread(target=_registry_loop, args=(report, until, name), name=name) for name in MODELS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _registry_loop(report: Report, until: float, name: str) -> None:
    """Register a version each tick; promote it (production every other tick); roll back every 5th."""
    from suiro.registry import Registry

    registry = Registry()
    i = 0
    while time.time() < until:
        version = report.guard(
            f"register {name}",
            lambda i=i: registry.register(name, {"tick": i}, metrics={"score": i}, params={"i": i}),
        )
        if version is not None:
            report.count(f"registered {name}")
            stage = "production" if i % 2 == 0 else "staging"
            if report.guard(
                f"promote {name}", lambda v=version, s=stage: registry.promote(name, v.version, s)
            ):
                report.count("promoted")
        if i % 5 == 4 and report.guard(f"rollback {name}", lambda: registry.rollback(name)):
            report.count("rolled back")
        if report.guard(f"register {SHARED_MODEL}", lambda i=i: registry.register(SHARED_MODEL, {"t": i})):
            report.count(f"registered {SHARED_MODEL}")
        i += 1
        time.sleep(TICK)
    registry.close()


def run_reader(report: Report, until: float) -> None:
    from suiro import history
    from suiro.registry import Registry

    registry = Registry()
    while time.time() < until:
        runs = report.guard("history.runs", lambda: history.runs(limit=20)) or []
        report.count("reads")
        report.states_seen.update(r["state"] for r in runs)
        if runs:
            run_id = runs[len(runs) // 2]["id"]
            shown = report.guard("history.show", lambda run_id=run_id: history.show(run_id))
            if shown is not None:
                report.states_seen.add(shown["state"])
                report.states_seen.update(f"task:{t['state']}" for t in shown["tasks"])
            report.guard("history.logs", lambda run_id=run_id: history.logs(run_id, "wobbly"))
            report.guard("history.metrics", lambda run_id=run_id: history.metrics(run_id))
            report.count("reads", 4)
        for name in MODELS:
            if report.guard(f"versions {name}", lambda name=name: _versions_if_any(registry, name)):
                report.count("reads")
        time.sleep(POLL)
    registry.close()


def _versions_if_any(registry: Any, name: str) -> bool:
    from suiro.errors import ModelNotFoundError

    try:
        registry.versions(name)
    except ModelNotFoundError:  # the writer has not registered it yet
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("runner", "registry", "reader"))
    parser.add_argument("--start", type=float, required=True, help="wall-clock time to begin")
    parser.add_argument("--until", type=float, required=True, help="wall-clock time to stop starting work")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--tag", default="r", help="prefix of the runner's seeds")
    args = parser.parse_args()
    report = Report(args.role)
    time.sleep(max(args.start - time.time(), 0.0))
    if args.role == "runner":
        run_runner(report, args.until, args.tag)
    elif args.role == "registry":
        run_registry(report, args.until)
    else:
        run_reader(report, args.until)
    report.dump(args.out)


if __name__ == "__main__":
    main()
