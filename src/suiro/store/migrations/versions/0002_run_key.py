"""Runs get an optional idempotency key (one run per key) and record their error.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("run_key", sa.Text))
        batch.add_column(sa.Column("error", sa.Text))
    op.create_index("ux_runs_run_key", "runs", ["run_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_runs_run_key", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("error")
        batch.drop_column("run_key")
