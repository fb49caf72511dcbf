"""suiro: the workloads as traced pipelines, every state recorded in SQLite (a fresh SUIRO_HOME).

Usage: python bench/tools/run_suiro.py WORKLOAD SIZE [WORKLOAD SIZE ...]  (w1, w2, w2b, w3, w5)

Default executor (threads) and default caching throughout, except W2b, which compares
the sequential and processes executors. W3 reruns twice in the same home: that is W4.
Each W1/W2 run in a process gets inputs of its own (``SEEDS``), so the steady-state run
(the second) does all the work again instead of finding the first run's outputs in the cache.
"""

from __future__ import annotations

import itertools
import os

import common as c

import suiro
from suiro import pipeline, task, unmapped

noop, step = task(c.noop), task(c.step)
gather = task(c.gather)
train_forest = task(c.train_forest)
load_data, validate, split = task(c.load_data), task(c.validate), task(c.split)
train, evaluate, pick_best = task(c.train), task(c.evaluate), task(c.pick_best)


#: Numbers the W1/W2 runs of this process: run k's inputs are disjoint from every other run's.
SEEDS = itertools.count()


def chain(n: int) -> suiro.Pipeline:
    start = next(SEEDS) * 1_000_000_000  # the links compute start + 1, start + 2, ...

    @pipeline(name=f"chain_{n}")
    def p():
        ref = noop(start)
        for _ in range(n - 1):
            ref = step(ref)
        return ref

    return p


def fanout(n: int) -> suiro.Pipeline:
    start = next(SEEDS) * n

    @pipeline(name=f"fanout_{n}")
    def p():
        return gather(noop.map(list(range(start, start + n))))

    return p


@pipeline
def forests(seeds: list[int] = c.W2B_SEEDS):
    return train_forest.map(seeds)


@pipeline
def breast_cancer(models: list[str] = c.MODELS):
    data = split(validate(load_data()))
    trained = train.map(data=unmapped(data), model=models)
    return pick_best(evaluate.map(trained, data=unmapped(data)))


@pipeline
def one_task():
    return noop(-1)


#: ``BENCH_SUIRO_W3_EXECUTOR=threads|processes|sequential`` runs W3 on that executor instead of
#: the pipeline's own (to compare them; bench/run.py never sets it).
_W3 = os.environ.get("BENCH_SUIRO_W3_EXECUTOR")
W3_EXECUTOR = {"executor": _W3} if _W3 else {}


def run(pipe: suiro.Pipeline, home: str, **options):
    result = suiro.run(pipe, home=home, environ={}, **options)
    if not result.ok:
        raise SystemExit(f"suiro run failed: {result.state}")
    return result


def main() -> None:
    home = c.temp_home("suiro")
    c.main(
        "suiro",
        ("suiro",),
        lambda: run(one_task, home),
        {
            "w1": lambda n: {"seconds": c.timed(lambda: run(chain(n), home))[0]},  # tracing is timed too
            "w2": lambda n: {"seconds": c.timed(lambda: run(fanout(n), home))[0]},
            "w2b": lambda _: c.compare_w2b(
                lambda: run(forests, c.temp_home("suiro-seq"), executor="sequential"),
                lambda: run(forests, c.temp_home("suiro-par"), executor="processes", workers=c.W2B_WORKERS),
            ),
            "w3": lambda _: c.rerun_w3(lambda: run(breast_cancer, home, **W3_EXECUTOR).output, caches=True),
            "w5": lambda _: {"seconds": c.timed(lambda: run(one_task, home))[0]},
        },
    )


if __name__ == "__main__":
    main()
