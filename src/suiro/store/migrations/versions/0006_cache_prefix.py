"""Cache look-ups through a 64-bit prefix of the cache key: an index a third the size.

``ix_task_runs_cache_key`` held every task run's whole cache key (64 hex digits) and ``ended``.
Cache keys are content hashes, so each of a run's commits inserted its keys at random places
in that index and rewrote one of its pages per task once the index outgrew a commit (about
10,000 task runs): written to the write-ahead log and again at its checkpoint. The run's cost
per task grew with the store. ``ix_task_runs_cache_prefix`` keeps the key's first 16 hex digits
(64 bits: a collision, were there one, costs one extra row read, as the look-ups compare the
whole key) and ``ended``, so the look-ups still read newest first and stop after three. At
250,000 task runs a commit writes a third less and its CPU time fell by a third
(``bench/scale.py``). The look-ups' statements use the same expression
(``store.outputs.FIND_ANY``, ``FIND_FRESH``, ``store.reuse.SOURCE``).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index("ix_task_runs_cache_prefix", "task_runs", [sa.text("substr(cache_key, 1, 16)"), "ended"])
    op.drop_index("ix_task_runs_cache_key", "task_runs")


def downgrade() -> None:
    op.create_index("ix_task_runs_cache_key", "task_runs", ["cache_key", "ended"])
    op.drop_index("ix_task_runs_cache_prefix", "task_runs")
