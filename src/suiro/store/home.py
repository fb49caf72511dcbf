"""The suiro home: one database, one artifact store and the log folders, opened together.

Reading still works when the home cannot be written (disk full, read-only filesystem or
folder): a SQLite reader in WAL mode needs the shared-memory file ``suiro.db-shm``, which the
last process to close the database removes and which then cannot be made again. Only then, and
only when the write-ahead log is empty (so the main file holds every committed record, and no
other process has the database open, or the -shm file would exist), the database is read as an
immutable snapshot; any write through it is refused with one sentence saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

from suiro.errors import StoreError
from suiro.store.artifacts import ArtifactStore
from suiro.store.db import HEAD_REVISION, Database, database_url, home_dir
from suiro.store.outputs import StoreOutputs
from suiro.store.recorder import QUIET, Recorder


class Store:
    """Everything kept under ``SUIRO_HOME`` (and the database at ``SUIRO_DB``, if set).

    Args:
        home: the folder (default ``$SUIRO_HOME`` or ``./.suiro``).
        url: the database URL (default ``$SUIRO_DB`` or ``<home>/suiro.db``).
    """

    def __init__(self, home: str | Path | None = None, url: str | None = None):
        self.home = Path(home) if home is not None else home_dir()
        self.db = _open(url or database_url(self.home))
        self.artifacts = ArtifactStore(self.home / "artifacts")

    def log_dir(self, run_id: str) -> Path:
        """The folder of a run's per-attempt log files (created)."""
        path = self.home / "logs" / run_id
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the log folder {path} ({exc.strerror}); nothing was run; free disk "
                "space or make the folder writable, then retry."
            ) from exc
        return path

    def recorder(self, run_id: str) -> Recorder:
        """A recorder writing one run's events to the database, committing also when the run goes quiet."""
        return Recorder(self.db, log_dir=str(self.log_dir(run_id)), quiet=QUIET)

    def outputs(self, *, parent_run_id: str | None = None, verify: bool = False) -> StoreOutputs:
        """The output store for a run (resuming ``parent_run_id`` if given; ``verify``: re-hash reuses)."""
        return StoreOutputs(self.db, self.artifacts, parent_run_id=parent_run_id, verify=verify)

    def close(self) -> None:
        """Close database connections held by this thread."""
        self.db.close()


def _open(url: str) -> Database:
    """``Database.open(url)``; if that fails because the folder cannot be written, a read-only snapshot."""
    try:
        return Database.open(url)
    except StoreError:
        snapshot = _snapshot(url)
        if snapshot is None:
            raise
        return snapshot


def _snapshot(url: str) -> Database | None:
    """The SQLite database at ``url`` opened as an immutable snapshot, if that is safe and needed."""
    db = Database(url)
    if db.path is None or not db.path.is_file():
        return None
    why = read_only_reason(db.path.parent)
    wal = db.path.with_name(db.path.name + "-wal")
    if why is None or (wal.exists() and wal.stat().st_size > 0):
        return None  # writable after all (another cause), or records only the log holds
    db = Database(url, read_only_because=why)
    try:
        current = db.revision() == HEAD_REVISION
    except Exception:  # unreadable as well: the first error says more
        current = False
    if not current:
        db.close()
        return None
    return db


def read_only_reason(folder: Path) -> str | None:
    """Why nothing can be created in ``folder`` ("its disk is full", ...), or None if it can be.

    "Full" is under 64 KiB available: SQLite needs 32 KiB for its shared-memory file.
    """
    try:
        info = os.statvfs(folder)
    except OSError:
        return None
    if info.f_flag & os.ST_RDONLY:
        return "its filesystem is read-only"
    if info.f_bavail * info.f_frsize < 64 * 1024:
        return "its disk is full"
    if not os.access(folder, os.W_OK):
        return "its folder is not writable"
    return None
