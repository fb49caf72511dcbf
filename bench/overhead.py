"""Per-task overhead of suiro on no-op tasks, with and without recording.

Usage: python bench/overhead.py [--sizes 1000,10000] [--executors sequential,threads,processes]

Prints a Markdown table: for each workload (W1 = chain, W2 = fan-out + gather),
size, executor and recording mode, the median wall time of 3 runs (each in a
fresh SUIRO_HOME) and the milliseconds per task above the plain-Python floor.
Run it in a quiet machine; numbers are for comparison within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from suiro import pipeline, task


@task
def noop(x: object = None) -> object:
    return x


def chain(n: int):
    @pipeline(name=f"chain_{n}")
    def p():
        ref = noop(0)
        for _ in range(n - 1):
            ref = noop(ref)
        return ref

    return p


def fanout(n: int):
    @pipeline(name=f"fanout_{n}")
    def p():
        return noop(noop.map(list(range(n))))

    return p


def floor(n: int) -> float:
    fn = noop.fn
    start = time.perf_counter()
    x = 0
    for _ in range(n):
        x = fn(x)
    return time.perf_counter() - start


def measure(pipe, executor: str, record: bool, repeats: int = 3) -> float:
    import suiro

    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as home:
            start = time.perf_counter()
            result = suiro.run(pipe, executor=executor, record=record, home=home, environ={})
            times.append(time.perf_counter() - start)
            assert result.ok, result.state
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--executors", default="sequential,threads,processes")
    args = parser.parse_args()
    print(f"suiro overhead, {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print("| workload | tasks | executor | recorded | median s | ms/task over floor |")
    print("|---|---|---|---|---|---|")
    for size in [int(s) for s in args.sizes.split(",")]:
        for name, make in (("W1 chain", chain), ("W2 fan-out", fanout)):
            pipe = make(size)
            base = floor(size)
            for executor in args.executors.split(","):
                for record in (False, True):
                    wall = measure(pipe, executor, record)
                    per_task = (wall - base) / size * 1000
                    print(
                        f"| {name} | {size} | {executor} | {'yes' if record else 'no'} | {wall:.3f} | "
                        f"{per_task:.3f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
