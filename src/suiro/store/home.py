"""The suiro home: one database, one artifact store and the log folders, opened together."""

from __future__ import annotations

from pathlib import Path

from suiro.store.artifacts import ArtifactStore
from suiro.store.db import Database, database_url, home_dir
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
        self.db = Database.open(url or database_url(self.home))
        self.artifacts = ArtifactStore(self.home / "artifacts")

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
