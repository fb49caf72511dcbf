"""R15: the Dask executor when a worker dies, on a ``LocalCluster`` the executor starts itself.

Two worker processes on 127.0.0.1. (a) A worker is SIGKILLed while it runs a task: the task ends
as an infra failure and runs again per suiro's policy (``infra_retries``), and the tasks whose
outputs were committed before are not run again. (b) A worker is killed after tasks finished on
it: nothing is recomputed, since suiro released every Dask future once it had the outcome (the
scheduler holds no key) and downstream tasks read their inputs from the artifact store. The cluster
listens on loopback only. Skipped without ``suiro[dask]``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from pipelines.dask_cluster import release_threads

import suiro
from suiro import RunState, TaskState, context, pipeline, task, unmapped
from suiro.executors import make_executor

pytest.importorskip("distributed")

LOOPBACK = ("127.0.0.1", "::1")


@pytest.fixture(scope="module")
def executor() -> Iterator[Any]:
    """The executor with the ``LocalCluster`` it starts (no address): shared by this module's tests."""
    saved = os.environ.pop("SUIRO_DASK_ADDRESS", None)
    try:
        ex = make_executor("dask", 2)
    finally:
        if saved is not None:
            os.environ["SUIRO_DASK_ADDRESS"] = saved
    yield ex
    ex.shutdown()
    release_threads()


def worker_pids(ex: Any) -> list[int]:
    """The pids of the cluster's two workers (once a killed one is back)."""
    ex._client.wait_for_workers(2, timeout=30)
    return sorted(ex._client.run(os.getpid).values())


def note(folder: str, what: str) -> None:
    """One line per execution (appended whole), to count what ran."""
    with open(Path(folder, "executions.log"), "a") as handle:
        handle.write(f"{what}\n")


@task
def produce(i: int, folder: str) -> int:
    note(folder, f"produce {i}")
    return i * 10


@task
def victim(made: list[int], folder: str) -> int:
    """Attempt 1 says which Dask worker runs it, then waits to be killed with it; attempt 2 returns."""
    attempt = context().attempt
    note(folder, f"victim {attempt}")
    if attempt == 1:
        Path(folder, "victim.tmp").write_text(f"{os.getppid()} {os.getpid()}")
        os.replace(Path(folder, "victim.tmp"), Path(folder, "victim.pids"))
        time.sleep(30)
    return sum(made)


@task
def kill_other_worker(made: list[int], folder: str, pids: list[int]) -> int:
    """Kill the Dask worker that is not this task's (tasks finished on it before), wait for it to go."""
    note(folder, "kill")
    (other,) = [pid for pid in pids if pid != os.getppid()]
    os.kill(other, signal.SIGKILL)
    psutil.Process(other).wait(10) if psutil.pid_exists(other) else None
    return other


@task
def consume(made: list[int], killed: int, folder: str) -> int:
    note(folder, "consume")
    return sum(made) + 1


@pipeline
def killed_mid_task(folder: str):
    return victim(produce.map([0, 1, 2, 3], folder=unmapped(folder)), folder)


@pipeline
def killed_after(folder: str, pids: list[int]):
    made = produce.map([0, 1, 2, 3], folder=unmapped(folder))
    return consume(made, kill_other_worker(made, folder, pids), folder)


def executions(folder: Path) -> list[str]:
    return sorted((folder / "executions.log").read_text().splitlines())


def attempts(home: Path, key: str) -> list[tuple[int, int, str]]:
    with sqlite3.connect(home / "suiro.db") as db:
        return db.execute(
            "SELECT map_index, attempt, state FROM attempts WHERE task_key = ? ORDER BY map_index, attempt",
            (key,),
        ).fetchall()


def is_gone(pid: int, grace: float = 5.0) -> bool:
    deadline = time.monotonic() + grace
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def keys_held(ex: Any) -> list[str]:
    return ex._client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])


def test_the_cluster_suiro_starts_listens_on_loopback_only(executor):
    me = psutil.Process()
    processes = [me, *me.children(recursive=True)]
    assert len(worker_pids(executor)) == 2
    listening = [
        (p.pid, c.laddr.ip)
        for p in processes
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert len(listening) >= 5, "the scheduler and two nannies here, two workers"
    assert {ip for _, ip in listening} <= set(LOOPBACK), listening


def test_a_worker_killed_mid_task_reruns_only_that_task(executor, tmp_path, suiro_home):
    killed: list[tuple[int, int]] = []

    def kill_when_running() -> None:
        pids = tmp_path / "victim.pids"
        deadline = time.monotonic() + 30
        while not pids.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        worker, child = map(int, pids.read_text().split())
        os.kill(worker, signal.SIGKILL)
        killed.append((worker, child))

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    started = time.monotonic()
    result = suiro.run(killed_mid_task, params={"folder": str(tmp_path)}, executor=executor)
    killer.join()

    assert time.monotonic() - started < 25, "the killed attempt was not waited for"
    assert result.state is RunState.SUCCESS, result.error
    assert result.output == 60
    task_result = result.tasks["victim"]
    assert (task_result.state, task_result.attempts) == (TaskState.SUCCESS, 2)
    (error,) = task_result.errors
    assert (error.type, error.infra) == ("suiro.errors.WorkerCrashedError", True)
    assert error.message.startswith(
        "the Dask worker running task victim died before it finished (KilledWorker"
    )
    assert executions(tmp_path) == [
        "produce 0",
        "produce 1",
        "produce 2",
        "produce 3",
        "victim 1",
        "victim 2",
    ]
    assert attempts(suiro_home, "produce") == [(i, 1, "success") for i in range(4)]
    assert attempts(suiro_home, "victim") == [(-1, 1, "retrying"), (-1, 2, "success")]
    (worker, child) = killed[0]
    assert not psutil.pid_exists(worker)
    assert is_gone(child), "the task's process died with its worker"
    assert keys_held(executor) == [], "suiro released every Dask future"


def test_a_worker_killed_after_its_tasks_finished_recomputes_nothing(executor, tmp_path, suiro_home):
    pids = worker_pids(executor)
    result = suiro.run(killed_after, params={"folder": str(tmp_path), "pids": pids}, executor=executor)

    assert result.state is RunState.SUCCESS, result.error
    assert result.output == 61
    after = worker_pids(executor)
    assert len(set(pids) & set(after)) == 1, "one worker was killed (its nanny started another)"
    assert executions(tmp_path) == ["consume", "kill", "produce 0", "produce 1", "produce 2", "produce 3"]
    assert attempts(suiro_home, "produce") == [(i, 1, "success") for i in range(4)]
    assert all(t.errors == [] for t in result.tasks.values())
    assert keys_held(executor) == []
