"""Reads for browsing many runs: the runs list's filters and sorting, and metrics across runs.

The web UI's runs page and ``/api/v1/runs`` call ``search_runs`` (never a second copy); the
compare page and a pipeline's metric chart call ``latest_metrics`` and ``metric_history``. Like
``queries``, everything here only reads and works on a read-only handle.

A run's value of a metric is the last value it logged under that name (highest row id), so a
metric logged over steps sorts by where it ended. Filters are bound parameters in statements
written out in full below: a parameter filter is ``json_extract`` on SQLite and ``jsonb ->``
on PostgreSQL (one statement per dialect and order, built from constant pieces only), and at
most ``MAX_PARAM_FILTERS`` are taken, each in a fixed slot that is off when its name is NULL.
Migration 0005 adds the indexes these lean on (``ix_runs_started``, ``ix_metrics_name_run``,
``ix_metrics_name_value``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from suiro.errors import SuiroError
from suiro.store import queries
from suiro.store.db import Database

#: At most this many ``param.NAME=VALUE`` filters at once.
MAX_PARAM_FILTERS = 3
#: Distinct metric or pipeline names offered to choose from, at most.
MAX_NAMES = 200


class RunFilterError(SuiroError, ValueError):
    """A filter of the runs list cannot be used as given."""


@dataclass(frozen=True)
class RunFilter:
    """Which runs, in which order. Every field is optional; the default is every run, newest first.

    Attributes:
        since, until: start times (epoch seconds), ``since`` included, ``until`` not.
        params: ``(name, value)`` pairs a run's parameters must equal (JSON values).
        metric, metric_min, metric_max: runs whose latest ``metric`` lies in the bounds given.
        sort: a metric name to order by (runs without it are left out), else newest first.
    """

    pipeline: str | None = None
    state: str | None = None
    deployment: str | None = None
    since: float | None = None
    until: float | None = None
    params: tuple[tuple[str, Any], ...] = ()
    metric: str | None = None
    metric_min: float | None = None
    metric_max: float | None = None
    sort: str | None = None
    descending: bool = True


_COLUMNS = (
    "SELECT r.id, r.pipeline, r.state, r.started, r.ended, r.parent_run_id, r.executor, r.host, r.pid,"
    ' r.deployment, r.logical_time, r.interval_start, r.interval_end, r."trigger", r.timezone, r.params'
)
_FILTERS = (
    " AND (CAST(:pipeline AS TEXT) IS NULL OR r.pipeline = :pipeline)"
    " AND (CAST(:state AS TEXT) IS NULL OR r.state = :state)"
    " AND (CAST(:deployment AS TEXT) IS NULL OR r.deployment = :deployment)"
    " AND (CAST(:since AS REAL) IS NULL OR r.started >= :since)"
    " AND (CAST(:until AS REAL) IS NULL OR r.started < :until)"
    " AND (CAST(:fmetric AS TEXT) IS NULL OR r.id IN (SELECT f.run_id FROM metrics f"
    " WHERE f.name = :fmetric AND f.value >= :fmin AND f.value <= :fmax"
    " AND f.id = (SELECT MAX(y.id) FROM metrics y WHERE y.name = :fmetric AND y.run_id = f.run_id)))"
)
_PARAMS_SQLITE = (
    " AND (CAST(:p1 AS TEXT) IS NULL OR json_extract(r.params, :p1) = :v1)"
    " AND (CAST(:p2 AS TEXT) IS NULL OR json_extract(r.params, :p2) = :v2)"
    " AND (CAST(:p3 AS TEXT) IS NULL OR json_extract(r.params, :p3) = :v3)"
)
_PARAMS_PG = (
    " AND (CAST(:p1 AS TEXT) IS NULL OR CAST(r.params AS jsonb) -> CAST(:p1 AS TEXT) = CAST(:v1 AS jsonb))"
    " AND (CAST(:p2 AS TEXT) IS NULL OR CAST(r.params AS jsonb) -> CAST(:p2 AS TEXT) = CAST(:v2 AS jsonb))"
    " AND (CAST(:p3 AS TEXT) IS NULL OR CAST(r.params AS jsonb) -> CAST(:p3 AS TEXT) = CAST(:v3 AS jsonb))"
)
_NEWEST = " ORDER BY r.started DESC LIMIT :limit OFFSET :offset"
# Along ix_metrics_name_value in the order asked, keeping each run's latest value only, so a
# page costs about its own rows (plus those skipped), not a pass over every run's metric.
_BY_VALUE = (
    ", m.value AS metric FROM metrics m JOIN runs r ON r.id = m.run_id"
    " WHERE m.name = :sort"
    " AND m.id = (SELECT MAX(x.id) FROM metrics x WHERE x.name = :sort AND x.run_id = m.run_id)"
)
_DOWN = " ORDER BY m.value DESC, m.id DESC LIMIT :limit OFFSET :offset"
_UP = " ORDER BY m.value, m.id LIMIT :limit OFFSET :offset"
# Whole statements, each made of the constant pieces above (nothing from outside goes in).
BY_STARTED = _COLUMNS + " FROM runs r WHERE 1 = 1" + _FILTERS + _PARAMS_SQLITE + _NEWEST
BY_METRIC = _COLUMNS + _BY_VALUE + _FILTERS + _PARAMS_SQLITE + _DOWN
BY_METRIC_UP = _COLUMNS + _BY_VALUE + _FILTERS + _PARAMS_SQLITE + _UP
BY_STARTED_PG = _COLUMNS + " FROM runs r WHERE 1 = 1" + _FILTERS + _PARAMS_PG + _NEWEST
BY_METRIC_PG = _COLUMNS + _BY_VALUE + _FILTERS + _PARAMS_PG + _DOWN
BY_METRIC_UP_PG = _COLUMNS + _BY_VALUE + _FILTERS + _PARAMS_PG + _UP
_STATEMENTS = {  # (SQLite?, order) -> statement
    (True, None): BY_STARTED,
    (True, "desc"): BY_METRIC,
    (True, "asc"): BY_METRIC_UP,
    (False, None): BY_STARTED_PG,
    (False, "desc"): BY_METRIC_PG,
    (False, "asc"): BY_METRIC_UP_PG,
}


def search_runs(db: Database, where: RunFilter, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Runs matching ``where``, newest first or by a metric; ``offset`` skips that many.

    Each row has ``duration``, ``params`` (a dict) and, when sorted by a metric, ``metric`` (its value).

    Raises:
        RunFilterError: more than ``MAX_PARAM_FILTERS`` parameter filters, or a name that is
            not a parameter name.
    """
    binds: dict[str, Any] = {
        "pipeline": where.pipeline,
        "state": where.state,
        "deployment": where.deployment,
        "since": where.since,
        "until": where.until,
        "fmetric": where.metric,
        "fmin": -math.inf if where.metric_min is None else where.metric_min,
        "fmax": math.inf if where.metric_max is None else where.metric_max,
        "sort": where.sort,
        "limit": limit,
        "offset": offset,
        **_param_binds(where.params, sqlite=db.is_sqlite),
    }
    order = None if where.sort is None else "desc" if where.descending else "asc"
    sql = _STATEMENTS[db.is_sqlite, order]
    rows = db.query(sql, binds)
    for row in rows:
        row["duration"] = (row["ended"] - row["started"]) if row["ended"] else None
        row["params"] = json.loads(row["params"])
    return rows


def _param_binds(params: tuple[tuple[str, Any], ...], *, sqlite: bool) -> dict[str, Any]:
    """The ``:pN``/``:vN`` slots: a JSON path and value on SQLite, a key and JSON text on PostgreSQL."""
    if len(params) > MAX_PARAM_FILTERS:
        raise RunFilterError(
            f"at most {MAX_PARAM_FILTERS} parameter filters at once (got {len(params)}); drop some."
        )
    binds: dict[str, Any] = {}
    for slot in range(1, MAX_PARAM_FILTERS + 1):
        binds[f"p{slot}"] = binds[f"v{slot}"] = None
    for slot, (name, value) in enumerate(params, 1):
        if not name.isidentifier():
            raise RunFilterError(
                f"{name!r} is not a parameter name; use param.NAME=VALUE with NAME as in the pipeline."
            )
        if sqlite:
            binds[f"p{slot}"], binds[f"v{slot}"] = f"$.{name}", _sqlite_value(value)
        else:
            binds[f"p{slot}"], binds[f"v{slot}"] = name, json.dumps(value)
    return binds


def _sqlite_value(value: Any) -> Any:
    """``value`` as ``json_extract`` returns it: true/false as 1/0, objects and lists as compact JSON."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def pipeline_names(db: Database) -> list[str]:
    """The names of the pipelines with a recorded run, sorted (one index hop per name)."""
    rows = db.query(
        "WITH RECURSIVE n(name, k) AS (SELECT MIN(pipeline), 1 FROM runs UNION ALL"
        " SELECT (SELECT MIN(pipeline) FROM runs WHERE pipeline > n.name), k + 1 FROM n"
        " WHERE n.name IS NOT NULL AND k < :most) SELECT name FROM n WHERE name IS NOT NULL",
        {"most": MAX_NAMES},
    )
    return [r["name"] for r in rows]


def metric_names(db: Database) -> list[str]:
    """The names of the metrics any run logged, sorted (one index hop per name)."""
    rows = db.query(
        "WITH RECURSIVE n(name, k) AS (SELECT MIN(name), 1 FROM metrics UNION ALL"
        " SELECT (SELECT MIN(name) FROM metrics WHERE name > n.name), k + 1 FROM n"
        " WHERE n.name IS NOT NULL AND k < :most) SELECT name FROM n WHERE name IS NOT NULL",
        {"most": MAX_NAMES},
    )
    return [r["name"] for r in rows]


def latest_metrics(db: Database, run_id: str) -> dict[str, float]:
    """Each metric's latest value in run ``run_id`` (its full id), by name; a task it reused whole
    counts with the value its source run logged (``queries.metrics``), below the run's own."""
    logged = queries.metrics(db, run_id)
    latest = {r["name"]: r["value"] for r in logged if r["cached_from"] is not None}
    latest.update((r["name"], r["value"]) for r in logged if r["cached_from"] is None)
    return dict(sorted(latest.items()))


def metric_history(db: Database, pipeline: str, name: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """Metric ``name``'s latest value in each of the newest ``limit`` runs of ``pipeline`` that
    logged it, oldest first: ``id``, ``started``, ``state``, ``value``."""
    rows = db.query(
        "SELECT r.id, r.started, r.state, m.value FROM runs r JOIN metrics m"
        " ON m.id = (SELECT MAX(x.id) FROM metrics x WHERE x.run_id = r.id AND x.name = :name)"
        " WHERE r.pipeline = :pipeline ORDER BY r.started DESC LIMIT :limit",
        {"pipeline": pipeline, "name": name, "limit": limit},
    )
    return rows[::-1]


def artifact_record(
    db: Database, digest: str, *, run_id: str | None = None, task_key: str = "", map_index: int = -1
) -> dict[str, Any] | None:
    """What the database holds about the artifact ``digest`` (its bytes too when stored inline),
    for a preview of an output; None when there is no such record.

    An output kept on its task run's row (migration 0007) has no ``artifacts`` row: pass the task
    run (``run_id``, ``task_key``, ``map_index``) that points to it to find it there.
    """
    if run_id is not None:
        rows = db.query(
            "SELECT output_digest AS digest, 'json' AS serializer, output_kind AS kind,"
            " length(output_inline) AS size, output_inline AS inline FROM task_runs"
            " WHERE run_id = :run AND task_key = :task AND map_index = :index AND output_digest = :digest"
            " AND output_inline IS NOT NULL",
            {"run": run_id, "task": task_key, "index": map_index, "digest": digest},
        )
        if rows:
            return rows[0]
    rows = db.query(
        "SELECT digest, serializer, kind, size, inline, items FROM artifacts WHERE digest = :digest",
        {"digest": digest},
    )
    return rows[0] if rows else None
