"""Create or upgrade the database schema with Alembic, one process at a time.

Only imported when the stored revision is not the current one, so ordinary runs
never load Alembic or SQLAlchemy.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from suiro.errors import StoreError
from suiro.store.db import HEAD_REVISION, Database

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade_schema(db: Database, revision: str = HEAD_REVISION) -> None:
    """Bring the schema to ``revision``; another process doing the same waits for it.

    Raises:
        StoreError: the migration failed (the database is left at its last good revision).
    """
    lock_path = (db.path.parent / ".migrate.lock") if db.path is not None else None
    lock = open(lock_path, "w") if lock_path else None  # noqa: SIM115 - held for the whole migration
    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if db.revision() == revision:
            return
        _run_alembic(db, revision)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"could not bring the database {db.display_url} to schema {revision}: {exc}; "
            "it is unchanged past its last completed step."
        ) from exc
    finally:
        if lock is not None:
            lock.close()


def _run_alembic(db: Database, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine().begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    db.engine().dispose()
