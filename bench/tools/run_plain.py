"""The floor: the same workloads as plain Python calls, no orchestrator.

Usage: python bench/tools/run_plain.py WORKLOAD SIZE [WORKLOAD SIZE ...]  (w1, w2, w2b, w3, w5)
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import common as c


def w1(n: int) -> object:
    x = c.noop(0)
    for _ in range(n - 1):
        x = c.step(x)
    return x


def w2(n: int) -> int:
    return c.gather([c.noop(i) for i in range(n)])


def parallel(fn, items: list) -> list:
    """A process pool, started inside the timing like every tool's process executor."""
    with ProcessPoolExecutor(c.W2B_WORKERS) as pool:
        return list(pool.map(fn, items))


def w3() -> dict:
    data = c.split(c.validate(c.load_data()))
    models = [c.train(data, m) for m in c.MODELS]
    return c.pick_best([c.evaluate(m, data) for m in models])


def main() -> None:
    c.main(
        "plain",
        (),
        lambda: c.noop(-1),
        {
            "w1": lambda n: {"seconds": c.timed(lambda: w1(n))[0]},
            "w2": lambda n: {"seconds": c.timed(lambda: w2(n))[0]},
            "w2b": lambda _: c.compare_w2b(
                lambda: [c.train_forest(s) for s in c.W2B_SEEDS],
                lambda: parallel(c.train_forest, c.W2B_SEEDS),
            ),
            "w3": lambda _: c.rerun_w3(w3, caches=False),
            "w5": lambda _: {"seconds": c.timed(lambda: c.noop(1))[0]},
        },
    )


if __name__ == "__main__":
    main()
