"""Artifacts in an S3 bucket (``SUIRO_ARTIFACTS=s3://...``): a real S3-compatible server (moto, in its
own process on 127.0.0.1), reached through s3fs exactly as a user's store would be.

The same promises as the local store: content-addressed, verified before anything is decoded,
never half-visible, found missing or changed in one sentence that names the object's URL.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time

import pandas as pd
import pytest

import suiro
from suiro import history
from suiro.errors import ArtifactCorruptError, ArtifactMissingError, ArtifactStoreError, StoreError
from suiro.store.bucket import BucketStore
from suiro.store.check import check
from suiro.store.home import Store
from suiro.store.locations import open_artifacts


@pytest.fixture
def store(s3_url, tmp_path) -> BucketStore:
    return BucketStore(s3_url, scratch=tmp_path / "scratch")


def _key(url: str, digest: str) -> str:
    return f"{url[len('s3://') :]}/objects/{digest[:2]}/{digest[2:]}"


def test_a_location_with_a_scheme_is_a_bucket_and_a_path_or_file_url_a_folder(s3_url, tmp_path):
    assert isinstance(open_artifacts(s3_url), BucketStore)
    local = open_artifacts(f"file://{tmp_path}/a")
    assert not isinstance(local, BucketStore) and str(local.root) == f"{tmp_path}/a"
    assert not isinstance(open_artifacts(tmp_path / "b"), BucketStore)


def test_values_go_to_the_bucket_under_their_digest_and_come_back_equal(store, s3_url):
    frame = pd.DataFrame({"x": range(1000), "y": [str(i) for i in range(1000)]})
    meta = store.put(frame)
    blob = store.put(b"\x00" * 100_000)  # pickled: a codec that runs code, so verified before loading
    small = store.put({"auc": 0.93})
    fs = store.fs
    assert (
        fs.cat_file(_key(s3_url, meta.digest))
        and hashlib.sha256(fs.cat_file(_key(s3_url, meta.digest))).hexdigest() == meta.digest
    )
    assert small.inline is not None and not fs.exists(_key(s3_url, small.digest))  # small JSON stays inline
    pd.testing.assert_frame_equal(store.get(meta), frame)
    assert store.get(blob) == b"\x00" * 100_000 and store.get(small) == {"auc": 0.93}
    assert list(store.iter_digests()) == sorted([meta.digest, blob.digest])
    assert store.has(meta.digest, meta.size) and not store.has(meta.digest, meta.size + 1)


def test_an_object_changed_in_the_bucket_is_refused_before_decoding_and_a_rewrite_repairs_it(store, s3_url):
    meta = store.put(["a", "list", "of", "words"] * 5000)
    key = _key(s3_url, meta.digest)
    evil = pickle.dumps(["changed"])
    store.fs.pipe_file(key, evil)
    with pytest.raises(ArtifactCorruptError, match=rf"corrupt artifact {meta.digest} at {s3_url}/objects/"):
        store.get(meta)
    assert not store.verify(meta.digest)
    assert (
        store.put(["a", "list", "of", "words"] * 5000) == meta
    )  # a PUT every time: the object is whole again
    assert store.verify(meta.digest) and store.get(meta)[:4] == ["a", "list", "of", "words"]


def test_a_missing_object_names_its_url(store, s3_url):
    meta = store.put(list(range(10_000)))
    store.fs.rm_file(_key(s3_url, meta.digest))
    with pytest.raises(
        ArtifactMissingError, match=rf"missing artifact {meta.digest}: nothing at s3://.*suiro resume"
    ):
        store.get(meta)
    assert not store.has(meta.digest) and store.stored_at(meta.digest) is None


def test_a_missing_bucket_is_one_sentence_naming_it(s3_server, s3_url):
    bucket = s3_url.split("/")[2] + "-absent"
    with pytest.raises(ArtifactStoreError, match=rf"its bucket '{bucket}' does not exist; create it"):
        BucketStore(f"s3://{bucket}/x").check_reachable()


def test_an_unknown_scheme_is_one_sentence_naming_the_setting():
    with pytest.raises(
        ArtifactStoreError, match=r"SUIRO_ARTIFACTS=nosuch://b/x has a scheme fsspec does not know"
    ):
        open_artifacts("nosuch://b/x")


def test_the_store_travels_to_another_process_as_its_url(store):
    meta = store.put(list(range(5000)))
    copy = pickle.loads(pickle.dumps(store))
    assert copy.root == store.root and copy.get(meta) == list(range(5000))


def test_a_claim_dates_the_object_now_and_says_when_it_is_gone(store, s3_url):
    digest = store.put_bytes(b"model bytes" * 1000)
    before = store.stored_at(digest)
    time.sleep(1.05)  # object stores date to the second
    assert store.claim(digest)
    assert store.stored_at(digest) >= before + 1_000_000_000
    store.delete(digest)
    assert not store.claim(digest)


@suiro.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@suiro.task
def square(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@suiro.task
def report(xs: list[int]) -> float:
    suiro.log_metric("total", sum(xs))
    return float(sum(xs))


@suiro.pipeline
def squares(n: int = 5000):
    return report(square(numbers(n)))


def test_a_run_keeps_its_outputs_in_the_bucket_and_check_and_gc_work_against_it(
    s3_url, monkeypatch, suiro_home
):
    monkeypatch.setenv("SUIRO_ARTIFACTS", s3_url)
    first = suiro.run(squares, executor="processes")
    assert first.ok and first.output == float(sum(x * x for x in range(5000)))
    assert not (suiro_home / "artifacts" / "objects").exists()  # nothing in the local folder
    store = Store(suiro_home)
    try:
        digests = set(store.artifacts.iter_digests())
        assert len(digests) == 2  # the two lists; the float is inline
        assert check(store) == []
        again = suiro.run(squares)
        assert again.output == first.output
        assert {t.state.value for t in again.tasks.values()} == {"cached"}
        orphan = store.artifacts.put_bytes(b"nobody refers to this" * 100)
        time.sleep(1.05)
        result = history.gc(min_age=0)
        assert result["removed"] == [orphan]
        assert set(store.artifacts.iter_digests()) == digests  # the recorded outputs are kept
    finally:
        store.close()


def test_gc_on_a_bucket_waits_for_runs_in_progress(s3_url, monkeypatch, suiro_home):
    monkeypatch.setenv("SUIRO_ARTIFACTS", s3_url)
    suiro.run(squares, {"n": 10})
    store = Store(suiro_home)
    try:
        with store.db.write() as tx:
            tx.execute("UPDATE runs SET state = 'running', pid = :pid", {"pid": os.getpid()})
        with pytest.raises(
            StoreError, match=r"run .* is in progress and the artifacts are in an object store"
        ):
            history.gc(min_age=0)
    finally:
        store.close()


def test_a_registered_model_is_stored_in_the_bucket_and_loads_back(s3_url, monkeypatch, suiro_home):
    from sklearn.linear_model import LogisticRegression

    from suiro.registry import Registry

    monkeypatch.setenv("SUIRO_ARTIFACTS", s3_url)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    registry = Registry(suiro_home)
    version = registry.register("churn", model, stage="production")
    assert version.artifact_digest in set(BucketStore(s3_url).iter_digests())
    loaded = registry.load(version)
    assert list(loaded.predict([[0.2], [2.8]])) == [0, 1]


@suiro.task
def register_here() -> int:
    """Registers a model as a task on a worker of another machine would: with neither setting in
    its environment, only what its run told it."""
    from suiro.registry import Registry

    os.environ.pop("SUIRO_ARTIFACTS", None)
    os.environ.pop("SUIRO_DB", None)
    os.environ["SUIRO_HOME"] = "/nonexistent/worker-home"
    assert suiro.context().artifacts.startswith("s3://") and "db_url=" not in repr(suiro.context())
    return Registry().register("in-task", {"weights": [1, 2, 3]}).version


@suiro.pipeline
def registering():
    return register_here()


def test_a_task_registers_into_its_runs_database_and_bucket_whatever_its_environment(
    s3_url, monkeypatch, suiro_home
):
    from suiro.registry import Registry

    monkeypatch.setenv("SUIRO_ARTIFACTS", s3_url)
    result = suiro.run(registering, executor="processes")
    assert result.ok and result.output == 1, result.error
    version = Registry(suiro_home).get("in-task", 1)
    assert version.artifact_digest in set(BucketStore(s3_url).iter_digests())


def test_a_file_url_is_a_local_folder_for_the_run_and_its_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("SUIRO_ARTIFACTS", f"file://{tmp_path}/elsewhere")
    result = suiro.run(squares, {"n": 3000}, executor="processes")
    assert result.ok, result.error
    assert len(list((tmp_path / "elsewhere" / "objects").rglob("*"))) >= 2
