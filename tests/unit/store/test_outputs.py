"""Mapped outputs read back from their manifests, whichever schema revision recorded their items.

Since migration 0007 a small item is kept on its task run's row and the manifest's ``items`` hold
its type and bytes; before, each item had a row in ``artifacts`` and the manifest only its digest.
Both must read the same list, a manifest recorded the old way gets ``items`` when it is recorded
again, and bytes changed in ``items`` are refused, not returned.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from suiro import clock
from suiro.errors import ArtifactCorruptError
from suiro.store.content import ArtifactMeta
from suiro.store.home import Store
from suiro.store.outputs import ARTIFACT_COLUMNS, ARTIFACT_KEEP, MANIFEST, artifact_row

VALUES = [10, 20, 30]


def small(value: object) -> ArtifactMeta:
    data = json.dumps(value).encode()
    return ArtifactMeta(hashlib.sha256(data).hexdigest(), "json", len(data), "builtins.int", data)


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "home")
    yield opened
    opened.close()


def record(store: Store, metas: list[ArtifactMeta]) -> None:
    with store.db.write() as tx:
        tx.insert_rows(
            "artifacts", ARTIFACT_COLUMNS, [artifact_row(m, clock.now()) for m in metas], ARTIFACT_KEEP
        )


def test_a_manifest_reads_its_small_items_from_its_own_record_without_a_row_each(store):
    outputs = store.outputs()
    manifest = outputs.collect([small(v) for v in VALUES])
    record(store, [manifest])  # the items themselves are on their task runs' rows, not here
    assert store.db.query("SELECT COUNT(*) AS n FROM artifacts")[0]["n"] == 1
    found = outputs.meta(manifest.digest)
    assert found is not None and outputs.is_present(found)
    assert outputs.load(found) == VALUES


def test_a_manifest_recorded_before_0007_reads_its_items_by_digest_and_gets_them_when_recorded_again(store):
    outputs = store.outputs()
    items = [small(v) for v in VALUES]
    current = outputs.collect(items)
    old = ArtifactMeta(current.digest, MANIFEST, current.size, "list", current.inline)  # no ``items``
    record(store, [*items, old])
    assert outputs.load(outputs.meta(old.digest)) == VALUES
    record(store, [current])
    assert outputs.meta(old.digest).items == current.items


def test_bytes_changed_in_a_manifests_items_are_refused(store):
    outputs = store.outputs()
    manifest = outputs.collect([small(v) for v in VALUES])
    entries = json.loads(manifest.items)
    entries[1][1] = "21"
    tampered = ArtifactMeta(
        manifest.digest, MANIFEST, manifest.size, "list", manifest.inline, json.dumps(entries).encode()
    )
    record(store, [tampered])
    found = outputs.meta(manifest.digest)
    with pytest.raises(ArtifactCorruptError, match=small(20).digest):
        outputs.load(found)
    assert not store.outputs(verify=True)._intact(found)  # --recompute-corrupt does not reuse it


@pytest.mark.parametrize("damage", [b"{no", b'"a string"', b'[["builtins.int"]]', b"[null]"])
def test_a_damaged_items_record_is_read_by_digest_and_mended_when_the_list_is_recorded_again(store, damage):
    outputs = store.outputs()
    manifest = outputs.collect([small(v) for v in VALUES])
    broken = ArtifactMeta(manifest.digest, MANIFEST, manifest.size, "list", manifest.inline, damage)
    record(store, [broken])
    found = outputs.meta(manifest.digest)
    # The items kept on rows are not found by digest: the list is not reused, and its task runs again.
    assert outputs._items(found) == [None, None, None] and not outputs.is_present(found)
    record(store, [manifest])  # what that rerun records
    assert outputs.load(outputs.meta(manifest.digest)) == VALUES


def test_a_manifest_that_is_not_a_list_of_digests_is_corrupt_not_a_crash(store):
    outputs = store.outputs()
    data = b'{"not": "a list"}'
    odd = ArtifactMeta(hashlib.sha256(data).hexdigest(), MANIFEST, len(data), "list", data)
    record(store, [odd])
    found = outputs.meta(odd.digest)
    with pytest.raises(ArtifactCorruptError, match="not a JSON list of digests"):
        outputs.is_present(found)
    assert outputs._hit(found, "r1", "t") is None  # a cache look-up misses it: its task runs again
