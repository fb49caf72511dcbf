"""The model registry's tables: ``model_versions`` and ``model_transitions``, read and written.

Holds every SQL statement of the registry; ``suiro.registry`` (the public API) validates
names, stages and selectors and calls these. Every write is one transaction whose statements
read the state they change (``INSERT ... SELECT``), so concurrent registrations and promotions
cannot produce duplicate versions or two production versions (a unique partial index backs
the latter). Reads take any ``Database``, also a read-only one.
"""

from __future__ import annotations

from typing import Any

from suiro.errors import RegistryError
from suiro.states import ModelStage
from suiro.store.content import ArtifactMeta, ContentStore
from suiro.store.db import Database
from suiro.store.outputs import INSERT_ARTIFACT, artifact_row

Statement = tuple[str, dict[str, Any]]


class ModelGoneError(RegistryError):
    """A model's stored bytes were removed (by gc) between storing them and recording the version."""


def all_versions(db: Database) -> list[dict[str, Any]]:
    """Every version row, by name then version."""
    return db.query("SELECT * FROM model_versions ORDER BY name, version")


def versions_of(db: Database, name: str) -> list[dict[str, Any]]:
    """The version rows of ``name``, by version (empty if no model has that name)."""
    return db.query("SELECT * FROM model_versions WHERE name = :name ORDER BY version", {"name": name})


def version_by_id(db: Database, row_id: str) -> dict[str, Any]:
    """The version row with id ``row_id`` (it must exist)."""
    return db.query("SELECT * FROM model_versions WHERE id = :id", {"id": row_id})[0]


def names(db: Database) -> list[str]:
    """Every registered model name, sorted."""
    return [r["name"] for r in db.query("SELECT DISTINCT name FROM model_versions ORDER BY name")]


def transitions(db: Database, name: str) -> list[dict[str, Any]]:
    """The append-only log of ``name``'s registrations and stage changes, oldest first."""
    return db.query(
        "SELECT id, name, version, from_stage, to_stage, action, time, actor, run_id, reason"
        " FROM model_transitions WHERE name = :name ORDER BY id",
        {"name": name},
    )


def register(
    db: Database,
    artifacts: ContentStore,
    row: dict[str, Any],
    log: dict[str, Any],
    *,
    meta: ArtifactMeta,
    stage: ModelStage,
) -> None:
    """Record ``row`` as the next version of its name (max + 1, computed in the transaction).

    One transaction: the model's artifact (``meta``, whose bytes are already durable in
    ``artifacts``), the version, its log entry and, for a ``stage`` other than ``none``, the
    promotion. The object is claimed inside it, so gc cannot take it between (``suiro.store.gc``).

    Raises:
        ModelGoneError: the model's object was removed before the transaction; nothing was written.
    """
    on_disk = ArtifactMeta(meta.digest, meta.serializer, meta.size, meta.kind)  # never inline
    statements = [
        (INSERT_ARTIFACT, artifact_row(on_disk, row["created"])),
        (_INSERT_VERSION, row),
        (_LOG_REGISTER, log),
    ]
    if stage is not ModelStage.NONE:
        statements += _moves(row["id"], row["name"], stage, {**log, "action": "promote"})
    _transact(db, statements, claim=(artifacts, meta.digest))


def set_stage(db: Database, row_id: str, name: str, stage: ModelStage, log: dict[str, Any]) -> None:
    """Move version ``row_id`` of ``name`` to ``stage`` (into production: the current one is archived),
    logged with ``log`` (``action``, ``time``, ``actor``, ``run_id``, ``reason``), in one transaction."""
    _transact(db, _moves(row_id, name, stage, log))


def _transact(
    db: Database, statements: list[Statement], *, claim: tuple[ContentStore, str] | None = None
) -> None:
    """Run ``statements`` in one write transaction, serialized with every other registry write.

    SQLite serializes writers (``BEGIN IMMEDIATE``); on PostgreSQL a table lock that readers do
    not wait for does the same, so each statement's ``SELECT`` sees the state it changes.
    ``claim``: an object the statements refer to, made young inside the transaction, where gc's
    check of references cannot pass between.
    """
    with db.write() as tx:
        if not db.is_sqlite:
            tx.execute(_LOCK)
        if claim is not None and not claim[0].claim(claim[1]):
            raise ModelGoneError(f"artifact {claim[1]} was removed before its model version was recorded.")
        for sql, params in statements:
            tx.execute(sql, params)


def _moves(row_id: str, name: str, stage: ModelStage, log: dict[str, Any]) -> list[Statement]:
    """Statements moving the row ``row_id`` to ``stage`` (demoting the production one first), logged."""
    params = {**log, "id": row_id, "name": name, "stage": stage.value}
    moves = [(_LOG_MOVE, params), (_MOVE, params)]
    if stage is not ModelStage.PRODUCTION:
        return moves
    suffix = f": {log['reason']}" if log["reason"] else ""
    return [(_LOG_DEMOTE, {**params, "suffix": suffix}), (_DEMOTE, params), *moves]


_LOCK = "LOCK TABLE model_versions IN SHARE ROW EXCLUSIVE MODE"
# Stage names in the statements are ``ModelStage`` values, as the database stores them.
# The version is computed inside the write transaction, so concurrent registrations never share one.
_INSERT_VERSION = """
INSERT INTO model_versions (id, name, version, stage, metrics, params, data_digest, run_id, task_key,
                            artifact_digest, serializer, size, input_schema, task_type, classes, created,
                            description)
SELECT CAST(:id AS TEXT), CAST(:name AS TEXT), COALESCE(MAX(version), 0) + 1, 'none', CAST(:metrics AS TEXT),
       CAST(:params AS TEXT), CAST(:data_digest AS TEXT), CAST(:run_id AS TEXT), CAST(:task_key AS TEXT),
       CAST(:artifact_digest AS TEXT), CAST(:serializer AS TEXT), :size, CAST(:input_schema AS TEXT),
       CAST(:task_type AS TEXT), CAST(:classes AS TEXT), :created, CAST(:description AS TEXT)
FROM model_versions WHERE name = :name
"""
_LOG_REGISTER = """
INSERT INTO model_transitions (name, version, from_stage, to_stage, action, time, actor, run_id, reason)
SELECT name, version, NULL, 'none', 'register', :time, CAST(:actor AS TEXT), CAST(:run_id AS TEXT),
       CAST(:reason AS TEXT)
FROM model_versions WHERE id = :id
"""
# Demotion first: the unique partial index refuses a second production row at once.
_LOG_DEMOTE = """
INSERT INTO model_transitions (name, version, from_stage, to_stage, action, time, actor, run_id, reason)
SELECT cur.name, cur.version, cur.stage, 'archived', 'demote', :time, CAST(:actor AS TEXT),
       CAST(:run_id AS TEXT), 'replaced by version ' || CAST(tgt.version AS TEXT) || CAST(:suffix AS TEXT)
FROM model_versions cur JOIN model_versions tgt ON tgt.id = :id
WHERE cur.name = :name AND cur.stage = 'production' AND cur.id <> :id
"""
_DEMOTE = """
UPDATE model_versions SET stage = 'archived' WHERE name = :name AND stage = 'production' AND id <> :id
"""
_LOG_MOVE = """
INSERT INTO model_transitions (name, version, from_stage, to_stage, action, time, actor, run_id, reason)
SELECT name, version, stage, CAST(:stage AS TEXT), CAST(:action AS TEXT), :time, CAST(:actor AS TEXT),
       CAST(:run_id AS TEXT), CAST(:reason AS TEXT)
FROM model_versions WHERE id = :id AND stage <> :stage
"""
_MOVE = "UPDATE model_versions SET stage = :stage WHERE id = :id"
