"""A metric's value may be NULL: a NaN a task logged (a diverged loss, a score of an empty fold).

SQLite stores a NaN bound to a REAL column as NULL, so ``metrics.value FLOAT NOT NULL`` refused
it, and the refusal stopped the run's recorder: the run ended ``crashed`` with its later tasks
unrecorded, and each resume failed the same way. NULL now stands for NaN on every database (the
recorder writes NaN as NULL on PostgreSQL too, so readers see one form); readers show it as
``nan`` (CLI) or ``null`` (JSON). SQLite cannot drop a NOT NULL in place: the table is rebuilt.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("metrics") as batch:
        batch.alter_column("value", existing_type=sa.Float, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM metrics WHERE value IS NULL")
    with op.batch_alter_table("metrics") as batch:
        batch.alter_column("value", existing_type=sa.Float, nullable=False)
