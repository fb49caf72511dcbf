"""Who a run is: its ``RunInfo``, and the one place a run id is minted.

``RunInfo`` is fixed before a run starts: the API builds it, the runner and each attempt carry
it whole, and the path of every attempt's log file is derived from it here (the runner puts
that path in the attempt's events; the recorder only copies it).

Imports only ``suiro.labels``, so the executors and the store can use it too. Does no I/O
(``RunInfo.log_path`` only joins names).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from suiro.labels import log_name


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """A run's identity and where it records, fixed before it starts.

    Attributes:
        run_id: the run's id.
        parent_run_id: the run this one resumes (None for a first run).
        root_run_id: the first run of the resume chain (None: this run is the first); tasks
            build idempotency keys from it (``TaskContext.task_run_key``).
        target: how to load the pipeline again (``file.py:name``), recorded for resume.
        home: the suiro home the run records into, told to tasks (None: kept in memory).
        log_dir: the folder of the run's per-attempt log files (None: lines are not written).
    """

    run_id: str
    parent_run_id: str | None = None
    root_run_id: str | None = None
    target: str | None = None
    home: str | None = None
    log_dir: str | None = None

    def log_path(self, task_key: str, map_index: int, attempt: int) -> str | None:
        """Where the lines of one attempt go; None without a log folder or before any attempt."""
        if self.log_dir is None or attempt < 1:
            return None
        return os.path.join(self.log_dir, log_name(task_key, map_index, attempt))


def new_run_id() -> str:
    """A short, sortable-enough, unique run id: ``YYYYMMDD-HHMMSS-xxxxxx``.

    Six random hex digits, as ``uuid4().hex[:6]`` gave, read from ``os.urandom`` directly: importing
    ``uuid`` (and the ``platform`` module it loads) cost a fresh process ~2 ms on every run.
    """
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()
