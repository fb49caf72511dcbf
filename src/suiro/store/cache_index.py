"""The cache index: which recorded outputs a cache look-up can find, listed in bulk.

A cache key is a content hash, so each new key lands at a random place in any index on it.
Indexed as each batch of task runs was committed (every 50 ms), each task rewrote a page of the
index once the index outgrew a commit (some 10,000 keys): in the write-ahead log, then again at
the checkpoint; at 1,000,000 task runs that was most of the 12-16 KB a task wrote, and the cost
per task grew with the store. ``cache_entries`` (migration 0008) holds one small entry per task
run a look-up may find — the key's first 64 bits as an integer, when it ended, the task run's
row id — and the recorder lists a run's entries in bulk, in key order: every ``LIST_EVERY``
seconds or ``LIST_SIZE`` entries, and at the run's end. Each page of the index is then changed
once per listing instead of once per task.

What that costs: another run finds a task's output by its key once it is listed, at most
``LIST_EVERY`` seconds after the task ended (at once when its run ended); it was 50 ms. A run
that crashed is listed whole when the reaper records the crash (``list_run``), and every run
reaps before it starts, so a rerun after a crash finds all that the crashed run finished. A
resume finds its parent's outputs by run id, listed or not.

A look-up seeks the entries of the key's prefix, newest first, and compares the whole key on the
task run's row: a collision of prefixes costs a row read, never a wrong hit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

#: Seconds a finished task run may wait to be listed while its run goes on.
LIST_EVERY = 10.0
#: Unlisted entries that are listed at once, however young.
LIST_SIZE = 50_000
_SIGN = 1 << 63

#: A run's task runs a cache look-up may find: finished with an output, under a key.
_RUN_LISTABLE = (
    "SELECT id, cache_key, ended FROM task_runs WHERE run_id = :run AND state IN ('success', 'cached')"
    " AND output_digest IS NOT NULL AND cache_key IS NOT NULL AND ended IS NOT NULL"
)
#: A cache look-up: the newest three listed task runs that computed (or reused) an output under
#: ``:key``, found through its prefix and read newest first along the index (no sort).
FIND_ANY = (
    "SELECT t.output_digest, t.output_kind, t.output_inline, COALESCE(t.cached_from, t.run_id) AS source"
    " FROM cache_entries AS c JOIN task_runs AS t ON t.id = c.task_run"
    " WHERE c.prefix = :prefix AND t.cache_key = :key AND t.state IN ('success', 'cached')"
    " AND t.output_digest IS NOT NULL ORDER BY c.ended DESC LIMIT 3"
)
#: With a TTL: only original computations (``success``) that ended since ``:since``.
FIND_FRESH = (
    "SELECT t.output_digest, t.output_kind, t.output_inline, t.run_id AS source"
    " FROM cache_entries AS c JOIN task_runs AS t ON t.id = c.task_run"
    " WHERE c.prefix = :prefix AND c.ended >= :since AND t.cache_key = :key AND t.state = 'success'"
    " AND t.output_digest IS NOT NULL ORDER BY c.ended DESC LIMIT 3"
)
#: SQLite: the look-ups of many keys in one statement (a map's items), ``:keys`` a JSON array of
#: [prefix, key]: for each, the newest listed task run that ``FIND_ANY`` would read first, as
#: ``item`` (the key's place in the array) with its output. The caller reads a key whose newest
#: output cannot be reused through ``FIND_ANY`` (its older ones).
FIND_EACH = (
    "SELECT f.item, t.output_digest, t.output_kind, t.output_inline,"
    " COALESCE(t.cached_from, t.run_id) AS source FROM (SELECT j.key AS item, (SELECT c.task_run"
    " FROM cache_entries AS c JOIN task_runs AS t ON t.id = c.task_run WHERE c.prefix = j.value ->> 0"
    " AND t.cache_key = j.value ->> 1 AND t.state IN ('success', 'cached') AND t.output_digest IS NOT NULL"
    " ORDER BY c.ended DESC LIMIT 1) AS found FROM json_each(:keys) AS j) AS f"
    " JOIN task_runs AS t ON t.id = f.found"
)
#: ``FIND_EACH`` with a TTL (``FIND_FRESH``'s rule).
FIND_EACH_FRESH = (
    "SELECT f.item, t.output_digest, t.output_kind, t.output_inline, t.run_id AS source"
    " FROM (SELECT j.key AS item, (SELECT c.task_run FROM cache_entries AS c JOIN task_runs AS t"
    " ON t.id = c.task_run WHERE c.prefix = j.value ->> 0 AND c.ended >= :since"
    " AND t.cache_key = j.value ->> 1 AND t.state = 'success' AND t.output_digest IS NOT NULL"
    " ORDER BY c.ended DESC LIMIT 1) AS found FROM json_each(:keys) AS j) AS f"
    " JOIN task_runs AS t ON t.id = f.found"
)
#: SQLite: a listing in one statement (each statement step may give the GIL away, see
#: ``Tx.insert_rows``), its entries a JSON array of [prefix, task key, map index], in key order.
_LIST_JSON = (
    "INSERT INTO cache_entries (prefix, ended, task_run)"
    " SELECT j.value ->> 0, t.ended, t.id FROM json_each(:entries) AS j CROSS JOIN task_runs AS t"
    " ON t.run_id = :run AND t.task_key = j.value ->> 1 AND t.map_index = j.value ->> 2"
    " WHERE t.ended IS NOT NULL ON CONFLICT DO NOTHING"
)
#: Elsewhere (PostgreSQL, where ``tests/integration/test_postgres.py`` runs it): an entry per row.
LIST_EACH = (
    "INSERT INTO cache_entries (prefix, ended, task_run) SELECT :prefix, ended, id FROM task_runs"
    " WHERE run_id = :run AND task_key = :task AND map_index = :index AND ended IS NOT NULL"
    " ON CONFLICT DO NOTHING"
)


def prefix(key: str) -> int:
    """The index's part of a cache key: its first 16 hex digits as a signed 64-bit integer (of its
    sha256 for a key that is not hex, as one written by hand)."""
    try:
        return int(key[:16], 16) - _SIGN
    except ValueError:
        return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) - _SIGN


def find_params(key: str, since: float = 0.0) -> dict[str, Any]:
    """The parameters of a read by cache key (``FIND_ANY``, ``FIND_FRESH``, ``store.reuse.SOURCE``)."""
    return {"key": key, "prefix": prefix(key), "since": since}


def each_params(keys: Sequence[str], since: float = 0.0) -> dict[str, Any]:
    """The parameters of ``FIND_EACH`` / ``FIND_EACH_FRESH`` for ``keys`` (``item`` i is ``keys[i]``)."""
    entries = [[prefix(key), key] for key in keys]
    return {"keys": json.dumps(entries, separators=(",", ":")), "since": since}


def list_entries(tx: Any, run_id: str, entries: Sequence[tuple[int, str, int]], *, sqlite: bool) -> None:
    """List finished task runs of ``run_id``, each (prefix, task key, map index), in key order so
    that each page of the index is changed once. Inside the caller's write transaction; one
    already listed is kept."""
    ordered = sorted(entries)
    if not ordered:
        return
    if sqlite:
        tx.execute(_LIST_JSON, {"run": run_id, "entries": json.dumps(ordered, separators=(",", ":"))})
        return
    tx.executemany(
        LIST_EACH, [{"prefix": p, "run": run_id, "task": task, "index": index} for p, task, index in ordered]
    )


def list_run(tx: Any, run_id: str) -> int:
    """List every task run of ``run_id`` a look-up may find: a run whose recorder died with its
    unlisted entries (a crash). Those already listed are kept. Returns how many were read."""
    rows = tx.query(_RUN_LISTABLE, {"run": run_id})
    _list_rows(tx, rows)
    return len(rows)


def _list_rows(tx: Any, rows: Sequence[dict[str, Any]]) -> None:
    """List task runs given as rows of ``task_runs`` (``id``, ``cache_key``, ``ended``), in key order."""
    entries = sorted(
        ({"prefix": prefix(r["cache_key"]), "ended": r["ended"], "task_run": r["id"]} for r in rows),
        key=_entry_order,
    )
    tx.insert_rows("cache_entries", ("prefix", "ended", "task_run"), entries, "ON CONFLICT DO NOTHING")


def _entry_order(entry: dict[str, Any]) -> tuple[int, float, int]:
    return entry["prefix"], entry["ended"], entry["task_run"]
