"""Where the work behind a reused output was done: the logs of a task that was a cache hit.

A task (or a mapped item of it) that was a cache hit ran no attempt in the run that reused its
output, so that run holds no log of it; the run that computed the output does (``cached_from``).
Reads only; knows nothing of runners or graphs.
"""

from __future__ import annotations

from typing import Any

from suiro.store import queries
from suiro.store.cache_index import find_params
from suiro.store.db import Database

#: How many reuses of a reuse are followed (a run reusing what a run reused from another...).
_DEPTH = 20


def cached_logs(
    db: Database, run_id: str, task_key: str, attempt: int | None = None, *, depth: int = 0
) -> list[dict[str, Any]]:
    """The log rows of ``task_key``'s cache hits in ``run_id``, read from the runs that computed them.

    Each row is one attempt, as ``queries.logs`` gives it, plus ``run_id`` (the run that ran it),
    ``cached_in`` (``run_id``, where its output was reused) and ``cached_as`` (-1 when the whole
    task was reused, else the index of the mapped item that was, which is also the row's
    ``map_index``). A whole task reused brings its source run's attempts and, in turn, those of
    the items that run reused. The computing task is found by the cache key, so a task renamed
    since is found too. Empty when nothing was reused.
    """
    hits = db.query(
        "SELECT map_index, cached_from, cache_key FROM task_runs WHERE run_id = :id AND task_key = :task"
        " AND state = 'cached' AND cached_from IS NOT NULL AND cached_from != :id ORDER BY map_index",
        {"id": run_id, "task": task_key},
    )
    if hits and hits[0]["map_index"] < 0:
        hits = hits[:1]  # the whole task was reused: no item of it was looked up on its own
    found: list[dict[str, Any]] = []
    for hit in hits:
        source = _source(db, hit)
        if source is None:
            continue
        index, ran_in = hit["map_index"], hit["cached_from"]
        rows = queries.logs(db, ran_in, source["task_key"], attempt)
        if index < 0 and depth < _DEPTH:
            rows += cached_logs(db, ran_in, source["task_key"], attempt, depth=depth + 1)
        for row in rows:
            if index >= 0 and row["map_index"] != source["map_index"]:
                continue
            found.append(
                {
                    **row,
                    "map_index": index if index >= 0 else row["map_index"],
                    "run_id": row.get("run_id", ran_in),
                    "cached_in": run_id,
                    "cached_as": index,
                }
            )
    return sorted(found, key=lambda row: row["map_index"])


#: The task run of ``:run`` that computed the output with cache key ``:key`` (through the cache
#: index: not every task run of that run).
SOURCE = (
    "SELECT t.task_key, t.map_index FROM cache_entries AS c JOIN task_runs AS t ON t.id = c.task_run"
    " WHERE c.prefix = :prefix AND t.cache_key = :key AND t.run_id = :run AND t.state = 'success'"
    " ORDER BY t.map_index DESC LIMIT 1"
)


def _source(db: Database, hit: dict[str, Any]) -> dict[str, Any] | None:
    """The task run that computed a cached output: the one in ``cached_from`` with its cache key."""
    rows = db.query(SOURCE, {"run": hit["cached_from"], **find_params(hit["cache_key"])})
    return rows[0] if rows else None
