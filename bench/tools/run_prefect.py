"""Prefect 3: the workloads as flows of tasks, on Prefect's default local SQLite store.

Usage: python bench/tools/run_prefect.py WORKLOAD SIZE [WORKLOAD SIZE ...]  (w1, w2, w2b, w3, w5)

PREFECT_HOME comes from ``bench/run.py`` (a home warmed by one earlier run, so the
fresh-home cost is measured once on its own) or is a fresh temp dir; persisted results
go to a fresh dir per process. With no API URL set,
Prefect starts its temporary local server, as it does for a user out of the box.
W2 fans out with ``.map`` on the default thread-pool task runner; W2b compares direct
calls with ``ProcessPoolTaskRunner``; W3's tasks use ``cache_policy=INPUTS + TASK_SOURCE``
with ``persist_result=True`` and the flow runs twice more: that is W4.
"""

from __future__ import annotations

import os
from typing import Any

import common as c

os.environ.setdefault("PREFECT_HOME", c.temp_home("prefect"))
# This machine has no internet: skip the server's telemetry calls, which can only fail here.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The temporary server can take over its default 20 s to start on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Results (and so cache entries) in a fresh dir per process: W3 is cold, its rerun is W4.
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = c.temp_home("prefect-results")

from prefect import flow, task, unmapped  # after the environment above: Prefect reads it on import
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.task_runners import ProcessPoolTaskRunner

noop, step = task(c.noop), task(c.step)
gather = task(c.gather)
train_forest = task(c.train_forest)
cached = task(cache_policy=INPUTS + TASK_SOURCE, persist_result=True)
load_data, validate, split = cached(c.load_data), cached(c.validate), cached(c.split)
train, evaluate, pick_best = cached(c.train), cached(c.evaluate), cached(c.pick_best)


@flow
def chain(n: int) -> Any:
    x = noop(0)
    for _ in range(n - 1):
        x = step(x)
    return x


@flow
def fanout(n: int) -> int:
    return gather(noop.map(list(range(n))))


@flow
def forests_sequential() -> list[float]:
    return [train_forest(s) for s in c.W2B_SEEDS]


@flow(task_runner=ProcessPoolTaskRunner(max_workers=c.W2B_WORKERS))
def forests_parallel() -> list[float]:
    return train_forest.map(c.W2B_SEEDS).result()


@flow
def breast_cancer() -> dict:
    data = split(validate(load_data()))
    trained = train.map(data=unmapped(data), model=c.MODELS)
    return pick_best(evaluate.map(trained, data=unmapped(data)))


@flow
def one_task() -> Any:
    return noop(-1)


def main() -> None:
    c.main(
        "prefect",
        ("prefect",),
        one_task,
        {
            "w1": lambda n: {"seconds": c.timed(lambda: chain(n))[0]},
            "w2": lambda n: {"seconds": c.timed(lambda: fanout(n))[0]},
            "w2b": lambda _: c.compare_w2b(forests_sequential, forests_parallel),
            "w3": lambda _: c.rerun_w3(breast_cancer, caches=True),
            "w5": lambda _: {"seconds": c.timed(one_task)[0]},
        },
    )


if __name__ == "__main__":
    main()
