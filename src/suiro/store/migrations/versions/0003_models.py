"""The model registry: versions per model name and the append-only log of stage changes.

``model_transitions.action`` says why a row was written: register, promote, demote (the old
production version archived by a promotion) or rollback.

At most one version per name is in ``production``: a unique partial index enforces it, so a
promotion that forgot to demote the old version fails instead of leaving two. The log refuses
UPDATE and DELETE through a trigger (note: an Alembic batch rebuild of ``model_transitions`` on
SQLite drops triggers, so a later migration that alters it must create the trigger again).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

_PRODUCTION = "stage = 'production'"
_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER model_transitions_no_{verb.lower()} BEFORE {verb} ON model_transitions
    BEGIN SELECT RAISE(ABORT, 'model_transitions is append-only'); END"""
    for verb in ("UPDATE", "DELETE")
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION suiro_model_transitions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'model_transitions is append-only'; END $$""",
    """CREATE TRIGGER model_transitions_append_only BEFORE UPDATE OR DELETE ON model_transitions
    FOR EACH ROW EXECUTE FUNCTION suiro_model_transitions_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", sa.Text, nullable=False, server_default="none"),
        sa.Column("metrics", sa.Text, nullable=False, server_default="{}"),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("data_digest", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("task_key", sa.Text),
        sa.Column("artifact_digest", sa.Text, nullable=False),
        sa.Column("serializer", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("input_schema", sa.Text),
        sa.Column("task_type", sa.Text),
        sa.Column("classes", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("description", sa.Text),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    )
    op.create_index(
        "ux_model_versions_production",
        "model_versions",
        ["name"],
        unique=True,
        sqlite_where=sa.text(_PRODUCTION),
        postgresql_where=sa.text(_PRODUCTION),
    )
    op.create_table(
        "model_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("from_stage", sa.Text),
        sa.Column("to_stage", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("actor", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_model_transitions_name", "model_transitions", ["name", "id"])
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS model_transitions_no_update")
        op.execute("DROP TRIGGER IF EXISTS model_transitions_no_delete")
    op.drop_index("ix_model_transitions_name", "model_transitions")
    op.drop_table("model_transitions")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS suiro_model_transitions_append_only()")
    op.drop_index("ux_model_versions_production", "model_versions")
    op.drop_table("model_versions")
