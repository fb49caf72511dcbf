"""What the reliability tests share: a ledgered pipeline and read-only probes of a suiro home.

``DIAMOND`` is written into each test's folder and run through the CLI or the Python API. Every
task body appends ``task run_id attempt pid time task_run_key`` to the file named by
``$REL_LEDGER`` with one ``O_APPEND`` write: the ground truth of what really ran, kept outside
suiro's control. Outputs of
``load``, ``left`` and ``right`` are over the inline limit, so each is a file in the artifact store
(and passes every artifact fault point); ``join`` returns a short string kept inline. ``load``
takes 0.1 s, so the runner commits what it buffered while waiting for it: the second database
commit of a run always falls mid-run.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import sqlite3
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.cli_harness import Cli

LEDGER_ENV = "REL_LEDGER"

DIAMOND = """
import os
import time

from suiro import context, pipeline, task


def mark(name):
    path = os.environ.get("REL_LEDGER")
    if path:
        ctx = context()
        fields = [name, ctx.run_id, ctx.attempt, os.getpid(), f"{time.time():.6f}", ctx.task_run_key]
        line = " ".join(map(str, fields)) + "\\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


@task
def load(n: int) -> str:
    mark("load")
    time.sleep(0.1)  # past the recorder's commit interval, so what is buffered is committed mid-run
    return "L" * n


@task
def left(x: str, k: int) -> str:
    mark("left")
    return x.lower() * k


@task
def right(x: str) -> str:
    mark("right")
    return x[::-1] + "R"


@task
def join(a: str, b: str, label: str) -> str:
    mark("join")
    return f"{label}/{len(a)}/{len(b)}/{a[:3]}{b[-3:]}"


@pipeline
def diamond(n: int = 20000, k: int = 1, label: str = "x"):
    x = load(n)
    return join(left(x, k), right(x), label)
"""
#: Tasks of ``DIAMOND`` whose output is a file in the store.
FILE_TASKS = ("load", "left", "right")
TASKS = (*FILE_TASKS, "join")


@dataclass(frozen=True)
class Entry:
    """One line of the ledger: one execution of a task body."""

    task: str
    run_id: str
    attempt: int
    pid: int
    time: float
    #: ``suiro.context().task_run_key``, the idempotency key suiro gives the task.
    key: str = ""


def write_diamond(folder: Path) -> Path:
    """Write ``DIAMOND`` to ``folder/diamond.py`` and return its path."""
    path = folder / "diamond.py"
    path.write_text(textwrap.dedent(DIAMOND).lstrip(), encoding="utf-8")
    return path


@functools.cache
def clean_digests(**params: Any) -> dict[str, str]:
    """Output digest of each diamond task in a run without faults (once per session and params)."""
    from suiro import api

    folder = Path(tempfile.mkdtemp(prefix="rel-clean-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    source = str(write_diamond(folder))
    result = api.run(source, params=params, executor="sequential", home=folder / "home")
    assert result.ok, result.error
    return output_digests(folder / "home", result.run_id)


def read_ledger(path: Path) -> list[Entry]:
    """Every execution recorded in the ledger, in order (nothing if it does not exist)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        task, run_id, attempt, pid, at, *key = line.split()
        entries.append(Entry(task, run_id, int(attempt), int(pid), float(at), *key))
    return entries


def rows(home: Path, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """Rows of a read statement on the home's database, through a plain sqlite3 connection."""
    conn = sqlite3.connect(home / "suiro.db", timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def task_states(home: Path, run_id: str) -> dict[str, str]:
    """State of each (unmapped) task run of ``run_id``."""
    found = rows(home, "SELECT task_key, state FROM task_runs WHERE run_id = ? AND map_index = -1", (run_id,))
    return {r["task_key"]: r["state"] for r in found}


def kept_inline(home: Path, run_id: str, task_key: str, digest: str) -> bytes | None:
    """The bytes of a task's small output kept in the database: on its task run's row (migration
    0007), else in its ``artifacts`` row, which must exist; None for an object in the store."""
    (row,) = rows(
        home,
        "SELECT output_inline FROM task_runs WHERE run_id = ? AND task_key = ? AND map_index = -1",
        (run_id, task_key),
    )
    if row["output_inline"] is not None:
        return row["output_inline"]
    (meta,) = rows(home, "SELECT inline FROM artifacts WHERE digest = ?", (digest,))
    return meta["inline"]


def output_digests(home: Path, run_id: str) -> dict[str, str]:
    """Output digest of each (unmapped) task run of ``run_id`` that has one."""
    found = rows(
        home,
        "SELECT task_key, output_digest FROM task_runs WHERE run_id = ? AND map_index = -1"
        " AND output_digest IS NOT NULL",
        (run_id,),
    )
    return {r["task_key"]: r["output_digest"] for r in found}


def run_ids(home: Path) -> list[str]:
    """Every run id, oldest first."""
    return [r["id"] for r in rows(home, "SELECT id FROM runs ORDER BY started")]


def objects(home: Path) -> dict[str, Path]:
    """Every entry under ``artifacts/objects`` by the digest its path names."""
    root = home / "artifacts" / "objects"
    if not root.exists():
        return {}
    return {p.parent.name + p.name: p for p in root.glob("*/*")}


def temp_files(home: Path) -> list[Path]:
    """Files left in the artifact store's temp folder."""
    folder = home / "artifacts" / "tmp"
    return sorted(folder.iterdir()) if folder.exists() else []


def live_children(pid: int | None = None) -> set[int]:
    """Pids of the live (not zombie) direct children of ``pid`` (default: this process), from /proc."""
    parent = os.getpid() if pid is None else pid
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def resume_and_compare(cli: Cli, env: dict[str, str], run_id: str, clean: dict[str, str]) -> str:
    """Resume ``run_id``; assert it succeeds with the clean run's outputs and a clean store."""
    from suiro import history

    done_before = {k for k, s in task_states(cli.home, run_id).items() if s in ("success", "cached")}
    cli.ok("resume", run_id, env=env)
    (resumed,) = [r["id"] for r in rows(cli.home, "SELECT id FROM runs WHERE parent_run_id = ?", (run_id,))]
    assert output_digests(cli.home, resumed) == clean
    assert set(task_states(cli.home, resumed).values()) <= {"success", "cached"}
    rerun = {e.task for e in read_ledger(Path(env["REL_LEDGER"])) if e.run_id == resumed}
    assert not rerun & done_before, f"resume re-ran {rerun & done_before}, recorded as done before the crash"
    assert history.check(home=cli.home) == []
    return resumed


def write_locked(home: Path) -> bool:
    """Whether some connection holds the database's write lock right now."""
    conn = sqlite3.connect(home / "suiro.db", timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()
