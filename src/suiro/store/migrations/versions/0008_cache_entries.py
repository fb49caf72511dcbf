"""The cache index becomes its own table, listed in bulk: ``cache_entries``.

``ix_task_runs_cache_prefix`` (0006) was maintained as each batch of task runs was committed,
every 50 ms: a cache key is a content hash, so each task added an entry at a random place and,
once the index outgrew a commit, rewrote one of its pages (in the write-ahead log, then at the
checkpoint). At 1,000,000 task runs that was most of what a task wrote, and the cost per task
grew with the store. ``cache_entries`` holds an entry per task run a cache look-up may find —
the key's first 64 bits as a signed integer, when the task run ended, its row id — written by the
recorder in bulk and in key order (``suiro.store.cache_index``). The entries of the task runs
recorded so far are made here, in key order.

Revision ID: 0008
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

#: The task runs a look-up may find (as ``suiro.store.cache_index.list_run`` reads them today).
_LISTABLE = (
    "SELECT id, cache_key, ended FROM task_runs WHERE state IN ('success', 'cached')"
    " AND output_digest IS NOT NULL AND cache_key IS NOT NULL AND ended IS NOT NULL"
)


def _prefix(key: str) -> int:
    """A key's first 16 hex digits as a signed 64-bit integer (of its sha256 if it is not hex), as
    ``suiro.store.cache_index.prefix`` says today."""
    try:
        return int(key[:16], 16) - (1 << 63)
    except ValueError:
        return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) - (1 << 63)


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("prefix", sa.BigInteger, nullable=False),
        sa.Column("ended", sa.Float, nullable=False),
        sa.Column("task_run", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("prefix", "ended", "task_run"),
        sa.ForeignKeyConstraint(["task_run"], ["task_runs.id"]),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    entries = sorted((_prefix(key), ended, id_) for id_, key, ended in conn.execute(sa.text(_LISTABLE)))
    if entries:
        conn.execute(
            sa.text("INSERT INTO cache_entries (prefix, ended, task_run) VALUES (:p, :e, :t)"),
            [{"p": p, "e": e, "t": t} for p, e, t in entries],
        )
    op.drop_index("ix_task_runs_cache_prefix", "task_runs")


def downgrade() -> None:
    op.create_index("ix_task_runs_cache_prefix", "task_runs", [sa.text("substr(cache_key, 1, 16)"), "ended"])
    op.drop_table("cache_entries")
