"""Task outputs kept and found again: the store's side of ``suiro.reuse.OutputStore``.

Writes each output where its task ran (``Finalizer``, picklable, so process workers
write their own artifacts in parallel) and finds reusable outputs for the runner:
first the outputs of the run being resumed, then cache hits by key. An output is
reused only while its artifact is present with the right size (or, with ``verify``,
re-hashes to its digest); one found corrupt is moved aside, so the look-up misses and
its task runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from suiro import clock
from suiro.cache import CacheKey
from suiro.errors import ArtifactCorruptError, ArtifactError, ArtifactStoreError
from suiro.files import Produced
from suiro.reuse import Hit
from suiro.store.cache_index import FIND_ANY, FIND_EACH, FIND_EACH_FRESH, FIND_FRESH, each_params, find_params
from suiro.store.content import FILES, ArtifactMeta, ContentStore
from suiro.store.db import Database, insert_sql
from suiro.store.files import file_digests, load_files, put_files
from suiro.store.locations import open_artifacts

MANIFEST = "manifest"
#: How an artifact is recorded: a task's output (the recorder, many at once with ``Tx.insert_rows``)
#: or a model's bytes (the registry, ``INSERT_ARTIFACT``). Its row comes from ``artifact_row``; a
#: digest already recorded is kept as is, except for a manifest's ``items``, which a new record
#: replaces: they are a function of the item digests the manifest's digest stands for, so a
#: manifest recorded before migration 0007 gets them, and a damaged one is mended by its rerun
#: (idempotent, as ``insert_rows`` needs).
ARTIFACT_COLUMNS = ("digest", "serializer", "kind", "size", "created", "inline", "items")
ARTIFACT_KEEP = "ON CONFLICT (digest) DO UPDATE SET items = excluded.items WHERE excluded.items IS NOT NULL"
INSERT_ARTIFACT = insert_sql("artifacts", ARTIFACT_COLUMNS, 0, ARTIFACT_KEEP)
_STORES: dict[tuple[str, int], ContentStore] = {}


def _store(root: str, inline_limit: int) -> ContentStore:
    """This process's artifact store at ``root`` (one per process, whoever asks)."""
    store = _STORES.get((root, inline_limit))
    if store is None:
        store = open_artifacts(root, inline_limit=inline_limit)
        if store.locks_writers and not os.path.isdir(store.root):  # a folder, made before the run started
            raise ArtifactStoreError(
                f"the run's artifact folder {root} is not on this machine ({os.uname().nodename}), so a "
                "task run here cannot read or store outputs; set SUIRO_ARTIFACTS to a bucket every machine "
                "reaches (see docs/cluster.md), or mount the folder at that path on every worker.",
                path=root,
            )
        _STORES[(root, inline_limit)] = store
    return store


class Finalizer:
    """Stores a task's return value in the artifact store, in whatever process ran the task."""

    def __init__(self, root: str, inline_limit: int):
        self.root = root
        self.inline_limit = inline_limit

    def __call__(self, value: Any, serializer: str | None) -> ArtifactMeta:
        store = _store(self.root, self.inline_limit)
        if isinstance(value, Produced):  # a file-writing task: store its files, hand on verified copies
            try:
                meta = put_files(store, value)
                value.result = load_files(store, meta)
            finally:
                value.cleanup()
            return meta
        return store.put(value, serializer=serializer)


class Fetch:
    """Loads one stored output (verified) in whatever process calls it.

    Picklable (the store's folder and the artifact's record, no database), so a worker process
    loads a task's input itself instead of receiving it, pickled, through the runner; and the
    runner holds an output a worker wrote without ever loading it unless it needs the value.
    A corrupt object is moved aside first, so the next look-up misses it and its task reruns.

    Args:
        root, inline_limit: the artifact store.
        meta: the artifact (not a manifest: its items are found through the database).
        about: how to name the output in an error, e.g. ``the output of task t from run r``.
    """

    #: Tells the runner this loader may travel to a worker process (see ``suiro.reuse.is_portable``).
    portable = True

    def __init__(self, root: str, inline_limit: int, meta: ArtifactMeta, about: str | None = None):
        self.root = root
        self.inline_limit = inline_limit
        self.meta = meta
        self.about = about

    def __call__(self) -> Any:
        store = _store(self.root, self.inline_limit)
        try:
            return store.get(self.meta)
        except ArtifactError as exc:
            if isinstance(exc, ArtifactCorruptError):
                store.quarantine(self.meta.digest)
            if self.about is None:
                raise
            raise type(exc)(f"{self.about} cannot be used: {exc}", digest=self.meta.digest) from exc


def kept_on_row(meta: ArtifactMeta) -> bool:
    """Whether ``meta`` is an output small enough to be kept on its task run's row (migration 0007):
    a JSON value stored inline, which no ``artifacts`` row needs (a manifest or a file record does)."""
    return meta.inline is not None and meta.serializer not in (MANIFEST, FILES)


def on_row(digest: str, kind: str | None, inline: bytes | None) -> ArtifactMeta | None:
    """The output a task-run row keeps itself (``output_kind``, ``output_inline``), else None."""
    if inline is None:
        return None
    return ArtifactMeta(digest, "json", len(inline), kind or "", bytes(inline))


def manifest_items(items: list[ArtifactMeta]) -> bytes | None:
    """A manifest's ``items``: each item's type and bytes where it is kept on a row, else null.

    So that reading a manifest needs no look-up by digest for those (they have no ``artifacts``
    row). None when every item has a row."""
    entries = [[m.kind, bytes(m.inline).decode()] if kept_on_row(m) else None for m in items]
    if not any(entries):
        return None
    return json.dumps(entries, separators=(",", ":")).encode()


def manifest_digests(data: bytes) -> list[str] | None:
    """A manifest's item digests, in order; None when its bytes are not a JSON list of digests."""
    try:
        digests = json.loads(data)
    except ValueError:
        return None
    if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
        return None
    return digests


def manifest_entries(items: bytes | None, count: int) -> list[tuple[str, str] | None] | None:
    """What a manifest of ``count`` digests keeps of each item (``manifest_items``): its type and
    JSON text, or None for an item with its own ``artifacts`` row. None when ``items`` is damaged
    (not such a list, or not one entry per digest)."""
    if items is None:
        return [None] * count
    try:
        entries = json.loads(items)
    except ValueError:
        return None
    if not isinstance(entries, list) or len(entries) != count:
        return None
    kept: list[tuple[str, str] | None] = []
    for entry in entries:
        if entry is None:
            kept.append(None)
        elif isinstance(entry, list) and len(entry) == 2 and all(isinstance(e, str) for e in entry):
            kept.append((entry[0], entry[1]))
        else:
            return None
    return kept


def artifact_row(meta: ArtifactMeta, created: float) -> dict[str, Any]:
    """The ``INSERT_ARTIFACT`` parameters recording ``meta`` (its inline bytes too, if any)."""
    return {
        "digest": meta.digest,
        "serializer": meta.serializer,
        "kind": meta.kind,
        "size": meta.size,
        "created": created,
        "inline": meta.inline,
        "items": meta.items,
    }


class StoreOutputs:
    """Finds reusable outputs in the database and artifact store, and loads them on demand."""

    def __init__(
        self,
        db: Database,
        artifacts: ContentStore,
        *,
        parent_run_id: str | None = None,
        verify: bool = False,
    ):
        """``verify`` re-hashes every output before reusing it (``--recompute-corrupt``), so a
        corrupt one is redone by its task instead of failing the task that reads it."""
        self.db = db
        self.artifacts = artifacts
        self.verify = verify
        self.finalize: Callable[[Any, str | None], Any] | None = Finalizer(
            str(artifacts.root), artifacts.inline_limit
        )
        #: The resumed run's outputs: (task, item) -> (cache key, its row, source run).
        self.prior: dict[tuple[str, int], tuple[str, dict[str, Any], str]] = {}
        if parent_run_id is not None:
            for row in db.query(
                "SELECT task_key, map_index, cache_key, output_digest, output_kind, output_inline,"
                " COALESCE(cached_from, run_id) AS source FROM task_runs"
                " WHERE run_id = :run AND state IN ('success', 'cached')"
                " AND output_digest IS NOT NULL AND cache_key IS NOT NULL",
                {"run": parent_run_id},
            ):
                self.prior[(row["task_key"], row["map_index"])] = (row["cache_key"], row, row["source"])

    def lookup(
        self, task_key: str, map_index: int, key: CacheKey, *, cache: bool, ttl: float | None
    ) -> Hit | None:
        """An intact output computed under exactly ``key``: the resumed run's, else a cache hit.

        The resumed run's output is reused only if it was computed under the same key (same
        code, options, parameters and input digests): a resume whose parameters, code or
        upstream outputs changed reruns the task instead of trusting the old run. It is
        reused even for ``cache=False`` tasks (``cache`` False), since the resume continues
        that run; with a TTL, only a cache hit young enough counts.
        """
        hit = self._prior_hit(task_key, map_index, key, ttl)
        if hit is not None or not cache:
            return hit
        # With a TTL only original computations count: a reuse does not make a result younger.
        rows = self.db.query(
            FIND_FRESH if ttl else FIND_ANY, find_params(key.key, clock.now() - ttl if ttl else 0.0)
        )
        for row in rows:
            hit = self._hit(self._recorded(row), row["source"], task_key)
            if hit is not None:
                return hit
        return None

    def lookup_items(
        self, task_key: str, keys: Sequence[tuple[int, CacheKey]], *, cache: bool, ttl: float | None
    ) -> dict[int, Hit]:
        """``lookup`` for items of one mapped task at once: {map index: hit} for those found.

        Why: looked up one query each, a map's item cost the runner's thread ~30 µs, most of it the
        query's own cost, not the index's. On SQLite the keys are read in one statement
        (``FIND_EACH``: each key's newest output); an item whose newest output cannot be reused
        (its file gone, damaged) is then looked up alone, as ``lookup`` would, so the answers are
        the same.
        """
        if not self.db.is_sqlite:  # FIND_EACH reads its keys through SQLite's json_each
            found = ((i, self.lookup(task_key, i, key, cache=cache, ttl=ttl)) for i, key in keys)
            return {i: hit for i, hit in found if hit is not None}
        hits: dict[int, Hit] = {}
        asked: list[tuple[int, CacheKey]] = []
        for index, key in keys:
            hit = self._prior_hit(task_key, index, key, ttl)
            if hit is not None:
                hits[index] = hit
            elif cache:
                asked.append((index, key))
        if not asked:
            return hits
        params = each_params([key.key for _, key in asked], clock.now() - ttl if ttl else 0.0)
        for row in self.db.query(FIND_EACH_FRESH if ttl else FIND_EACH, params):
            index, key = asked[row["item"]]
            hit = self._hit(self._recorded(row), row["source"], task_key)
            if hit is None:  # its newest output is gone: an older one may not be (``FIND_ANY`` reads 3)
                hit = self.lookup(task_key, index, key, cache=cache, ttl=ttl)
            if hit is not None:
                hits[index] = hit
        return hits

    def _prior_hit(self, task_key: str, map_index: int, key: CacheKey, ttl: float | None) -> Hit | None:
        """The resumed run's output of this task (item), if computed under exactly ``key`` and
        intact; never with a TTL (only a young enough cache hit counts then)."""
        prior = self.prior.get((task_key, map_index))
        if prior is None or prior[0] != key.key or ttl:
            return None
        return self._hit(self._recorded(prior[1]), prior[2], task_key)

    def _recorded(self, row: dict[str, Any]) -> ArtifactMeta | None:
        """The output a task-run row points to: kept on the row itself, else its ``artifacts`` row."""
        digest = row["output_digest"]
        return on_row(digest, row["output_kind"], row["output_inline"]) or self.meta(digest)

    def _hit(self, meta: ArtifactMeta | None, source_run: str, task_key: str) -> Hit | None:
        try:
            if meta is None or not self.is_present(meta):
                return None
            if self.verify and not self._intact(meta):
                return None
        except ArtifactCorruptError:  # a damaged record (a manifest that is not a list): not reused
            return None
        about = f"the output of task {task_key} from run {source_run}"
        if meta.serializer != MANIFEST:
            return Hit(meta, self.fetch(meta, about), source_run)
        return Hit(meta, lambda: self._load_for(meta, about), source_run)

    def fetch(self, meta: ArtifactMeta, about: str | None = None) -> Callable[[], Any]:
        """A loader of ``meta``'s value, picklable (a ``Fetch``) unless ``meta`` is a manifest."""
        if meta.serializer == MANIFEST:
            return lambda: self.load(meta)
        return Fetch(str(self.artifacts.root), self.artifacts.inline_limit, meta, about)

    def _load_for(self, meta: ArtifactMeta, about: str) -> Any:
        try:
            return self.load(meta)
        except ArtifactError as exc:
            raise type(exc)(f"{about} cannot be used: {exc}", digest=meta.digest) from exc

    def meta(self, digest: str) -> ArtifactMeta | None:
        """The recorded artifact with this digest, or None."""
        rows = self.db.query("SELECT * FROM artifacts WHERE digest = :d", {"d": digest})
        if not rows:
            return None
        row = rows[0]
        return ArtifactMeta(
            row["digest"], row["serializer"], row["size"], row["kind"], row["inline"], row["items"]
        )

    def is_present(self, meta: ArtifactMeta) -> bool:
        """Cheap check that an artifact can be read (size only; bytes are verified when read)."""
        if meta.serializer == FILES:
            data = meta.inline if meta.inline is not None else b""
            return all(self.artifacts.has(d, size) for d, size in file_digests(data))
        if meta.inline is not None and meta.serializer != MANIFEST:
            return True
        if meta.serializer == MANIFEST:
            if meta.inline is None and not self.artifacts.has(meta.digest, meta.size):
                return False
            return all(m is not None and self.is_present(m) for m in self._items(meta))
        return self.artifacts.has(meta.digest, meta.size)

    def _intact(self, meta: ArtifactMeta) -> bool:
        """Whether every byte of ``meta`` (and of each item it lists) hashes right; moves bad ones aside."""
        if meta.inline is None and not self.artifacts.verify(meta.digest):
            self.quarantine(meta.digest)
            return False
        if meta.serializer == FILES:
            bad = [d for d, _ in file_digests(meta.inline or b"") if not self.artifacts.verify(d)]
            for digest in bad:
                self.quarantine(digest)
            return not bad
        if kept_on_row(meta):  # bytes in the database: nothing to move aside, only to refuse
            return hashlib.sha256(bytes(meta.inline or b"")).hexdigest() == meta.digest
        if meta.serializer != MANIFEST:
            return True
        return all(m is not None and self._intact(m) for m in self._items(meta))

    def load(self, meta: ArtifactMeta) -> Any:
        """The value of an artifact, verified; a corrupt object is moved aside first."""
        if meta.serializer == MANIFEST:
            items = []
            for digest, item in zip(self._manifest_digests(meta), self._items(meta), strict=True):
                if item is None:
                    raise ArtifactError(
                        f"artifact {digest} listed by {meta.digest} is not recorded; rerun its task.",
                        digest=digest,
                    )
                items.append(self.load(item))
            return items
        try:
            return self.artifacts.get(meta)
        except ArtifactCorruptError:
            self.quarantine(meta.digest)
            raise

    def _manifest_digests(self, meta: ArtifactMeta) -> list[str]:
        data = meta.inline if meta.inline is not None else self.artifacts.get_bytes(meta.digest)
        digests = manifest_digests(data)
        if digests is None:
            raise ArtifactCorruptError(
                f"manifest {meta.digest} is not a JSON list of digests; rerun the task that made it.",
                digest=meta.digest,
            )
        return digests

    def _items(self, meta: ArtifactMeta) -> list[ArtifactMeta | None]:
        """A manifest's items, in order: from its ``items`` where kept on a row, else by digest (all
        by digest when ``items`` is damaged: an item kept on a row is then not found, and the task
        that made the list runs again)."""
        digests = self._manifest_digests(meta)
        kept = manifest_entries(meta.items, len(digests)) or [None] * len(digests)
        return [
            self.meta(digest) if entry is None else on_row(digest, entry[0], entry[1].encode())
            for digest, entry in zip(digests, kept, strict=True)
        ]

    def collect(self, artifacts: list[Any]) -> ArtifactMeta:
        """A manifest (the list of item digests) standing for a mapped task's list output, with its
        ``items`` (``manifest_items``): the type and bytes of each item kept on its row."""
        data = json.dumps([a.digest for a in artifacts], separators=(",", ":")).encode()
        from suiro.cache import digest as sha

        items = manifest_items(artifacts)
        if len(data) <= self.artifacts.inline_limit:
            return ArtifactMeta(sha(data), MANIFEST, len(data), "list", data, items)
        return ArtifactMeta(self.artifacts.put_bytes(data), MANIFEST, len(data), "list", items=items)

    def digest_of(self, artifact: Any) -> str:
        """The content digest of an artifact record."""
        return artifact.digest

    def quarantine(self, digest: str) -> None:
        """Move a corrupt object aside (``corrupt/``) so it is never reused, keeping it for inspection."""
        self.artifacts.quarantine(digest)
