"""Tasks that fail, hang or crash on purpose, for retry, timeout and crash tests.

Behaviour depends only on arguments and ``suiro.context().attempt``, so these work the
same on every executor, in worker processes too. Tests adjust options with
``task.with_options(...)``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from suiro import context, pipeline, task


@task(retries=2, retry_on=(ConnectionError,))
def flaky(fail_times: int) -> int:
    """Raise ConnectionError on the first ``fail_times`` attempts, then return the attempt number."""
    attempt = context().attempt
    if attempt <= fail_times:
        raise ConnectionError(f"attempt {attempt} of flaky failed on purpose")
    return attempt


@task(retries=3, retry_on=(ConnectionError,))
def wrong(x: int) -> int:
    """Raise an error that is not in ``retry_on``."""
    raise ValueError(f"bad input {x}")


@task
def steady(x: int) -> int:
    return x


@task
def pause(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task(timeout=0.5)
def sleepy(pid_dir: str, seconds: float = 30.0) -> str:
    """Write this process's pid to ``pid_dir/attempt-N.pid``, then sleep far past the timeout."""
    Path(pid_dir, f"attempt-{context().attempt}.pid").write_text(str(os.getpid()))
    time.sleep(seconds)
    return "woke up"


@task(retries=1)
def crash_once(parent_pid: int) -> int:
    """Kill the worker process on the first attempt (exit code 3); return its pid after that."""
    if context().attempt == 1:
        if os.getpid() == parent_pid:
            raise RuntimeError("crash_once must run in a worker process, not in the test process")
        os._exit(3)
    return os.getpid()


@pipeline
def flaky_pipeline(fail_times: int = 1):
    first = flaky(fail_times)
    return {"flaky": first, "steady": steady(first), "other": steady(7)}
