"""What only the Dask executor does: worker resources, Dask's own retries off, outputs left on the
workers' side. The executor conformance suite covers the rest, on the same session cluster, whose
first worker offers a ``GPU`` (see ``dask_cluster`` in ``tests/conftest.py``).
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

import suiro
from suiro import RunState, TaskState, pipeline, task

pytest.importorskip("distributed")
from distributed import Client


@task(resources={"gpu": 1})
def on_gpu(i: int, folder: str) -> int:
    """Note which Dask worker ran this item (the parent of the suiro process) and when."""
    start = time.time()
    time.sleep(0.2)
    Path(folder, f"gpu-{i}").write_text(f"{os.getppid()} {start} {time.time()}")
    return i


@task
def anywhere(i: int, folder: str) -> int:
    Path(folder, f"any-{i}").write_text(str(os.getppid()))
    return i


@pipeline
def gpu_and_not(folder: str):
    return {"gpu": on_gpu.map([0, 1], folder=suiro.unmapped(folder)), "cpu": anywhere(0, folder)}


def test_a_task_needing_a_gpu_waits_for_the_worker_that_has_one(dask_address, dask_cluster, tmp_path):
    result = suiro.run(gpu_and_not, params={"folder": str(tmp_path)}, executor="dask", workers=3)

    assert result.state is RunState.SUCCESS, result.error
    assert result.output == {"gpu": [0, 1], "cpu": 0}
    with Client(dask_address, set_as_default=False) as client:
        pids = client.run(os.getpid)
        gpu_worker = next(
            pids[address]
            for address, info in client.scheduler_info()["workers"].items()
            if info["resources"].get("GPU")
        )
    runs = [tuple(map(float, (tmp_path / f"gpu-{i}").read_text().split())) for i in range(2)]
    assert {int(pid) for pid, _, _ in runs} == {gpu_worker}, "both items ran on the GPU worker"
    (_, start0, end0), (_, start1, end1) = runs
    assert end0 <= start1 or end1 <= start0, "one GPU: the second item waited for the first"


@task(resources={"memory": "64GB"})
def too_big() -> int:
    return 1


def test_a_task_no_worker_can_ever_run_fails_at_once_naming_what_it_needs(dask_address):
    @pipeline
    def needs_too_much():
        return too_big()

    started = time.monotonic()
    result = suiro.run(needs_too_much, executor="dask", workers=2)

    assert time.monotonic() - started < 10, "failed at once, did not wait for a worker forever"
    task_result = result.tasks["too_big"]
    assert (task_result.state, task_result.attempts) == (TaskState.FAILED, 1)
    (error,) = task_result.errors
    assert error.type == "suiro.errors.ClusterError" and not error.retryable
    assert error.message.startswith(f"task too_big cannot run on the Dask cluster at {dask_address}: ")
    assert (
        "it needs memory 64GB and no worker of the cluster's 2 offers that (at most memory " in error.message
    )
    assert 'dask worker --resources (e.g. "GPU=1")' in error.message


@task
def stamp(i: int, folder: str) -> int:
    start = time.time()
    time.sleep(0.05)
    Path(folder, f"stamp-{i}").write_text(f"{start} {time.time()}")
    return i


def test_max_concurrency_holds_although_many_attempts_are_queued_at_the_cluster(dask_address, tmp_path):
    @pipeline
    def one_at_a_time(folder: str):
        return stamp.map([0, 1, 2, 3], folder=suiro.unmapped(folder), max_concurrency=1)

    # No workers given: suiro queues up to 32 attempts per worker thread at the scheduler.
    result = suiro.run(one_at_a_time, params={"folder": str(tmp_path)}, executor="dask")

    assert result.state is RunState.SUCCESS and result.output == [0, 1, 2, 3]
    spans = sorted(tuple(map(float, p.read_text().split())) for p in tmp_path.glob("stamp-*"))
    assert len(spans) == 4
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
