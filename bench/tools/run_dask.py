"""Dask: the workloads as ``dask.delayed`` graphs; Dask records nothing and caches nothing.

Usage: python bench/tools/run_dask.py WORKLOAD SIZE [WORKLOAD SIZE ...]  (w1, w2, w2b, w3, w5)

W1/W2 use the synchronous scheduler (Dask's cheapest per task, as DESIGN.md measured);
W2b compares it with the multiprocessing scheduler; W3 uses delayed's default threaded
scheduler, so the three trainings run in parallel.
"""

from __future__ import annotations

from typing import Any

import common as c
import dask
from dask import delayed


def chain(n: int) -> Any:
    x = delayed(c.noop)(0)
    for _ in range(n - 1):
        x = delayed(c.step)(x)
    return x.compute(scheduler="sync")


def fanout(n: int) -> Any:
    return delayed(c.gather)([delayed(c.noop)(i) for i in range(n)]).compute(scheduler="sync")


def forests(**scheduler: Any) -> tuple[float, ...]:
    return dask.compute(*[delayed(c.train_forest)(s) for s in c.W2B_SEEDS], **scheduler)


def breast_cancer() -> dict:
    data = delayed(c.split)(delayed(c.validate)(delayed(c.load_data)()))
    trained = [delayed(c.train)(data, m) for m in c.MODELS]
    return delayed(c.pick_best)([delayed(c.evaluate)(t, data) for t in trained]).compute()


def main() -> None:
    c.main(
        "dask",
        ("dask", "distributed"),
        lambda: chain(1),
        {
            "w1": lambda n: {"seconds": c.timed(lambda: chain(n))[0]},
            "w2": lambda n: {"seconds": c.timed(lambda: fanout(n))[0]},
            "w2b": lambda _: c.compare_w2b(
                lambda: forests(scheduler="sync"),
                lambda: forests(scheduler="processes", num_workers=c.W2B_WORKERS),
            ),
            "w3": lambda _: c.rerun_w3(breast_cancer, caches=False),
            "w5": lambda _: {"seconds": c.timed(lambda: delayed(c.noop)(1).compute())[0]},
        },
    )


if __name__ == "__main__":
    main()
