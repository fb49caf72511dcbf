"""Section 3.5, listing "冪等性を確保するパターン" (patterns for idempotency), ported.

The listing's patterns, each as a task, run against a working folder: overwrite instead of
append, recreate an output folder, a versioned output file, and an UPSERT into a database
(SQLite here, in the working folder). Run it twice: the folder holds the same files and the
table the same rows. What differs:

- suiro adds two things the listing does by hand: a task's return value is written atomically
  (temporary file, fsync, rename) and content-addressed, and ``suiro.context().task_run_key``
  stays the same across retries and resumes, for writes elsewhere that must happen once.
- The tasks write outside suiro, so they opt out of the cache (``cache=False``): a cache hit
  would skip the write and leave a deleted file missing. These patterns are for files at places
  you choose; a file suiro owns is an ``Output[Dataset]`` (``05``, ``07``) or a returned
  ``File(path)`` (``18``), stored by its bytes and restored on a cache hit.

    suiro run examples/chapter/12_idempotency_patterns.py --set workdir=/tmp/idem
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile

from suiro import pipeline, task


def _write_atomically(path: str, text: str) -> None:
    """Write to a temporary file in the same folder, then rename: readers see old or new, never half."""
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


@task(cache=False)
def create_output_dir(workdir: str) -> str:
    """Recreate the output folder, so nothing from an earlier run survives."""
    out = os.path.join(workdir, "output")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    return out


@task(cache=False)
def overwrite_output(out: str, rows: int) -> str:
    """Write mode, not append mode: the same rows every time."""
    path = os.path.join(out, "data.txt")
    _write_atomically(path, "".join(f"new data {i}\n" for i in range(rows)))
    return path


@task(cache=False)
def process_with_version(out: str, version: int, rows: int) -> str:
    """The same version always yields the same file."""
    path = os.path.join(out, f"output_v{version}.csv")
    _write_atomically(path, "id,value\n" + "".join(f"{i},{i * version}\n" for i in range(rows)))
    return path


@task(cache=False)
def upsert_data(workdir: str, rows: int) -> int:
    """Insert or update by primary key; returns the table's row count."""
    os.makedirs(workdir, exist_ok=True)  # it runs beside create_output_dir: nothing orders the two
    with sqlite3.connect(os.path.join(workdir, "records.db")) as db:
        db.execute("CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, value TEXT)")
        db.executemany(
            "INSERT INTO records (id, value) VALUES (?, ?)"
            " ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            [(i, f"value {i}") for i in range(rows)],
        )
        return db.execute("SELECT count(*) FROM records").fetchone()[0]


@pipeline
def idempotency_patterns(workdir: str = "chapter_work", rows: int = 5, version: int = 1):
    out = create_output_dir(workdir)
    return {
        "data": overwrite_output(out, rows),
        "versioned": process_with_version(out, version, rows),
        "table_rows": upsert_data(workdir, rows),
    }
