"""suiro on Dask against raw ``dask.distributed`` futures, on the same ``LocalCluster``, in one run.

Usage: python bench/dask.py [--n 10000] [--reps 3] [--workers 2] [--w2b-workers 2,3] [--skip-w2b]

- **W2**: a fan-out of N no-op tasks and one gather. Raw Dask: ``client.map`` then one
  ``client.submit`` gathering the futures (Dask's cheapest way to run them: no records, no
  artifacts). suiro: the same pipeline, recorded in a fresh home (every attempt, output and
  state written), on ``DaskExecutor(address=...)``. Both on one cluster of ``--workers`` worker
  processes, one thread each, alternating run by run; the table gives each side's median per task
  and the ratio (target: suiro within 1.5x of raw Dask).
- **W2b**: three equal CPU-bound trainings (``bench/tools/common.py``'s random forest) run by
  suiro on its sequential executor, then on a LocalCluster of each ``--w2b-workers`` size
  (target: >= 1.7x sequential). Three equal tasks on 2 single-threaded workers can finish at
  best in two rounds, 1.5x; with 3 workers on 2 cores the OS shares the cores (the main
  benchmark's W2b).
- **hand-over**: a 64 MB array made by one task, read by the next on the other worker: raw Dask
  hands the object over worker to worker; suiro's worker writes it to the artifact store and the
  next worker reads it back (verified). Medians of the whole two-task run.

Prints Markdown tables (progress on stderr). Run it on a quiet machine; say how loaded it was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This file's folder comes first on sys.path when it runs as a script: there its name would
# shadow the ``dask`` package. The task bodies come from the tool runners' ``common.py``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE / "tools"))

import common  # noqa: E402

import suiro  # noqa: E402
from suiro import pipeline, task  # noqa: E402


def noop(x: Any = 0) -> Any:
    return x


def gather(items: list[Any]) -> int:
    return len(items)


def make_array(mb: int) -> Any:
    import numpy as np

    return np.ones(mb * 2**20 // 8)


def nbytes(array: Any) -> int:
    return int(array.nbytes)


noop_task = task(noop, name="noop")
gather_task = task(gather, name="gather")
train_task = task(common.train_forest, name="train_forest")
make_task = task(make_array, name="make_array")
nbytes_task = task(nbytes, name="nbytes")


def w2(n: int) -> Any:
    """The W2 pipeline of ``n`` items (its size is fixed when traced, as in ``bench/overhead.py``)."""

    @pipeline(name=f"w2_{n}")
    def fanout():
        return gather_task(noop_task.map(list(range(n))))

    return fanout


@pipeline
def w2b():
    return [train_task(seed) for seed in common.W2B_SEEDS]


@pipeline
def handover(mb: int):
    return nbytes_task(make_task(mb))


def raw_w2(client: Any, n: int) -> float:
    start = time.perf_counter()
    futures = client.map(noop, range(n), pure=False)
    assert client.submit(gather, futures, pure=False).result() == n
    elapsed = time.perf_counter() - start
    del futures
    return elapsed


def suiro_run(pipe: Any, executor: Any, **params: Any) -> float:
    with tempfile.TemporaryDirectory(prefix="suiro-bench-dask-") as home:
        start = time.perf_counter()
        result = suiro.run(pipe, params=params, executor=executor, home=home)
        elapsed = time.perf_counter() - start
    assert result.state is suiro.RunState.SUCCESS, result.error
    return elapsed


def raw_handover(client: Any, mb: int) -> float:
    first, second = sorted(client.scheduler_info()["workers"])[:2]
    start = time.perf_counter()
    made = client.submit(make_array, mb, pure=False, workers=[first])
    assert client.submit(nbytes, made, pure=False, workers=[second]).result() == mb * 2**20
    elapsed = time.perf_counter() - start
    del made
    return elapsed


def row(*cells: str) -> None:
    print("| " + " | ".join(cells) + " |", flush=True)


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}..{max(values):.3f})"


def bench_w2(client: Any, executor: Any, n: int, reps: int) -> None:
    raw_w2(client, 200)  # both sides warm: the workers' suiro processes started, imports done
    suiro_run(w2(200), executor)
    raw, ours = [], []
    for rep in range(reps):
        raw.append(raw_w2(client, n) / (n + 1) * 1e3)
        ours.append(suiro_run(w2(n), executor) / (n + 1) * 1e3)
        print(f"  W2 {n}: rep {rep + 1}: raw {raw[-1]:.3f}, suiro {ours[-1]:.3f} ms/task", file=sys.stderr)
    ratio = statistics.median(ours) / statistics.median(raw)
    row(
        f"W2 fan-out {n:,} + gather",
        "ms per task",
        median_range(raw),
        median_range(ours),
        f"{ratio:.2f}x",
    )


def bench_handover(client: Any, executor: Any, reps: int, mb: int = 64) -> None:
    raw, ours = [], []
    for _ in range(reps):
        raw.append(raw_handover(client, mb))
        ours.append(suiro_run(handover, executor, mb=mb))
    ratio = statistics.median(ours) / statistics.median(raw)
    row(
        f"hand-over {mb} MB array",
        "s per two-task run",
        median_range(raw),
        median_range(ours),
        f"{ratio:.2f}x",
    )


def bench_w2b(sizes: list[int], reps: int) -> None:
    """Sequential (plain loop and suiro's sequential executor) against each cluster size, raw and suiro."""
    from distributed import Client

    from suiro.executors.dask import DaskExecutor

    common.warm_ml()
    plain, sequential = [], []
    for _ in range(reps):
        plain.append(common.timed(lambda: [common.train_forest(s) for s in common.W2B_SEEDS])[0])
        sequential.append(suiro_run(w2b, "sequential"))
        print(f"  W2b sequential: plain {plain[-1]:.2f} s, suiro {sequential[-1]:.2f} s", file=sys.stderr)
    row("W2b 3 trainings", "sequential, s", median_range(plain), median_range(sequential), "-")
    for size in sizes:
        executor = DaskExecutor(size)
        client = Client(executor.address, set_as_default=False)
        try:
            raw_w2b(client)  # warm: sklearn imported on every worker (and in suiro's worker processes)
            suiro_run(w2b, executor)
            raw, ours = [], []
            for _ in range(reps):
                raw.append(raw_w2b(client))
                ours.append(suiro_run(w2b, executor))
                print(
                    f"  W2b dask {size} workers: raw {raw[-1]:.2f} s, suiro {ours[-1]:.2f} s", file=sys.stderr
                )
        finally:
            client.close()
            executor.shutdown()
        raw_speedup = statistics.median(plain) / statistics.median(raw)
        speedup = statistics.median(sequential) / statistics.median(ours)
        row(
            "W2b 3 trainings",
            f"{size} Dask workers, s (speedup over sequential)",
            f"{median_range(raw)} ({raw_speedup:.2f}x)",
            f"{median_range(ours)} ({speedup:.2f}x)",
            "-",
        )


def raw_w2b(client: Any) -> float:
    start = time.perf_counter()
    client.gather(client.map(common.train_forest, common.W2B_SEEDS, pure=False))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--w2b-workers", default="2,3")
    parser.add_argument("--skip-w2b", action="store_true")
    args = parser.parse_args()

    from distributed import Client

    from suiro.executors.dask import DaskExecutor
    from suiro.executors.dask.cluster import start_local_cluster

    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f}; {os.cpu_count()} cores", file=sys.stderr)
    cluster = start_local_cluster(args.workers)
    client = Client(cluster, set_as_default=False)
    executor = DaskExecutor(address=cluster.scheduler_address)
    row("workload", "metric", "raw dask.distributed", "suiro on Dask", "suiro / raw")
    row(*["---"] * 5)
    try:
        bench_w2(client, executor, args.n, args.reps)
        bench_handover(client, executor, args.reps)
    finally:
        executor.shutdown()
        client.close()
        cluster.close()
    if not args.skip_w2b:
        bench_w2b([int(s) for s in args.w2b_workers.split(",")], args.reps)
    print(f"load average before {load:.2f}, after {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
