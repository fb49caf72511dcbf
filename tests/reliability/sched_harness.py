"""What the scheduler tests share: a ledgered pipeline, deployments saved directly, and probes.

``TICKING`` is written into each test's folder. Its one task appends
``run_id deployment logical_time start end pid`` to ``$SCHED_LEDGER`` with one ``O_APPEND`` write
when it ends: the ground truth of which runs really executed, and when (for overlap counts),
kept outside suiro's control.
"""

from __future__ import annotations

import os
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suiro.schedules import Schedule
from suiro.store import deployments
from suiro.store.db import Database
from suiro.store.deployments import DeploymentRow

LEDGER_ENV = "SCHED_LEDGER"

TICKING = """
import os
import time

from suiro import context, pipeline, task


@task(cache=False)  # every scheduled run executes it (the ledger counts executions)
def work(label: str, pause: float) -> str:
    ctx = context()
    start = time.time()
    time.sleep(pause)
    path = os.environ.get("SCHED_LEDGER")
    if path:
        logical = ctx.logical_time.timestamp() if ctx.logical_time is not None else -1.0
        ended = time.time()
        fields = [ctx.run_id, ctx.deployment, f"{logical:.3f}", f"{start:.6f}", f"{ended:.6f}", os.getpid()]
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (" ".join(map(str, fields)) + "\\n").encode())
        finally:
            os.close(fd)
    return label


@pipeline
def ticking(label: str = "x", pause: float = 0.0):
    return work(label, pause)
"""


@dataclass(frozen=True)
class Ran:
    """One line of the ledger: one execution of the task."""

    run_id: str
    deployment: str
    logical_time: float
    start: float
    end: float
    pid: int


def write_ticking(folder: Path) -> str:
    """Write ``TICKING`` to ``folder/ticking.py``; the deployment target for it."""
    path = folder / "ticking.py"
    path.write_text(textwrap.dedent(TICKING).lstrip(), encoding="utf-8")
    return f"{path}:ticking"


def deploy(db: Database, name: str, target: str, spec: Any = "0 * * * *", **fields: Any) -> DeploymentRow:
    """Save deployment ``name`` of ``target`` on schedule ``spec`` (None: unscheduled) directly."""
    schedule = Schedule.parse(spec).to_json() if spec is not None else None
    row = DeploymentRow(name=name, target=target, pipeline="ticking", schedule=schedule, **fields)
    deployments.save(db, row)
    return row


def read_ledger(path: Path) -> list[Ran]:
    """Every execution the ledger recorded (nothing if it does not exist)."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        run_id, deployment, logical, start, end, pid = line.split()
        found.append(Ran(run_id, deployment, float(logical), float(start), float(end), int(pid)))
    return found


def most_at_once(ran: list[Ran]) -> int:
    """The largest number of executions that overlapped in time."""
    edges = sorted([(r.start, 1) for r in ran] + [(r.end, -1) for r in ran])
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


def duplicates(db: Database) -> list[dict[str, Any]]:
    """(deployment, logical time) pairs with more than one tick or more than one run: must be none."""
    return db.query(
        "SELECT deployment, logical_time, count(*) AS n FROM ticks GROUP BY deployment, logical_time"
        " HAVING count(*) > 1 UNION ALL SELECT deployment, logical_time, count(*) AS n FROM runs"
        " WHERE deployment IS NOT NULL AND parent_run_id IS NULL GROUP BY deployment, logical_time"
        " HAVING count(*) > 1"
    )


def wait_for(predicate: Any, timeout: float = 20.0, every: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {predicate}"
        time.sleep(every)


def env_with_ledger(ledger: Path) -> dict[str, str]:
    return {**os.environ, LEDGER_ENV: str(ledger)}
