"""Artifact store: content addressing, atomic writes, verified reads (G2, R12, S3, S5)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from suiro.errors import (
    ArtifactCorruptError,
    ArtifactError,
    ArtifactMissingError,
    InvalidDigestError,
)
from suiro.store import serializers
from suiro.store.artifacts import GC_LOCK, ArtifactMeta, ArtifactStore


class Canary:
    """A pickle payload that creates a file when loaded: proof of whether loading happened."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=pd.Index([10, 20, 30], name="id"))


def stored_files(store: ArtifactStore, folder: str) -> list[Path]:
    base = store.root / folder
    return sorted(p for p in base.rglob("*") if not p.is_dir()) if base.exists() else []


def test_dataframe_round_trips_through_a_file_named_by_its_hash(store):
    meta = store.put(frame())
    assert (meta.serializer, meta.kind, meta.inline) == ("parquet", "pandas.DataFrame", None)
    path = store.path(meta.digest)
    assert path == store.root / "objects" / meta.digest[:2] / meta.digest[2:]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta.digest and len(data) == meta.size
    pd.testing.assert_frame_equal(store.get(meta), frame())


def test_every_serializer_round_trips_through_the_store(store):
    model = LinearRegression().fit(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    metas = {m.serializer: m for m in map(store.put, [{"k": [1, 2]}, array, frame(), model, (1, "t")])}
    assert set(metas) == set(serializers.SERIALIZERS)
    assert store.get(metas["json"]) == {"k": [1, 2]}
    np.testing.assert_array_equal(store.get(metas["npy"]), array)
    assert store.get(metas["npy"]).dtype == np.int32
    pd.testing.assert_frame_equal(store.get(metas["parquet"]), frame())
    assert store.get(metas["joblib"]).predict(np.array([[4.0]])) == pytest.approx([9.0])
    assert store.get(metas["pickle"]) == (1, "t")


def test_a_forced_serializer_is_used(store):
    meta = store.put({"a": 1}, serializer="pickle")
    assert meta.serializer == "pickle" and meta.inline is None
    assert store.get(meta) == {"a": 1}


def test_small_json_stays_inline_and_writes_nothing(store):
    meta = store.put({"accuracy": 0.93, "labels": ["a", "b"]})
    assert meta.inline == b'{"accuracy":0.93,"labels":["a","b"]}'
    assert meta.digest == hashlib.sha256(meta.inline).hexdigest() and meta.size == len(meta.inline)
    assert not store.root.exists()
    assert store.get(meta) == {"accuracy": 0.93, "labels": ["a", "b"]}


def test_json_over_the_inline_limit_is_written(tmp_path):
    store = ArtifactStore(tmp_path / "a", inline_limit=8)
    meta = store.put(list(range(10)))
    assert meta.serializer == "json" and meta.inline is None
    assert store.has(meta.digest, meta.size)
    assert store.get(meta) == list(range(10))


def test_the_same_value_is_stored_once_and_not_rewritten(store):
    first = store.put(frame())
    inode = os.stat(store.path(first.digest)).st_ino
    second = store.put(frame())  # built again, equal content
    assert second == first
    assert list(store.iter_digests()) == [first.digest]
    assert os.stat(store.path(first.digest)).st_ino == inode


def test_put_leaves_no_temp_file(store):
    store.put(np.zeros(100))
    assert stored_files(store, "tmp") == []
    for path in stored_files(store, "objects"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.parent.name + path.name


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_nothing_at_the_final_path(store, monkeypatch, failing):
    real = getattr(os, failing)

    def disk_full(*args):
        if failing == "fsync" and not stat.S_ISREG(os.fstat(args[0]).st_mode):
            return real(*args)  # let directory fsyncs pass: fail on the temp file itself
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, disk_full)
    data = b"x" * 100
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(ArtifactError, match=rf"cannot write artifact {digest} to .*No space left on device"):
        store.put_bytes(data)
    monkeypatch.undo()
    assert not store.has(digest)
    assert (store.root / "tmp").is_dir() and stored_files(store, "tmp") == []


def test_a_writer_killed_mid_write_leaves_only_a_temp_file_that_sweep_removes(store):
    code = textwrap.dedent(
        f"""
        import os
        from suiro.store.artifacts import ArtifactStore
        os.replace = lambda *args: os._exit(9)  # die after fsync, before the rename
        ArtifactStore({str(store.root)!r}).put_bytes(b"half")
        """
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert len(stored_files(store, "tmp")) == 1
    assert not store.has(hashlib.sha256(b"half").hexdigest())
    assert list(store.iter_digests()) == []
    assert store.sweep_temp() == 1
    assert stored_files(store, "tmp") == []


def test_sweep_keeps_files_of_live_writers(store):
    (store.root / "tmp").mkdir(parents=True)
    live = store.root / "tmp" / f"{os.getpid()}-abc.tmp"
    live.write_bytes(b"in flight")
    (store.root / "tmp" / "999999999-dead.tmp").write_bytes(b"x")
    (store.root / "tmp" / "junk").write_bytes(b"x")
    assert store.sweep_temp() == 2
    assert stored_files(store, "tmp") == [live]
    assert ArtifactStore(store.root / "nowhere").sweep_temp() == 0


@pytest.fixture
def three_corrupted(store, tmp_path):
    """R12: one object with a flipped byte, one truncated, one replaced by a symlink."""
    metas = [store.put(np.arange(n * 10)) for n in (1, 2, 3)]
    flipped, truncated, linked = (store.path(m.digest) for m in metas)
    data = bytearray(flipped.read_bytes())
    data[-1] ^= 0xFF
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:-5])
    outside = tmp_path / "outside.npy"
    outside.write_bytes(linked.read_bytes())  # even the right bytes behind a link are refused
    linked.unlink()
    linked.symlink_to(outside)
    return metas


def test_corrupt_objects_raise_on_read_and_are_found_by_verify(store, three_corrupted):
    flipped, truncated, linked = three_corrupted
    with pytest.raises(
        ArtifactCorruptError, match=rf"corrupt artifact {flipped.digest} at .*do not hash"
    ) as err:
        store.get(flipped)
    assert err.value.digest == flipped.digest and err.value.path == str(store.path(flipped.digest))
    with pytest.raises(ArtifactCorruptError, match=r"instead of \d+: truncated.*rerun the producing task"):
        store.get(truncated)
    with pytest.raises(ArtifactCorruptError, match=rf"corrupt artifact {truncated.digest} .*do not hash"):
        store.get_bytes(truncated.digest)
    with pytest.raises(ArtifactCorruptError, match=rf"corrupt artifact {linked.digest} .*a symbolic link"):
        store.get(linked)
    digests = sorted(m.digest for m in three_corrupted)
    assert list(store.iter_digests()) == digests
    assert [d for d in store.iter_digests() if not store.verify(d)] == digests


def test_putting_the_value_again_repairs_a_corrupt_object(store, three_corrupted):
    for n, meta in zip((1, 2, 3), three_corrupted, strict=True):
        assert store.has(meta.digest, meta.size) is (n == 1)  # only the flipped one looks fine to stat
        assert store.put(np.arange(n * 10)) == meta
        assert store.verify(meta.digest)
        np.testing.assert_array_equal(store.get(meta), np.arange(n * 10))


def test_a_missing_object_raises_artifact_missing_error(store):
    meta = store.put(np.zeros(3))
    store.delete(meta.digest)
    store.delete(meta.digest)  # deleting twice is fine
    with pytest.raises(
        ArtifactMissingError, match=rf"missing artifact {meta.digest}: no file at .*suiro resume"
    ):
        store.get(meta)
    assert isinstance(ArtifactMissingError("m"), ArtifactError | FileNotFoundError)
    assert not store.has(meta.digest) and not store.verify(meta.digest)


def test_tampered_inline_bytes_are_refused(store):
    meta = store.put({"a": 1})
    forged = ArtifactMeta(meta.digest, meta.serializer, meta.size, meta.kind, inline=b'{"a":2}')
    with pytest.raises(
        ArtifactCorruptError, match=rf"corrupt artifact {meta.digest} stored inline in the database"
    ):
        store.get(forged)


def test_a_planted_fifo_is_refused_not_waited_on(store):
    meta = store.put(np.zeros(3))
    path = store.path(meta.digest)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(ArtifactCorruptError, match=r"not a regular file"):
        store.get(meta)


def test_tampered_pickle_bytes_are_never_deserialized(store, tmp_path, monkeypatch):
    """S5: the hash is checked before unpickling, so a swapped payload never runs."""
    honest = tmp_path / "honest-canary"
    meta = store.put(Canary(honest))
    assert meta.serializer == "pickle"
    store.get(meta)
    assert honest.exists()  # control: loading this payload does run code

    evil = tmp_path / "evil-canary"
    store.path(meta.digest).write_bytes(pickle.dumps(Canary(evil)))
    calls = []
    monkeypatch.setattr(serializers, "loads", lambda *args: calls.append(args))
    monkeypatch.setattr(pickle, "loads", lambda *args: calls.append(args))
    with pytest.raises(ArtifactCorruptError, match=rf"corrupt artifact {meta.digest}"):
        store.get(meta)
    assert calls == [] and not evil.exists()


BAD_DIGESTS = [
    "../../x",
    "/etc/passwd",
    "..%2f..%2fetc",
    "%2e%2e/%2e%2e/x",
    "x#/../../",
    "..\\..\\x",
    "a" * 63 + "\x00",
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "a" * 63 + "\n",
    "g" * 64,
    "",
    "a" * 10_000,
    None,
    b"a" * 64,
]


@pytest.mark.parametrize("digest", BAD_DIGESTS, ids=lambda d: repr(d)[:20])
def test_anything_but_a_digest_is_refused_everywhere(store, digest):
    for call in (store.path, store.has, store.verify, store.get_bytes, store.delete):
        with pytest.raises(InvalidDigestError, match=r"is not an artifact digest \(64 lowercase hex"):
            call(digest)
    with pytest.raises(InvalidDigestError):
        store.get(ArtifactMeta(digest, "pickle", 1, "x", inline=b"x"))
    assert not store.root.exists()


def test_a_planted_link_to_outside_the_store_is_not_followed(store, tmp_path):
    data = b"payload" * 10
    digest = hashlib.sha256(data).hexdigest()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (store.root / "objects").mkdir(parents=True)
    (store.root / "objects" / digest[:2]).symlink_to(outside)
    with pytest.raises(ArtifactCorruptError, match=r"leads outside the store .*delete that link"):
        store.put_bytes(data)
    with pytest.raises(ArtifactCorruptError, match=r"leads outside the store"):
        store.get_bytes(digest)
    assert list(outside.iterdir()) == []


def test_has_checks_presence_and_size_without_reading(store):
    meta = store.put(np.ones(4))
    assert store.has(meta.digest) and store.has(meta.digest, meta.size)
    assert not store.has(meta.digest, meta.size + 1)
    assert not store.has("0" * 64)


def test_iter_digests_skips_foreign_files(store):
    meta = store.put(np.ones(4))
    (store.root / "objects" / "zz").mkdir()
    (store.root / "objects" / "zz" / "readme").write_text("x")
    (store.root / "objects" / "notes.txt").write_text("x")
    assert list(store.iter_digests()) == [meta.digest]
    assert list(ArtifactStore(store.root / "nowhere").iter_digests()) == []


def test_artifact_errors_survive_pickling_with_their_fields(store):
    err = pickle.loads(pickle.dumps(ArtifactCorruptError("msg", digest="d", path="/p")))
    assert (type(err), str(err), err.digest, err.path) == (ArtifactCorruptError, "msg", "d", "/p")


# --- what gc relies on: an object's time says when it was last stored (R19) ------------------------


def _age(store: ArtifactStore, digest: str, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(store.path(digest), (old, old))


def test_storing_an_object_that_is_already_there_makes_it_young_again(store):
    digest = store.put_bytes(b"an output computed again")
    _age(store, digest, 3600)
    before = time.time_ns()
    assert store.put_bytes(b"an output computed again") == digest
    assert os.lstat(store.path(digest)).st_mtime_ns >= before, "gc would take it for an old orphan"


def test_remove_older_deletes_only_objects_older_than_the_cutoff(store):
    old, young = store.put_bytes(b"old orphan"), store.put_bytes(b"young orphan")
    _age(store, old, 3600)
    cutoff = time.time_ns() - 60 * 10**9
    assert store.remove_older([old, young, "0" * 64], cutoff) == [(old, len(b"old orphan"))]
    assert not store.has(old) and store.has(young)


def test_claim_keeps_an_old_object_from_remove_older_or_says_it_is_gone(store):
    digest = store.put_bytes(b"registered model bytes")
    _age(store, digest, 3600)
    cutoff = time.time_ns()
    assert store.claim(digest)
    assert store.remove_older([digest], cutoff) == []
    store.delete(digest)
    assert store.claim(digest) is False


def test_a_writer_waits_while_gc_holds_the_store_lock(store):
    # gc checks an object's time and unlinks it under the exclusive lock: a writer's rename into
    # place (or its claim) must not fall between the two.
    store.put_bytes(b"makes the store's folders")
    code = textwrap.dedent(
        f"""
        from suiro.store.artifacts import ArtifactStore
        ArtifactStore({str(store.root)!r}).put_bytes(b"written while gc holds the lock")
        """
    )
    src = str(Path(serializers.__file__).parents[2])
    fd = os.open(store.root / GC_LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        writer = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": src})
        time.sleep(1.0)
        assert writer.poll() is None, "the writer renamed into place while gc held the lock"
        digest = hashlib.sha256(b"written while gc holds the lock").hexdigest()
        assert not store.has(digest)
    finally:
        os.close(fd)
    assert writer.wait(timeout=60) == 0
    assert store.verify(hashlib.sha256(b"written while gc holds the lock").hexdigest())


# -- large outputs are streamed: their bytes are never all in memory besides the value ---------

MB = 2**20


def _peak_while(call) -> tuple[object, int]:
    """What ``call()`` returns, and the most Python-tracked memory it held at once beyond its start."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["bytes", "npy"])
def test_a_large_output_is_streamed_to_its_file_hashed_on_the_way(store, kind):
    value = b"x" * (40 * MB) if kind == "bytes" else np.arange(5 * MB, dtype=np.float64)  # 40 MB each
    meta, peak = _peak_while(lambda: store.put(value))
    # Before: the serialized bytes were built in memory (and copied), 40-80 MB on top of the value.
    assert peak < 20 * MB, f"storing a 40 MB {kind} output held {peak / MB:.0f} MB more"
    name, data = serializers.dumps(value)
    assert (meta.serializer, meta.size) == (name, len(data))
    assert meta.digest == hashlib.sha256(data).hexdigest(), "the same bytes as serialized in memory"
    assert store.path(meta.digest).read_bytes() == data
    assert stored_files(store, "tmp") == []


def test_a_large_array_is_read_back_while_hashed_without_its_bytes_in_memory(store):
    value = np.arange(5 * MB, dtype=np.float64)  # 40 MB
    meta = store.put(value)
    loaded, peak = _peak_while(lambda: store.get(meta))
    np.testing.assert_array_equal(loaded, value)
    assert loaded.flags.writeable
    # Before: the file's 40 MB were read whole, then decoded into a second 40 MB.
    assert peak < 40 * MB + 4 * MB, f"loading a 40 MB array held {peak / MB:.0f} MB"


@pytest.mark.parametrize("at", [20, 4000], ids=["header", "data"])
def test_a_streamed_array_with_a_flipped_byte_is_refused_as_corrupt(store, at):
    meta = store.put(np.arange(100_000, dtype=np.float64))
    path = store.path(meta.digest)
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorruptError, match=f"corrupt artifact {meta.digest} .*changed after writing"):
        store.get(meta)


def test_a_frame_parquet_cannot_store_falls_back_to_pickle_with_the_bytes_dumps_gives(store):
    mixed = pd.DataFrame({"a": [1, "two", 3.0]})  # mixed-type object column: not Parquet
    meta = store.put(mixed)
    name, data = serializers.dumps(mixed)
    assert (meta.serializer, name) == ("pickle", "pickle")
    assert meta.digest == hashlib.sha256(data).hexdigest()
    pd.testing.assert_frame_equal(store.get(meta), mixed)


def test_storing_a_streamed_output_that_is_already_there_makes_it_young_again(store):
    import numpy as np

    value = np.arange(50_000, dtype="float64")  # over the inline limit: streamed to a file
    meta = store.put(value)
    assert meta.inline is None
    _age(store, meta.digest, 3600)
    before = time.time_ns()
    assert store.put(value).digest == meta.digest
    assert os.lstat(store.path(meta.digest)).st_mtime_ns >= before, "gc would take it for an old orphan"


def test_a_streamed_output_is_stamped_with_the_time_it_was_stored(store):
    import numpy as np

    before = time.time_ns()
    meta = store.put(np.arange(60_000, dtype="float64"))
    assert os.lstat(store.path(meta.digest)).st_mtime_ns >= before
