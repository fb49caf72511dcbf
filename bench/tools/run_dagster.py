"""Dagster: the workloads as jobs of ops, run with ``execute_in_process``.

Usage: python bench/tools/run_dagster.py WORKLOAD SIZE [WORKLOAD SIZE ...]  (w1, w2, w2b, w3, w5)

DAGSTER_HOME is a fresh temp dir and runs use its persistent instance, so every run, step and
event is recorded in SQLite as in a Dagster deployment. ``BENCH_DAGSTER_INSTANCE=ephemeral``
(the ``dagster-mem`` column) uses ``DagsterInstance.ephemeral()``, which keeps nothing: what
``execute_in_process`` uses when given no instance. W1 is a generated graph of aliased ops;
W2 and W3 fan out with dynamic outputs (``.map``/``.collect``). ``execute_in_process`` runs
ops one at a time; W2b's parallel half launches the job with the multiprocess executor
(``execute_job`` of a reconstructable job). Dagster has no result cache: no W4.
"""

from __future__ import annotations

import os
from typing import Any

import common as c

os.environ.setdefault("DAGSTER_HOME", c.temp_home("dagster"))

from dagster import (  # after DAGSTER_HOME is set
    DagsterInstance,
    DynamicOut,
    DynamicOutput,
    execute_job,
    job,
    op,
    reconstructable,
)

noop, step = op(c.noop), op(c.step)
gather = op(c.gather)
train_forest, load_data, validate, split = op(c.train_forest), op(c.load_data), op(c.validate), op(c.split)
train, evaluate, pick_best = op(c.train), op(c.evaluate), op(c.pick_best)


def chain(n: int) -> Any:
    @job(name=f"chain_{n}")
    def p():
        x = noop.alias("t0")()
        for i in range(1, n):
            x = step.alias(f"t{i}")(x)

    return p


def dynamic(name: str, values: list[Any]) -> Any:
    """An op yielding one dynamic output per value (Dagster's fan-out)."""

    @op(name=name, out=DynamicOut())
    def emit():
        for i, v in enumerate(values):
            yield DynamicOutput(v, mapping_key=str(i))

    return emit


def fanout(n: int) -> Any:
    @job(name=f"fanout_{n}")
    def p():
        gather(dynamic("items", list(range(n)))().map(noop).collect())

    return p


seeds = dynamic("seeds", c.W2B_SEEDS)


@job
def forests():  # module level: the multiprocess executor reconstructs it in each step process
    seeds().map(train_forest)


models = dynamic("models", c.MODELS)


@job
def breast_cancer():
    data = split(validate(load_data()))
    trained = models().map(lambda m: train(data, m))
    pick_best(trained.map(lambda t: evaluate(t, data)).collect())


def instance() -> DagsterInstance:
    """The persistent instance in DAGSTER_HOME, or an in-memory one (``BENCH_DAGSTER_INSTANCE=ephemeral``)."""
    if os.environ.get("BENCH_DAGSTER_INSTANCE") == "ephemeral":
        return DagsterInstance.ephemeral()
    return DagsterInstance.get()


def run(pipe: Any) -> Any:
    result = pipe.execute_in_process(instance=instance())
    if not result.success:
        raise SystemExit("dagster run failed")
    return result


def run_forests_in_processes() -> None:
    config = {"execution": {"config": {"multiprocess": {"max_concurrent": c.W2B_WORKERS}}}}
    with execute_job(reconstructable(forests), instance=DagsterInstance.get(), run_config=config) as res:
        if not res.success:
            raise SystemExit("dagster multiprocess run failed")


def main() -> None:
    c.main(
        "dagster",
        ("dagster",),
        lambda: run(chain(1)),
        {
            "w1": lambda n: {"seconds": c.timed(lambda: run(chain(n)))[0]},
            "w2": lambda n: {"seconds": c.timed(lambda: run(fanout(n)))[0]},
            "w2b": lambda _: c.compare_w2b(lambda: run(forests), run_forests_in_processes),
            "w3": lambda _: c.rerun_w3(lambda: run(breast_cancer).output_for_node("pick_best"), caches=False),
            "w5": lambda _: {"seconds": c.timed(lambda: run(chain(1)))[0]},
        },
    )


if __name__ == "__main__":
    main()
