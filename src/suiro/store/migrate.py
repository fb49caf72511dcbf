"""Create or upgrade the database schema, one process at a time.

Only imported when the stored revision is not the current one, so ordinary runs
never load it. An empty SQLite database is brought to the head in one transaction
from ``schema.STATEMENTS`` through the stdlib driver, so a new home never imports
Alembic or SQLAlchemy (~0.55 s); every other case (an older revision, a partial
target, PostgreSQL) goes through Alembic's migrations.
"""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from suiro.errors import StoreError
from suiro.store.revisions import HEAD_REVISION

if TYPE_CHECKING:  # db imports this module (to upgrade on open), never the other way round
    from suiro.store.db import Database

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
        current = db.revision()
        if current == revision:
            return
        if current is None and revision == HEAD_REVISION and _create_at_head(db):
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


def _create_at_head(db: Database) -> bool:
    """Create the head schema in an empty SQLite database without Alembic; False if not applicable.

    Not applicable (nothing is changed) when the database is not SQLite, already holds
    any table, or ``schema.STATEMENTS`` lag behind ``HEAD_REVISION`` (a migration was added
    without its fast-path twin): the caller then runs the migrations. One ``BEGIN
    IMMEDIATE`` transaction holds the statements and the ``alembic_version`` stamp, so a
    crash leaves an empty database, never a half-made one.
    """
    from suiro.store import schema

    if db.path is None or schema.REVISION != HEAD_REVISION:
        return False
    conn = sqlite3.connect(db.path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # as every suiro connection: kept in the file
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            conn.execute("ROLLBACK")
            return False
        try:
            for statement in schema.STATEMENTS:
                conn.execute(statement)
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (schema.REVISION,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return True


def _run_alembic(db: Database, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine().begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    db.engine().dispose()
