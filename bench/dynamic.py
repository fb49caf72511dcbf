"""Per-task overhead of a dynamic pipeline next to the same static one (issue 12).

Usage: python bench/dynamic.py [--size 1000] [--executors sequential,threads] [--repeats 5]

Both pipelines are a chain of ``size`` no-op tasks, each reading the one before. The static
one is traced once; the dynamic one (``@pipeline(dynamic=True)``) runs its body at run time,
each call a node run by the same loop. Runs are in-process and warm (one untimed run of each
first), each in a fresh SUIRO_HOME; the median of ``repeats`` is reported, with the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from overhead import chain as static_chain  # the same no-op chain the overhead bench times
from overhead import noop

from suiro import pipeline


def dynamic_chain(n: int):
    @pipeline(name=f"dynamic_chain_{n}", dynamic=True)
    def p():
        value = noop(0)
        for _ in range(n - 1):
            value = noop(value)
        return value

    return p


def measure(pipe, executor: str, record: bool, repeats: int) -> float:
    import suiro

    times = []
    for i in range(repeats + 1):
        with tempfile.TemporaryDirectory() as home:
            start = time.perf_counter()
            result = suiro.run(pipe, executor=executor, record=record, home=home, environ={})
            if i:  # the first run warms up
                times.append(time.perf_counter() - start)
            assert result.ok, result.state
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--executors", default="sequential,threads")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.size
    python = sys.version.split()[0]
    print(f"suiro dynamic vs static, {n}-task chain, {os.cpu_count()} cores, Python {python}\n")
    print("| executor | recorded | static ms/task | dynamic ms/task | dynamic / static |")
    print("|---|---|---|---|---|")
    static, dynamic = static_chain(n), dynamic_chain(n)
    for executor in args.executors.split(","):
        for record in (False, True):
            s = measure(static, executor, record, args.repeats) / n * 1000
            d = measure(dynamic, executor, record, args.repeats) / n * 1000
            print(f"| {executor} | {'yes' if record else 'no'} | {s:.3f} | {d:.3f} | {d / s:.2f}x |")


if __name__ == "__main__":
    main()
