"""Task outputs kept and found again: the store's side of ``suiro.reuse.OutputStore``.

Writes each output where its task ran (``Finalizer``, picklable, so process workers
write their own artifacts in parallel) and finds reusable outputs for the runner:
first the outputs of the run being resumed, then cache hits by key. An output is
reused only while its artifact is present with the right size (or, with ``verify``,
re-hashes to its digest); one found corrupt is moved aside, so the look-up misses and
its task runs again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from suiro import clock
from suiro.cache import CacheKey
from suiro.errors import ArtifactCorruptError, ArtifactError, ArtifactStoreError
from suiro.files import Produced
from suiro.reuse import Hit
from suiro.store.content import FILES, ArtifactMeta, ContentStore
from suiro.store.db import Database
from suiro.store.files import file_digests, load_files, put_files
from suiro.store.locations import open_artifacts

MANIFEST = "manifest"
#: How an artifact is recorded: a task's output (the recorder, many at once with ``Tx.insert_rows``)
#: or a model's bytes (the registry, ``INSERT_ARTIFACT``). Its row comes from ``artifact_row``; a
#: digest already recorded is kept as is.
ARTIFACT_COLUMNS = ("digest", "serializer", "kind", "size", "created", "inline")
ARTIFACT_HEAD = f"INSERT INTO artifacts ({', '.join(ARTIFACT_COLUMNS)})"
ARTIFACT_KEEP = "ON CONFLICT (digest) DO NOTHING"
INSERT_ARTIFACT = f"{ARTIFACT_HEAD} VALUES ({', '.join(':' + c for c in ARTIFACT_COLUMNS)}) {ARTIFACT_KEEP}"
#: Cache look-ups seek ``ix_task_runs_cache_prefix`` (migration 0006) by the key's first 16 hex
#: digits (64 bits, as ``:prefix``), newest first along its ``ended``, then compare the whole key:
#: the index is a third the size of one on the whole key, so a big run's commits rewrite fewer
#: of its pages. ``find_params`` gives the parameters; the expression must match the index's.
#: The whole key is compared with BETWEEN, not ``=``: from ``cache_key = :key`` SQLite would
#: propagate the constant into ``substr(cache_key, ...)``, which then no longer matches the
#: index, and scan the table (``tests/unit/store/test_cache_index.py`` asks the planner).
FIND_ANY = (
    "SELECT output_digest, COALESCE(cached_from, run_id) AS source FROM task_runs"
    " WHERE substr(cache_key, 1, 16) = :prefix AND cache_key BETWEEN :key AND :key"
    " AND state IN ('success', 'cached') AND output_digest IS NOT NULL ORDER BY ended DESC LIMIT 3"
)
FIND_FRESH = (
    "SELECT output_digest, run_id AS source FROM task_runs"
    " WHERE substr(cache_key, 1, 16) = :prefix AND cache_key BETWEEN :key AND :key AND state = 'success'"
    " AND output_digest IS NOT NULL AND ended >= :since ORDER BY ended DESC LIMIT 3"
)


def find_params(key: str, since: float = 0.0) -> dict[str, Any]:
    """The parameters of ``FIND_ANY`` / ``FIND_FRESH`` (and any read by cache key) for ``key``."""
    return {"key": key, "prefix": key[:16], "since": since}


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


def artifact_row(meta: ArtifactMeta, created: float) -> dict[str, Any]:
    """The ``INSERT_ARTIFACT`` parameters recording ``meta`` (its inline bytes too, if any)."""
    return {
        "digest": meta.digest,
        "serializer": meta.serializer,
        "kind": meta.kind,
        "size": meta.size,
        "created": created,
        "inline": meta.inline,
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
        #: The resumed run's outputs: (task, item) -> (cache key, digest, source run).
        self.prior: dict[tuple[str, int], tuple[str, str, str]] = {}
        if parent_run_id is not None:
            for row in db.query(
                "SELECT task_key, map_index, cache_key, output_digest,"
                " COALESCE(cached_from, run_id) AS source FROM task_runs"
                " WHERE run_id = :run AND state IN ('success', 'cached')"
                " AND output_digest IS NOT NULL AND cache_key IS NOT NULL",
                {"run": parent_run_id},
            ):
                self.prior[(row["task_key"], row["map_index"])] = (
                    row["cache_key"],
                    row["output_digest"],
                    row["source"],
                )

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
        prior = self.prior.get((task_key, map_index))
        if prior is not None and prior[0] == key.key and not ttl:
            hit = self._hit(prior[1], prior[2], task_key)
            if hit is not None:
                return hit
        if not cache:
            return None
        # With a TTL only original computations count: a reuse does not make a result younger.
        rows = self.db.query(
            FIND_FRESH if ttl else FIND_ANY, find_params(key.key, clock.now() - ttl if ttl else 0.0)
        )
        for row in rows:
            hit = self._hit(row["output_digest"], row["source"], task_key)
            if hit is not None:
                return hit
        return None

    def _hit(self, digest: str, source_run: str, task_key: str) -> Hit | None:
        meta = self.meta(digest)
        if meta is None or not self.is_present(meta):
            return None
        if self.verify and not self._intact(meta):
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
        return ArtifactMeta(row["digest"], row["serializer"], row["size"], row["kind"], row["inline"])

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
            items = [self.meta(d) for d in self._manifest_digests(meta)]
            return all(m is not None and self.is_present(m) for m in items)
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
        if meta.serializer != MANIFEST:
            return True
        items = [self.meta(d) for d in self._manifest_digests(meta)]
        return all(m is not None and self._intact(m) for m in items)

    def load(self, meta: ArtifactMeta) -> Any:
        """The value of an artifact, verified; a corrupt object is moved aside first."""
        if meta.serializer == MANIFEST:
            items = []
            for digest in self._manifest_digests(meta):
                item = self.meta(digest)
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
        return json.loads(data)

    def collect(self, artifacts: list[Any]) -> ArtifactMeta:
        """A manifest (the list of item digests) standing for a mapped task's list output."""
        data = json.dumps([a.digest for a in artifacts], separators=(",", ":")).encode()
        from suiro.cache import digest as sha

        if len(data) <= self.artifacts.inline_limit:
            return ArtifactMeta(sha(data), MANIFEST, len(data), "list", data)
        return ArtifactMeta(self.artifacts.put_bytes(data), MANIFEST, len(data), "list")

    def digest_of(self, artifact: Any) -> str:
        """The content digest of an artifact record."""
        return artifact.digest

    def quarantine(self, digest: str) -> None:
        """Move a corrupt object aside (``corrupt/``) so it is never reused, keeping it for inspection."""
        self.artifacts.quarantine(digest)
