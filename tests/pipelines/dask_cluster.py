"""The Dask cluster the tests share, in a process of its own, and what a Dask test leaves behind.

The cluster runs in a subprocess: its event loop, nannies and threads stay out of the test process,
so the tests after it still run there with only the main thread, and the processes executor still
forks its workers (it does only from a single-threaded process). A client in the test process
starts one more thread, ``distributed``'s "Dask-Offload" pool, kept for the process's life:
``release_threads`` ends it after a Dask test (a fresh pool starts its thread when next used).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

#: Started with ``python -c``: the cluster (two workers, the first with a GPU), its address on
#: stdout, then it lives until its stdin closes.
_SERVE = """
import sys
from suiro.executors.dask.cluster import start_local_cluster

memory = 2 * 1024**3
offers = [{"CPU": 1, "GPU": 1, "MEMORY": memory}, {"CPU": 1, "MEMORY": memory}]
cluster = start_local_cluster(2, resources=offers)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()
cluster.close()
"""


@dataclass
class SharedCluster:
    """A Dask cluster in a subprocess; ``scheduler_address`` is where to reach it."""

    scheduler_address: str
    process: subprocess.Popen[str]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_shared_cluster() -> SharedCluster:
    """Start the cluster (its workers import what the tests import: this process's ``sys.path``)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p)}
    env.pop("SUIRO_DASK_ADDRESS", None)
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    address = process.stdout.readline().strip()
    if not address:
        process.kill()
        raise RuntimeError("the shared Dask cluster did not start")
    return SharedCluster(address, process)


def release_threads() -> None:
    """End ``distributed``'s offload thread, which a client starts and keeps (see the module doc)."""
    utils = sys.modules.get("distributed.utils")
    if utils is None or not any(t.name.startswith("Dask-Offload") for t in threading.enumerate()):
        return
    old = utils._offload_executor
    utils._offload_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="Dask-Offload")
    old.shutdown(wait=True)
