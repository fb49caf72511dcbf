"""The suiro home: one database, one artifact store and the log folders, opened together."""

from __future__ import annotations

from pathlib import Path

from suiro.store.artifacts import ArtifactStore
from suiro.store.damage import file_state, missing_records, screen
from suiro.store.db import Database, database_url, home_dir
from suiro.store.outputs import StoreOutputs
from suiro.store.recorder import QUIET, Recorder


class Store:
    """Everything kept under ``SUIRO_HOME`` (and the database at ``SUIRO_DB``, if set).

    Args:
        home: the folder (default ``$SUIRO_HOME`` or ``./.suiro``).
        url: the database URL (default ``$SUIRO_DB`` or ``<home>/suiro.db``).
        new_records: accept a new, empty database although the home holds outputs or run logs
            whose records are gone (``suiro run --new-records``); by default that is refused.
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
    ):
        self.home = Path(home) if home is not None else home_dir()
        url = url or database_url(self.home)
        self.db = Database.open(url, on_new=None if new_records else lambda: self._refuse_lost_records(url))
        if quick_check and self.db.path is not None:
            screen(self.db.path)
        self.artifacts = ArtifactStore(self.home / "artifacts")

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
        path.mkdir(parents=True, exist_ok=True)
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
