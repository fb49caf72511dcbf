"""Indexes for the web UI on a store with years of history (issue 14's benchmark, ``bench/ui.py``).

- ``ix_runs_started``: the runs list, newest first, reads 50 index entries instead of sorting
  every run (the first page and every page after it).
  Filters (pipeline, state, dates, parameters) are checked along that index: a page of a
  common state costs a few hundred entries, a rare one at most one pass over the runs.
- ``ix_runs_parent``: a run's resumes (``resume_conflict``, the run page's "resumed by").
- ``ix_metrics_name_run``: a metric across runs (sorting and filtering the runs list by a metric,
  a pipeline's metric chart) reads that metric's entries only; the row id in the index gives
  each run's latest value of it without reading the table.
- ``ix_metrics_name_value``: the runs list sorted by a metric walks that metric's values in
  order and stops after the page (a page costs its own rows, not a sort of every run's value);
  a metric's range filter reads only the values in the range.

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_index("ix_runs_started", "runs", ["started"])
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"])
    op.create_index("ix_metrics_name_run", "metrics", ["name", "run_id"])
    op.create_index("ix_metrics_name_value", "metrics", ["name", "value"])


def downgrade() -> None:
    op.drop_index("ix_metrics_name_value", "metrics")
    op.drop_index("ix_metrics_name_run", "metrics")
    op.drop_index("ix_runs_parent", "runs")
    op.drop_index("ix_runs_started", "runs")
