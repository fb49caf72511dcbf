"""Exercise 3 (問題3), an appending ``process_data`` made idempotent, ported.

The exercise's function appends its result to the output file, so each run adds rows. The
answer overwrites it, or writes a temporary file and moves it into place. Here ``make_input``
writes an input CSV, ``process_data`` doubles it and writes the output atomically (temporary
file in the same folder, then ``os.replace``: a reader never sees half a file), and
``count_rows`` reads the output back. Run it twice: the output has the same rows both times.
What differs:

- ``process_data`` returns ``File(output_file, kind="Dataset")``: suiro stores the file it wrote
  by the sha256 of its bytes (``suiro artifacts last``), so two runs that wrote the same rows
  record the same digest, and ``count_rows`` gets a verified copy as an ``Input[Dataset]``.
- The tasks write outside suiro, so they opt out of the cache (``cache=False``) and write on
  every run, which is what the exercise checks.

    suiro run examples/chapter/18_exercise3_idempotent.py --set workdir=/tmp/ex3
"""

from __future__ import annotations

import os
import tempfile

import pandas as pd

from suiro import Dataset, File, Input, pipeline, task


@task(cache=False)
def make_input(workdir: str, rows: int) -> str:
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "input.csv")
    pd.DataFrame({"a": range(rows), "b": range(rows, 2 * rows)}).to_csv(path, index=False)
    return path


@task(cache=False)
def process_data(input_file: str, output_file: str) -> File:
    processed = pd.read_csv(input_file) * 2
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(output_file) or ".", suffix=".csv")
    os.close(handle)
    processed.to_csv(tmp, index=False)
    os.replace(tmp, output_file)  # atomic: the old file or the new one, never a mix
    print(f"processed: {output_file}")
    return File(output_file, kind="Dataset")


@task(cache=False)
def count_rows(processed: Input[Dataset], output_file: str) -> int:
    written = pd.read_csv(output_file)
    if not written.equals(pd.read_csv(processed.path)):
        raise ValueError(f"{output_file} does not hold what process_data wrote")
    return len(written)


@pipeline
def idempotent(workdir: str = "chapter_work", rows: int = 4):
    output_file = workdir + "/output.csv"
    return count_rows(process_data(make_input(workdir, rows), output_file), output_file)
