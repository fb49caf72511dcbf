"""What a test asks SQLite itself about a database: its indexes, and the plan of a statement."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from suiro.store.db import Database


def indexes(path: Path) -> set[str]:
    """The names of the indexes in the SQLite file ``path``."""
    conn = sqlite3.connect(path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def plan(db: Database, sql: str, params: dict) -> str:
    """SQLite's ``EXPLAIN QUERY PLAN`` of ``sql``, its steps joined by `` / ``."""
    return " / ".join(r["detail"] for r in db.query("EXPLAIN QUERY PLAN " + sql, params))
