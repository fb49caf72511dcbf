"""The first schema: pipelines, runs, task runs, attempts, metrics, artifacts.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("code_digest", sa.Text, nullable=False),
        sa.Column("graph", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("name", "code_digest"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("pipeline_id", sa.Integer, sa.ForeignKey("pipelines.id")),
        sa.Column("pipeline", sa.Text, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("ended", sa.Float),
        sa.Column("host", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.Column("heartbeat", sa.Float),
        sa.Column("parent_run_id", sa.Text),
        sa.Column("executor", sa.Text),
    )
    op.create_index("ix_runs_pipeline_started", "runs", ["pipeline", "started"])
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_table(
        "task_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("task_key", sa.Text, nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started", sa.Float),
        sa.Column("ended", sa.Float),
        sa.Column("duration", sa.Float),
        sa.Column("map_size", sa.Integer),
        sa.Column("cache_key", sa.Text),
        sa.Column("cache_parts", sa.Text),
        sa.Column("output_digest", sa.Text),
        sa.Column("cached_from", sa.Text),
        sa.UniqueConstraint("run_id", "task_key", "map_index"),
    )
    op.create_index("ix_task_runs_cache_key", "task_runs", ["cache_key", "ended"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("task_key", sa.Text, nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("ended", sa.Float),
        sa.Column("duration", sa.Float),
        sa.Column("error_type", sa.Text),
        sa.Column("error_message", sa.Text),
        sa.Column("traceback", sa.Text),
        sa.Column("log_path", sa.Text),
        sa.UniqueConstraint("run_id", "task_key", "map_index", "attempt"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("task_key", sa.Text, nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("time", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_run", "metrics", ["run_id"])
    op.create_table(
        "artifacts",
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("serializer", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("inline", sa.LargeBinary),
    )


def downgrade() -> None:
    for table in ("artifacts", "metrics", "attempts", "task_runs", "runs", "pipelines"):
        op.drop_table(table)
