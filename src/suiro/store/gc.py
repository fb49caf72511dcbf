"""Garbage collection of the artifact store: remove objects nothing refers to, never a recorded one.

An object is garbage when no task run, registered model or manifest refers to it. But a writer
stores an object before it records a reference to it (G3), and the object it stores may be one
that is already there, unreferenced: the output of a killed run that a later run computes again.
So "unreferenced now" is not enough; gc deletes an object only if all of these hold:

1. it is older than the cutoff: ``min_age`` before gc started, and never after the start of a run
   still in progress (a writer's ``put`` sets the object's time to now, also when it finds the
   object in place, and every output is stored during its run, after the run's row was written);
2. nothing refers to it, checked again inside the write transaction that deletes its row (so a
   reference committed after gc's listing is seen, and none can be committed meanwhile);
3. it is still older than the cutoff when its file is unlinked, after that commit, under the
   store's exclusive lock (``ArtifactStore.remove_older``), so a writer that found it in place and
   claimed it in the meantime keeps it; that writer's record inserts the row again.

A model registration is not part of a run: the registry claims its object inside the transaction
that records the version, and stores it again if gc took it (``Registry.register``). The caller
reaps dead runs first (``suiro.history.gc``), so a crashed run does not hold gc back; a run declared
crashed is fenced and records nothing more. Owns gc's SQL; the deletes themselves are the artifact
store's.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from suiro.errors import StoreError
from suiro.faults import fault
from suiro.store.files import file_digests, sweep_views

if TYPE_CHECKING:
    from collections.abc import Mapping

    from suiro.store.home import Store

#: Unreferenced objects younger than this (seconds) are kept by default.
MIN_AGE = 600.0
#: Objects whose references are checked, and rows deleted, per write transaction.
BATCH = 500
_IN_PROGRESS = "SELECT MIN(started) AS first FROM runs WHERE state = 'running'"
_RUNNING = "SELECT id FROM runs WHERE state = 'running' ORDER BY started LIMIT 3"
_OUTPUTS = "SELECT DISTINCT output_digest FROM task_runs WHERE output_digest IS NOT NULL"
_MANIFESTS = "SELECT inline FROM artifacts WHERE serializer = 'manifest' AND inline IS NOT NULL"
_MODELS = "SELECT artifact_digest FROM model_versions"
_FILES = "SELECT inline FROM artifacts WHERE serializer = 'files' AND inline IS NOT NULL"
_DELETE = "DELETE FROM artifacts WHERE digest = :d"
# PostgreSQL does not serialize writers by itself: every reference is recorded in a transaction
# that also inserts into ``artifacts``, so this lock makes those wait for gc's (and gc for them).
_LOCK = "LOCK TABLE artifacts IN SHARE ROW EXCLUSIVE MODE"


class _Reader(Protocol):
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...


def referenced_digests(reader: _Reader) -> set[str]:
    """Digests some task run or registered model points to (including items of manifests).

    ``reader`` is a ``Database`` or, for the check that decides a delete, the write transaction.
    """
    digests = {r["output_digest"] for r in reader.query(_OUTPUTS)}
    for row in reader.query(_MANIFESTS):
        digests.update(json.loads(row["inline"]))
    digests.update(r["artifact_digest"] for r in reader.query(_MODELS))
    for row in reader.query(_FILES):  # the files a file-writing task's record lists
        digests.update(d for d, _ in file_digests(row["inline"]))
    return digests


def collect(store: Store, *, min_age: float = MIN_AGE, dry_run: bool = False) -> dict[str, Any]:
    """Remove unreferenced objects older than the cutoff, and leftover temporary files.

    Returns:
        ``removed`` (digests, sorted), ``bytes`` freed, ``dry_run``, ``temp_files`` removed. A dry
        run lists what the listing would remove; the real run may remove less, never more.
    """
    started = time.time_ns()  # before the runs are read: a run not seen yet starts after this
    if not store.artifacts.locks_writers and not dry_run:
        _refuse_while_running(store)
    store.artifacts.check_reachable()  # a bucket that is not there is said, not "removed 0"
    cutoff = _cutoff(store, started, min_age)
    keep = referenced_digests(store.db)
    candidates = [d for d in store.artifacts.iter_digests() if d not in keep and _older(store, d, cutoff)]
    fault("gc.listed")
    if dry_run:
        sizes = [_size(store, d) for d in candidates]
        return {"removed": candidates, "bytes": sum(sizes), "dry_run": True, "temp_files": 0}
    removed: list[tuple[str, int]] = []
    for first in range(0, len(candidates), BATCH):
        forgotten = _forget(store, candidates[first : first + BATCH], cutoff)
        removed += store.artifacts.remove_older(forgotten, cutoff)
    temp = store.artifacts.sweep_temp()
    sweep_views(store.artifacts.scratch, cutoff)
    return {
        "removed": sorted(d for d, _ in removed),
        "bytes": sum(size for _, size in removed),
        "dry_run": False,
        "temp_files": temp,
    }


def _refuse_while_running(store: Store) -> None:
    """An object store has no lock to hold a writer off between gc's check of an object's date and
    its delete (condition 3 above), so gc there runs only while no run is in progress.

    Raises:
        StoreError: naming the runs in progress.
    """
    running = [row["id"] for row in store.db.query(_RUNNING)]
    if running:
        raise StoreError(
            f"suiro gc did not delete anything: run {', '.join(running)} is in progress and the artifacts "
            f"are in an object store ({store.artifacts.root}), where gc cannot hold a run's writes off; "
            "run suiro gc again when no run is in progress (--dry-run lists what it would remove)."
        )


def _cutoff(store: Store, started: int, min_age: float) -> int:
    """Epoch nanoseconds before which an object was last stored by no run that may still record it."""
    cutoff = started - int(min_age * 1e9)
    first = store.db.query(_IN_PROGRESS)[0]["first"]
    if first is not None:
        cutoff = min(cutoff, int(first * 1e9))
    return cutoff


def _forget(store: Store, digests: list[str], cutoff: int) -> list[str]:
    """Delete the rows of ``digests`` still unreferenced and old, in one write transaction.

    Returns the digests whose files may go: the caller unlinks them after the commit.
    """
    with store.db.write() as tx:
        if not store.db.is_sqlite:
            tx.execute(_LOCK)
        keep = referenced_digests(tx)
        doomed = [d for d in digests if d not in keep and _older(store, d, cutoff)]
        tx.executemany(_DELETE, [{"d": d} for d in doomed])
    return doomed


def _older(store: Store, digest: str, cutoff: int) -> bool:
    stored = store.artifacts.stored_at(digest)
    return stored is not None and stored < cutoff


def _size(store: Store, digest: str) -> int:
    return store.artifacts.stored_size(digest) or 0
