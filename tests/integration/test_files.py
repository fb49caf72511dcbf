"""Files as outputs and inputs, in real runs: ``Output[Dataset]`` -> ``Input[Dataset]``, ``File``.

Which task bodies ran is read from the files they drop in ``COUNTS``; the store is the real
artifact store under ``SUIRO_HOME``.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

import suiro
from suiro import TaskState, history
from suiro.store.artifacts import ArtifactStore
from suiro.store.files import file_digests


@pytest.fixture
def files(tmp_path, monkeypatch):
    """The example pipelines, reading ``tmp_path/data.csv``; ``files.ran()`` says which tasks ran."""
    counts = tmp_path / "counts"
    counts.mkdir()
    source = tmp_path / "data.csv"
    source.write_text("1\n2\n3\n")
    monkeypatch.setenv("COUNTS", str(counts))
    monkeypatch.setenv("SOURCE", str(source))
    from pipelines import files as module

    module = importlib.reload(module)  # traced again: File(SOURCE) is read at trace time

    def ran() -> Counter[str]:
        names = Counter(p.name.split("-")[0] for p in counts.iterdir() if not p.name.startswith("summary"))
        for p in counts.iterdir():
            if not p.name.startswith("summary"):
                p.unlink()
        return names

    module.ran = ran
    module.source = source
    return module


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_output_dataset_feeds_input_dataset_with_metadata(files, executor):
    result = suiro.run(files.files_pipeline, executor=executor)
    assert result.state == "success", result.error
    assert result.output == "Dataset rows=3 Model weights 6"
    assert files.ran() == Counter({"prepare": 1, "train": 1, "report": 1})
    kinds = {r["task_key"]: r["kind"] for r in history.artifacts(result.run_id)}
    assert kinds == {"prepare": "Dataset", "train": "Model,Metrics", "report": "builtins.str"}

    again = suiro.run(files.files_pipeline, executor=executor)
    assert again.output == result.output
    assert files.ran() == Counter()  # every task a cache hit, files restored from the store


def test_consumer_gets_a_verified_copy_it_cannot_damage_the_store_through(files, suiro_home):
    @suiro.task
    def vandal(data: suiro.Input[suiro.Dataset]) -> str:
        text = Path(data.path).read_text()
        os.chmod(data.path, 0o644)
        Path(data.path).write_text("overwritten\n")
        return text

    @suiro.pipeline
    def vandalised() -> str:
        return vandal(files.prepare(suiro.File(files.source)))

    assert suiro.run(vandalised).output == "1\n2\n3\n"
    second = suiro.run(vandalised, fresh=True)
    assert second.output == "1\n2\n3\n"  # the stored object was not changed by the first consumer
    assert history.verify_artifacts() == []


def test_deleted_file_object_reruns_the_producer_never_a_missing_path(files, suiro_home):
    first = suiro.run(files.files_pipeline)
    files.ran()
    (row,) = [r for r in history.artifacts(first.run_id) if r["task_key"] == "prepare"]

    store = ArtifactStore(suiro_home / "artifacts")
    meta = store_meta(suiro_home, row["digest"])
    for digest, _ in file_digests(meta):
        store.path(digest).unlink()

    again = suiro.run(files.files_pipeline)
    assert again.state == "success", again.error
    assert again.output == "Dataset rows=3 Model weights 6"
    assert files.ran()["prepare"] == 1
    states = {t.key: t.state for t in again.tasks.values()}
    assert states["prepare"] == TaskState.SUCCESS


def store_meta(home: Path, digest: str) -> bytes:
    """The inline record of a file-writing task's output, read from the database file."""
    with sqlite3.connect(home / "suiro.db") as db:
        (inline,) = db.execute("SELECT inline FROM artifacts WHERE digest = ?", (digest,)).fetchone()
    return inline


def test_changed_file_input_misses_the_cache_unchanged_hits(files, monkeypatch):
    suiro.run(files.files_pipeline)
    assert files.ran()["prepare"] == 1
    suiro.run(files.files_pipeline)
    assert files.ran() == Counter()  # same path, same bytes: a hit
    files.source.write_text("1\n2\n3\n4\n")
    changed = suiro.run(files.files_pipeline)
    assert changed.output == "Dataset rows=4 Model weights 10"
    assert files.ran() == Counter({"prepare": 1, "train": 1, "report": 1})


def test_a_returned_file_is_stored_and_handed_on(files, tmp_path):
    first = suiro.run(files.returned_file, executor="processes")
    assert first.output == "1\n2\n3"
    for written in tmp_path.joinpath("counts").glob("summary-*"):
        written.unlink()  # the task's own file is gone; suiro's copy is not
    again = suiro.run(files.returned_file)
    assert again.output == "1\n2\n3"
    kinds = {r["task_key"]: r["kind"] for r in history.artifacts(again.run_id)}
    assert kinds["summary"] == "Artifact"


def test_gc_keeps_recorded_file_objects(files, suiro_home):
    first = suiro.run(files.files_pipeline)
    report = history.gc(min_age=0)
    assert report["removed"] == []
    files.ran()
    again = suiro.run(files.files_pipeline)
    assert again.output == first.output
    assert files.ran() == Counter()


def test_metadata_that_is_not_json_fails_the_task_with_the_fix():
    @suiro.task
    def bad(out: suiro.Output[suiro.Dataset]) -> None:
        Path(out.path).write_text("x")
        out.metadata["when"] = object()

    @suiro.pipeline
    def p():
        return bad()

    result = suiro.run(p)
    assert result.state == "failed"
    (error,) = result.tasks["bad"].errors
    assert error.type == "suiro.errors.FileOutputError"
    assert "the metadata of a file output of the task is not JSON" in error.message


def test_an_output_not_written_fails_the_task_naming_it():
    @suiro.task
    def lazy(out: suiro.Output[suiro.Model]) -> None:
        pass

    @suiro.pipeline
    def p():
        return lazy()

    result = suiro.run(p)
    assert result.state == "failed"
    (error,) = result.tasks["lazy"].errors
    assert error.message.startswith("task lazy did not write its output out: no file or folder at ")


def test_a_missing_file_input_is_not_cached_and_the_task_meets_it(tmp_path):
    @suiro.task
    def read(f: suiro.File) -> str:
        return Path(f.path).read_text()

    path = tmp_path / "later.csv"

    @suiro.pipeline
    def p() -> str:
        return read(suiro.File(path))

    result = suiro.run(p)
    (error,) = result.tasks["read"].errors
    assert result.state == "failed" and error.type == "FileNotFoundError"
    path.write_text("now\n")
    assert suiro.run(p).output == "now\n"


def test_mapped_file_outputs_reach_the_consumer_as_a_list_of_inputs():
    @suiro.task
    def write(x: int, out: suiro.Output[suiro.Dataset]) -> None:
        Path(out.path).write_text(str(x))
        out.metadata["x"] = x

    @suiro.task
    def gather(parts: list) -> list:
        return [(Path(p.path).read_text(), p.metadata["x"], p.kind) for p in parts]

    @suiro.pipeline
    def p() -> list:
        return gather(write.map([1, 2]))

    expected = [("1", 1, "Dataset"), ("2", 2, "Dataset")]
    assert suiro.run(p).output == expected
    again = suiro.run(p)
    assert again.output == expected and again.tasks["write"].state == TaskState.CACHED


def test_a_task_with_outputs_that_returns_a_value_fails_with_the_fix():
    @suiro.task
    def both(out: suiro.Output[suiro.Dataset]) -> int:
        Path(out.path).write_text("x")
        return 1

    @suiro.pipeline
    def p():
        return both()

    (error,) = suiro.run(p).tasks["both"].errors
    assert error.message == (
        "task both declares file outputs (out) and also returned a value; "
        "return None, or write the value to another Output parameter."
    )


def test_file_of_a_pipeline_parameter_is_refused_while_tracing():
    @suiro.task
    def read(f: suiro.File) -> str:
        return f.path

    with pytest.raises(suiro.SuiroError, match=r"^File\(\) got Ref .*pass a literal path"):

        @suiro.pipeline
        def p(source: str = "x.csv"):
            return read(suiro.File(source))


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_a_folder_output_is_stored_as_one_deterministic_object(executor, tmp_path, monkeypatch):
    monkeypatch.setenv("COUNTS", str(tmp_path))
    from pipelines import files as module

    first = suiro.run(module.folders, executor=executor)
    assert first.output == {"a.txt": "A", "sub/b.txt": "B"}
    (row,) = [r for r in history.artifacts(first.run_id) if r["task_key"] == "shards"]
    (folder,) = row["files"]
    assert folder["dir"] is True and folder["kind"] == "Model"
    # written again, at other times: the same bytes, so the same digest
    second = suiro.run(module.folders, executor=executor, fresh=True)
    (again,) = next(r for r in history.artifacts(second.run_id) if r["task_key"] == "shards")["files"]
    assert again["digest"] == folder["digest"]
    assert second.output == first.output


def test_gc_removes_old_consumer_copies_but_not_stored_files(files, suiro_home):
    suiro.run(files.files_pipeline)
    views = suiro_home / "artifacts" / "views"
    assert any(views.iterdir())
    history.gc(min_age=0)
    assert not any(views.iterdir())  # copies made by the finished run are gone...
    files.ran()
    assert suiro.run(files.files_pipeline).output == "Dataset rows=3 Model weights 6"
    assert files.ran() == Counter()  # ...the stored files are not: every task a hit


def test_a_corrupt_file_object_is_redone_with_recompute_corrupt(files, suiro_home):
    first = suiro.run(files.files_pipeline)
    (row,) = [r for r in history.artifacts(first.run_id) if r["task_key"] == "prepare"]
    ((digest, _),) = file_digests(store_meta(suiro_home, row["digest"]))
    path = ArtifactStore(suiro_home / "artifacts").path(digest)
    path.write_bytes(path.read_bytes().replace(b"2", b"7"))  # same size, other bytes
    files.ran()
    again = suiro.run(files.files_pipeline, recompute_corrupt=True)
    assert again.output == "Dataset rows=3 Model weights 6"
    assert files.ran()["prepare"] == 1
    assert history.verify_artifacts() == []


@suiro.task
def scaled(model: suiro.Output[suiro.Model], factor: int, note: str = "x") -> None:
    """An Output parameter before the ordinary ones, as KFP components often declare them."""
    Path(model.path).write_text(f"{factor} {note}\n")
    model.metadata["factor"] = factor


@suiro.task
def read_model(model: suiro.Input[suiro.Model]) -> str:
    return Path(model.path).read_text()


@suiro.pipeline
def output_first(factor: int = 3):
    return read_model(scaled(factor, note="y")), read_model(scaled(factor=factor))


@pytest.mark.parametrize("executor", ["sequential", "processes"])
def test_an_output_parameter_before_ordinary_ones_takes_no_caller_argument(executor):
    # Passed on by position, the caller's first argument landed in the Output's slot:
    # "scaled() got multiple values for argument 'model'".
    result = suiro.run(output_first, executor=executor)
    assert result.ok, result.error
    assert result.output == ("3 y\n", "3 x\n")


def test_file_outputs_live_in_a_bucket_and_consumers_get_local_verified_copies(
    files, s3_url, monkeypatch, suiro_home
):
    monkeypatch.setenv("SUIRO_ARTIFACTS", s3_url)
    result = suiro.run(files.files_pipeline, executor="processes")
    assert result.output == "Dataset rows=3 Model weights 6", result.error
    assert files.ran() == Counter({"prepare": 1, "train": 1, "report": 1})
    assert not (suiro_home / "artifacts").exists()  # the files went to the bucket, not the home
    from suiro.store.locations import open_artifacts

    bucket = open_artifacts(s3_url)
    assert len(list(bucket.iter_digests())) == 3  # the dataset, the model and the metrics files
    again = suiro.run(files.files_pipeline, executor="processes")
    assert again.output == result.output and files.ran() == Counter()  # cache hits, files fetched
