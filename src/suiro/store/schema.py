"""The head schema of a new SQLite database, as plain statements for the stdlib driver.

Why it exists: creating a home through Alembic imports Alembic and SQLAlchemy (~0.55 s) and
replays every migration, which doubled the whole-process time of a user's first one-task run.
``migrate.upgrade_schema`` runs these statements instead, in one transaction, when the
database is empty and the target is the head, then stamps ``alembic_version`` with
``REVISION``; any later upgrade still goes through Alembic from that stamp.

It must not drift from the migrations: ``tests/unit/store/test_schema.py`` builds one
database through Alembic and one from these statements and compares every table, column,
index, trigger and constraint. A new migration therefore needs the matching change here and
``REVISION`` moved to it; until then ``REVISION != HEAD_REVISION`` and new databases take
the Alembic path (slower, never wrong). SQLite only; other databases always use Alembic.
Imports nothing.
"""

from __future__ import annotations

#: The migration whose result these statements reproduce.
REVISION = "0009"

#: In the order the migrations create them; ``alembic_version`` is filled in by the caller.
STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE alembic_version (
        version_num VARCHAR(32) NOT NULL,
        CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
    )""",
    # 0001
    """CREATE TABLE pipelines (
        id INTEGER NOT NULL,
        name TEXT NOT NULL,
        code_digest TEXT NOT NULL,
        graph TEXT NOT NULL,
        created FLOAT NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (name, code_digest)
    )""",
    # runs.run_key and runs.error come from 0002, which added them after executor; deployment to
    # trigger from 0004
    """CREATE TABLE runs (
        id TEXT NOT NULL,
        pipeline_id INTEGER,
        pipeline TEXT NOT NULL,
        target TEXT,
        params TEXT NOT NULL,
        state TEXT NOT NULL,
        started FLOAT NOT NULL,
        ended FLOAT,
        host TEXT,
        pid INTEGER,
        heartbeat FLOAT,
        parent_run_id TEXT,
        executor TEXT,
        run_key TEXT,
        error TEXT,
        deployment TEXT,
        logical_time FLOAT,
        interval_start FLOAT,
        interval_end FLOAT,
        "trigger" TEXT,
        timezone TEXT,
        notify TEXT,
        PRIMARY KEY (id),
        FOREIGN KEY(pipeline_id) REFERENCES pipelines (id)
    )""",
    "CREATE INDEX ix_runs_pipeline_started ON runs (pipeline, started)",
    "CREATE INDEX ix_runs_state ON runs (state)",
    # task_runs.output_kind and output_inline, and artifacts.items, come from 0007
    """CREATE TABLE task_runs (
        id INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        task_key TEXT NOT NULL,
        map_index INTEGER DEFAULT '-1' NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER DEFAULT '0' NOT NULL,
        started FLOAT,
        ended FLOAT,
        duration FLOAT,
        map_size INTEGER,
        cache_key TEXT,
        cache_parts TEXT,
        output_digest TEXT,
        cached_from TEXT,
        output_kind TEXT,
        output_inline BLOB,
        PRIMARY KEY (id),
        UNIQUE (run_id, task_key, map_index),
        FOREIGN KEY(run_id) REFERENCES runs (id)
    )""",
    # ix_task_runs_cache_key (cache_key, ended) was replaced by 0006's ix_task_runs_cache_prefix, and
    # that by 0008's cache_entries
    """CREATE TABLE attempts (
        id INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        task_key TEXT NOT NULL,
        map_index INTEGER DEFAULT '-1' NOT NULL,
        attempt INTEGER NOT NULL,
        state TEXT NOT NULL,
        ended FLOAT,
        duration FLOAT,
        error_type TEXT,
        error_message TEXT,
        traceback TEXT,
        log_path TEXT,
        PRIMARY KEY (id),
        UNIQUE (run_id, task_key, map_index, attempt),
        FOREIGN KEY(run_id) REFERENCES runs (id)
    )""",
    # metrics.value lost its NOT NULL in 0009 (NULL is a NaN), which rebuilt the table: hence the quotes
    """CREATE TABLE "metrics" (
        id INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        task_key TEXT NOT NULL,
        map_index INTEGER DEFAULT '-1' NOT NULL,
        name TEXT NOT NULL,
        value FLOAT,
        step INTEGER,
        time FLOAT NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(run_id) REFERENCES runs (id)
    )""",
    "CREATE INDEX ix_metrics_run ON metrics (run_id)",
    """CREATE TABLE artifacts (
        digest TEXT NOT NULL,
        serializer TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        created FLOAT NOT NULL,
        inline BLOB,
        items BLOB,
        PRIMARY KEY (digest)
    )""",
    # 0002
    "CREATE UNIQUE INDEX ux_runs_run_key ON runs (run_key)",
    # 0003
    """CREATE TABLE model_versions (
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        stage TEXT DEFAULT 'none' NOT NULL,
        metrics TEXT DEFAULT '{}' NOT NULL,
        params TEXT DEFAULT '{}' NOT NULL,
        data_digest TEXT,
        run_id TEXT,
        task_key TEXT,
        artifact_digest TEXT NOT NULL,
        serializer TEXT NOT NULL,
        size INTEGER NOT NULL,
        input_schema TEXT,
        task_type TEXT,
        classes TEXT,
        created FLOAT NOT NULL,
        description TEXT,
        PRIMARY KEY (id),
        CONSTRAINT uq_model_versions_name_version UNIQUE (name, version)
    )""",
    "CREATE UNIQUE INDEX ux_model_versions_production ON model_versions (name) WHERE stage = 'production'",
    """CREATE TABLE model_transitions (
        id INTEGER NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        from_stage TEXT,
        to_stage TEXT NOT NULL,
        action TEXT NOT NULL,
        time FLOAT NOT NULL,
        actor TEXT,
        run_id TEXT,
        reason TEXT,
        PRIMARY KEY (id)
    )""",
    "CREATE INDEX ix_model_transitions_name ON model_transitions (name, id)",
    """CREATE TRIGGER model_transitions_no_update BEFORE UPDATE ON model_transitions
    BEGIN SELECT RAISE(ABORT, 'model_transitions is append-only'); END""",
    """CREATE TRIGGER model_transitions_no_delete BEFORE DELETE ON model_transitions
    BEGIN SELECT RAISE(ABORT, 'model_transitions is append-only'); END""",
    # 0004
    "CREATE INDEX ix_runs_deployment ON runs (deployment, logical_time)",
    """CREATE TABLE deployments (
        id INTEGER NOT NULL,
        name TEXT NOT NULL,
        target TEXT NOT NULL,
        pipeline TEXT NOT NULL,
        params TEXT DEFAULT '{}' NOT NULL,
        schedule TEXT,
        catchup TEXT DEFAULT 'latest' NOT NULL,
        max_catchup_runs INTEGER,
        max_active_runs INTEGER,
        executor TEXT,
        notify TEXT,
        triggers TEXT DEFAULT '[]' NOT NULL,
        sla FLOAT,
        paused INTEGER DEFAULT '0' NOT NULL,
        source TEXT DEFAULT 'cli' NOT NULL,
        cursor FLOAT,
        created FLOAT NOT NULL,
        updated FLOAT NOT NULL,
        PRIMARY KEY (id),
        CONSTRAINT uq_deployments_name UNIQUE (name)
    )""",
    """CREATE TABLE ticks (
        id INTEGER NOT NULL,
        deployment TEXT NOT NULL,
        logical_time FLOAT NOT NULL,
        interval_start FLOAT,
        interval_end FLOAT,
        "trigger" TEXT NOT NULL,
        event_key TEXT,
        params TEXT DEFAULT '{}' NOT NULL,
        run_id TEXT NOT NULL,
        state TEXT DEFAULT 'queued' NOT NULL,
        token INTEGER,
        launched FLOAT,
        host TEXT,
        pid INTEGER,
        created FLOAT NOT NULL,
        PRIMARY KEY (id),
        CONSTRAINT uq_ticks_deployment_time UNIQUE (deployment, logical_time),
        CONSTRAINT uq_ticks_deployment_event UNIQUE (deployment, event_key),
        CONSTRAINT uq_ticks_run_id UNIQUE (run_id)
    )""",
    "CREATE INDEX ix_ticks_state ON ticks (state, deployment)",
    """CREATE TABLE leases (
        name TEXT NOT NULL,
        holder TEXT NOT NULL,
        token INTEGER NOT NULL,
        acquired FLOAT NOT NULL,
        expires FLOAT NOT NULL,
        PRIMARY KEY (name)
    )""",
    """CREATE TABLE deliveries (
        id INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        state TEXT DEFAULT 'pending' NOT NULL,
        attempts INTEGER DEFAULT '0' NOT NULL,
        error TEXT,
        created FLOAT NOT NULL,
        updated FLOAT NOT NULL,
        PRIMARY KEY (id),
        CONSTRAINT uq_deliveries_once UNIQUE (run_id, event, channel, target)
    )""",
    # 0005
    "CREATE INDEX ix_runs_started ON runs (started)",
    "CREATE INDEX ix_runs_parent ON runs (parent_run_id)",
    "CREATE INDEX ix_metrics_name_run ON metrics (name, run_id)",
    "CREATE INDEX ix_metrics_name_value ON metrics (name, value)",
    # 0006's ix_task_runs_cache_prefix was replaced by 0008's cache_entries
    # 0008
    """CREATE TABLE cache_entries (
        prefix BIGINT NOT NULL,
        ended FLOAT NOT NULL,
        task_run INTEGER NOT NULL,
        PRIMARY KEY (prefix, ended, task_run),
        FOREIGN KEY(task_run) REFERENCES task_runs (id)
    ) WITHOUT ROWID""",
)
