"""Automation: deployments, their ticks (one run per deployment and logical time), the
scheduler's lease, notification deliveries, and the scheduled part of a run's record.

``ticks`` is where G6 lives: ``UNIQUE (deployment, logical_time)`` makes a second run for the same
tick impossible whoever tries (a restarted scheduler, a second scheduler, a backfill over the same
range); ``UNIQUE (deployment, event_key)`` does the same for a file or an upstream run that
triggers a deployment; ``run_id`` is minted with the tick, so launching a tick twice can only
ever record one run. ``leases`` holds one row per leased role (``scheduler``) with a fencing
token that grows with every change of holder. ``deliveries`` keeps one row per (run, event,
channel, target): a notification is sent at most once and a failed delivery is visible; ``runs.notify``
keeps the channels a run started with, for the reaper that announces its crash.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("deployment", sa.Text))
        batch.add_column(sa.Column("logical_time", sa.Float))
        batch.add_column(sa.Column("interval_start", sa.Float))
        batch.add_column(sa.Column("interval_end", sa.Float))
        batch.add_column(sa.Column("trigger", sa.Text))
        batch.add_column(sa.Column("timezone", sa.Text))
        batch.add_column(sa.Column("notify", sa.Text))
    op.create_index("ix_runs_deployment", "runs", ["deployment", "logical_time"])
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("pipeline", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("schedule", sa.Text),
        sa.Column("catchup", sa.Text, nullable=False, server_default="latest"),
        sa.Column("max_catchup_runs", sa.Integer),
        sa.Column("max_active_runs", sa.Integer),
        sa.Column("executor", sa.Text),
        sa.Column("notify", sa.Text),
        sa.Column("triggers", sa.Text, nullable=False, server_default="[]"),
        sa.Column("sla", sa.Float),
        sa.Column("paused", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source", sa.Text, nullable=False, server_default="cli"),
        sa.Column("cursor", sa.Float),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.UniqueConstraint("name", name="uq_deployments_name"),
    )
    op.create_table(
        "ticks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.Text, nullable=False),
        sa.Column("logical_time", sa.Float, nullable=False),
        sa.Column("interval_start", sa.Float),
        sa.Column("interval_end", sa.Float),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("event_key", sa.Text),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="queued"),
        sa.Column("token", sa.Integer),
        sa.Column("launched", sa.Float),
        sa.Column("host", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("deployment", "logical_time", name="uq_ticks_deployment_time"),
        sa.UniqueConstraint("deployment", "event_key", name="uq_ticks_deployment_event"),
        sa.UniqueConstraint("run_id", name="uq_ticks_run_id"),
    )
    op.create_index("ix_ticks_state", "ticks", ["state", "deployment"])
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("token", sa.Integer, nullable=False),
        sa.Column("acquired", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.UniqueConstraint("run_id", "event", "channel", "target", name="uq_deliveries_once"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("leases")
    op.drop_index("ix_ticks_state", "ticks")
    op.drop_table("ticks")
    op.drop_table("deployments")
    op.drop_index("ix_runs_deployment", "runs")
    with op.batch_alter_table("runs") as batch:
        for column in (
            "notify",
            "timezone",
            "trigger",
            "interval_end",
            "interval_start",
            "logical_time",
            "deployment",
        ):
            batch.drop_column(column)
