"""A small output is kept on its task run's row, not in a row of ``artifacts`` keyed by its digest.

A JSON output of at most 16 KiB was stored inline in ``artifacts``, whose primary key is the
output's sha256: every task added a key at a random place in that index, so once the index
outgrew a commit each task rewrote a page of it (in the write-ahead log, then at the checkpoint)
and a run's cost per task grew with the store (1,000,000 no-op tasks: +24 % CPU per task over
100,000). Such an output is now ``task_runs.output_inline`` with its type in ``output_kind``
(its digest stays in ``output_digest``; its serializer is JSON, its size its length). A mapped
task's manifest lists its items by digest as before; ``artifacts.items`` keeps, in the same
order, the type and bytes of each item kept inline, so a manifest is read without a look-up by
digest per item. Rows written before this revision keep their ``artifacts`` rows and are read
as before.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column("task_runs", sa.Column("output_kind", sa.Text))
    op.add_column("task_runs", sa.Column("output_inline", sa.LargeBinary))
    op.add_column("artifacts", sa.Column("items", sa.LargeBinary))


def downgrade() -> None:
    # DROP COLUMN itself (SQLite 3.35+, PostgreSQL): a batch copy of task_runs would lose 0006's
    # expression index. Outputs kept only on a row are lost with it: downgrade a copy.
    op.execute("ALTER TABLE artifacts DROP COLUMN items")
    op.execute("ALTER TABLE task_runs DROP COLUMN output_inline")
    op.execute("ALTER TABLE task_runs DROP COLUMN output_kind")
