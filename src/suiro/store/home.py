"""The suiro home: one database, one artifact store and the log folders, opened together.

Reading still works when the home cannot be written (disk full, read-only filesystem or
folder): a SQLite reader in WAL mode needs the shared-memory file ``suiro.db-shm``, which the
last process to close the database removes and which then cannot be made again. Only then, and
only when the write-ahead log is empty (so the main file holds every committed record, and no
other process has the database open, or the -shm file would exist), the database is read as an
immutable snapshot; any write through it is refused with one sentence saying why.

Reads of the record go through ``Store.reader``, a second handle on the same database that
cannot write (``Database(url, read_only=True)``), so a read can never change what it reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from suiro.errors import StoreError
from suiro.store.damage import file_state, missing_records, screen
from suiro.store.db import Database, database_url, home_dir
from suiro.store.locations import artifacts_location, open_artifacts
from suiro.store.outputs import StoreOutputs
from suiro.store.recorder import QUIET, Recorder
from suiro.store.revisions import HEAD_REVISION


class Store:
    """Everything kept under ``SUIRO_HOME`` (and the database at ``SUIRO_DB``, if set).

    Args:
        home: the folder (default ``$SUIRO_HOME`` or ``./.suiro``).
        url: the database URL (default ``$SUIRO_DB`` or ``<home>/suiro.db``); the artifacts are at
            ``$SUIRO_ARTIFACTS`` or ``<home>/artifacts`` (``suiro.store.locations``).
        new_records: accept a new, empty database although the home holds outputs or run logs
            whose records are gone (``suiro run --new-records``); by default that is refused.
        artifacts: where the artifacts are (default ``$SUIRO_ARTIFACTS`` or ``<home>/artifacts``).
        quick_check: screen a small SQLite database for damage first (``damage.screen``), so
            that a read missing the damaged page does not answer as if all were well.

    Raises:
        RecordsMissingError: the database has no suiro tables but the home holds outputs or logs.
        DatabaseDamagedError: SQLite finds the database file damaged.
    """

    def __init__(
        self,
        home: str | Path | None = None,
        url: str | None = None,
        *,
        new_records: bool = False,
        quick_check: bool = True,
        artifacts: str | None = None,
    ):
        self.home = Path(home) if home is not None else home_dir()
        url = url or database_url(self.home)
        self.db = _open(url, on_new=None if new_records else lambda: self._refuse_lost_records(url))
        if quick_check and self.db.path is not None and not self.db.read_only_because:
            screen(self.db.path)
        self.artifacts = open_artifacts(artifacts or artifacts_location(self.home))
        self._reader: Database | None = None

    @property
    def reader(self) -> Database:
        """The database opened read-only, for ``queries`` (the same handle when ``db`` is a snapshot)."""
        if self.db.read_only:
            return self.db
        if self._reader is None:
            self._reader = Database(self.db.url, read_only=True)
        return self._reader

    def _refuse_lost_records(self, url: str) -> None:
        """Before a schema is made in a database that has none: not over records that were lost."""
        db = Database(url)  # its path and display name only: nothing is opened
        if db.path is not None:
            where, state = str(db.path), file_state(db.path)
        else:
            where, state = db.display_url, "without suiro's tables"
        lost = missing_records(self.home, where, state)
        if lost is not None:
            raise lost

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

    def recorder(self) -> Recorder:
        """A recorder writing one run's events to the database, committing also when the run goes quiet."""
        return Recorder(self.db, quiet=QUIET)

    def outputs(self, *, parent_run_id: str | None = None, verify: bool = False) -> StoreOutputs:
        """The output store for a run (resuming ``parent_run_id`` if given; ``verify``: re-hash reuses)."""
        return StoreOutputs(self.db, self.artifacts, parent_run_id=parent_run_id, verify=verify)

    def close(self) -> None:
        """Close database connections held by this thread.

        The reader first: the last connection to close is the one that may remove SQLite's
        ``-wal`` and ``-shm`` files, and only a writing one can.
        """
        if self._reader is not None:
            self._reader.close()
        self.db.close()


def _open(url: str, *, on_new: Callable[[], None] | None) -> Database:
    """``Database.open(url)``; if that fails because the folder cannot be written, a read-only snapshot."""
    try:
        return Database.open(url, on_new=on_new)
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
