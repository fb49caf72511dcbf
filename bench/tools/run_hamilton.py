"""Hamilton: the workloads as generated nodes (``@parameterize``, ``@inject(group(...))``).

Usage: python bench/tools/run_hamilton.py WORKLOAD SIZE [WORKLOAD SIZE ...]  (w1, w2, w2b, w3, w5)

The plain driver runs nodes in-process, one after another, and records nothing; W2b uses
dynamic execution (``Parallelizable``/``Collect``) on a local vs a multiprocessing executor;
W3 turns on Hamilton's cache (``with_cache``) in a temp dir and reruns twice: that is W4.
"""

from __future__ import annotations

from typing import Any

import common as c
from hamilton import ad_hoc_utils, driver
from hamilton.execution import executors
from hamilton.function_modifiers import group, inject, parameterize, source, value
from hamilton.htypes import Collect, Parallelizable


def chain(n: int) -> Any:
    def t0() -> int:
        return c.noop(0)

    @parameterize(**{f"t{i}": {"x": source(f"t{i - 1}")} for i in range(1, n)})
    def link(x: int) -> int:
        return c.step(x)

    return ad_hoc_utils.create_temporary_module(t0, link), f"t{n - 1}"


def fanout(n: int) -> Any:
    @parameterize(**{f"item{i}": {"i": value(i)} for i in range(n)})
    def item(i: int) -> int:
        return c.noop(i)

    @inject(items=group(*[source(f"item{i}") for i in range(n)]))
    def gathered(items: list[int]) -> int:
        return c.gather(items)

    return ad_hoc_utils.create_temporary_module(item, gathered), "gathered"


# W2b's nodes live at module level so the multiprocessing executor can pickle them.
def seed(seeds: list[int]) -> Parallelizable[int]:
    yield from seeds


def forest(seed: int) -> float:
    return c.train_forest(seed)


def accuracies(forest: Collect[float]) -> list[float]:
    return list(forest)


def breast_cancer() -> Any:
    def raw() -> Any:
        return c.load_data()

    def valid(raw: Any) -> Any:
        return c.validate(raw)

    def data(valid: Any) -> dict:
        return c.split(valid)

    @parameterize(**{f"trained_{m}": {"model": value(m)} for m in c.MODELS})
    def trained(data: dict, model: str) -> Any:
        return c.train(data, model)

    @parameterize(**{f"score_{m}": {"fitted": source(f"trained_{m}")} for m in c.MODELS})
    def score(fitted: Any, data: dict) -> dict:
        return c.evaluate(fitted, data)

    @inject(scores=group(*[source(f"score_{m}") for m in c.MODELS]))
    def best(scores: list[dict]) -> dict:
        return c.pick_best(scores)

    return ad_hoc_utils.create_temporary_module(raw, valid, data, trained, score, best)


def run_graph(module: Any, final: str) -> Any:
    return driver.Builder().with_modules(module).build().execute([final])[final]


def run_forests(executor: Any) -> list[float]:
    module = ad_hoc_utils.create_temporary_module(seed, forest, accuracies)
    dr = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(module)
        .with_local_executor(executors.SynchronousLocalTaskExecutor())
        .with_remote_executor(executor)
        .build()
    )
    return dr.execute(["accuracies"], inputs={"seeds": c.W2B_SEEDS})["accuracies"]


def main() -> None:
    cached = driver.Builder().with_modules(breast_cancer()).with_cache(path=c.temp_home("hamilton")).build()
    c.main(
        "hamilton",
        ("sf-hamilton",),
        lambda: run_graph(*chain(1)),
        {
            "w1": lambda n: {"seconds": c.timed(lambda: run_graph(*chain(n)))[0]},
            "w2": lambda n: {"seconds": c.timed(lambda: run_graph(*fanout(n)))[0]},
            "w2b": lambda _: c.compare_w2b(
                lambda: run_forests(executors.SynchronousLocalTaskExecutor()),
                lambda: run_forests(executors.MultiProcessingExecutor(c.W2B_WORKERS)),
            ),
            "w3": lambda _: c.rerun_w3(lambda: cached.execute(["best"])["best"], caches=True),
            "w5": lambda _: {"seconds": c.timed(lambda: run_graph(*chain(1)))[0]},
        },
    )


if __name__ == "__main__":
    main()
