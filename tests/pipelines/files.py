"""File outputs: a producer writes a CSV through ``Output[Dataset]``, consumers read ``Input[Dataset]``.

``SOURCE`` in the environment names an input CSV passed as ``suiro.File``; ``COUNTS`` a folder
where each task drops a file per call, so a test sees which tasks ran.
"""

from __future__ import annotations

import csv
import os
import uuid
from pathlib import Path

from suiro import Dataset, File, Input, Metrics, Model, Output, pipeline, task


def _ran(name: str) -> None:
    folder = os.environ.get("COUNTS")
    if folder:
        (Path(folder) / f"{name}-{uuid.uuid4().hex}").touch()


@task
def prepare(raw: File, out: Output[Dataset]) -> None:
    _ran("prepare")
    with open(raw.path) as src:
        rows = [r for r in csv.reader(src) if r]
    with open(out.path, "w", newline="") as dst:
        csv.writer(dst).writerows(rows)
    out.metadata["rows"] = len(rows)


@task
def train(data: Input[Dataset], model: Output[Model], metrics: Output[Metrics]) -> None:
    _ran("train")
    with open(data.path) as src:
        total = sum(int(r[0]) for r in csv.reader(src) if r)
    Path(model.path).write_text(f"weights {total}\n")
    model.metadata["rows"] = data.metadata["rows"]
    Path(metrics.path).write_text(f'{{"total": {total}}}\n')


@task
def report(data: Input[Dataset], trained: dict) -> str:
    _ran("report")
    model = trained["model"]
    return f"{data.kind} rows={data.metadata['rows']} {model.kind} {Path(model.path).read_text().strip()}"


@task
def summary(data: Input[Dataset]) -> File:
    _ran("summary")
    target = Path(os.environ.get("COUNTS") or ".") / f"summary-{uuid.uuid4().hex}.txt"
    target.write_text(Path(data.path).read_text().upper())
    return File(target)


@task
def shout(text: Input) -> str:
    return Path(text.path).read_text().strip()


SOURCE = os.environ.get("SOURCE", "data.csv")


@pipeline
def files_pipeline() -> str:
    data = prepare(File(SOURCE))
    trained = train(data)
    return report(data, trained)


@pipeline
def returned_file() -> str:
    return shout(summary(prepare(File(SOURCE))))


@task
def shards(out: Output[Model]) -> None:
    _ran("shards")
    root = Path(out.path)
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("A")
    (root / "sub" / "b.txt").write_text("B")
    stamp = uuid.uuid4().int % 10**9  # a different time each call: the stored bytes must not change
    os.utime(root / "a.txt", (stamp, stamp))


@task
def listing(model: Input[Model]) -> dict:
    root = Path(model.path)
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.txt"))}


@pipeline
def folders() -> dict:
    return listing(shards())
