"""``suiro.run`` from Python: what a run costs a fresh process in imports, and in open files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import suiro

SRC = Path(__file__).resolve().parents[2] / "src"

_RUN = """
import json, sys
import suiro

@suiro.task
def noop(x=0):
    return x

@suiro.pipeline
def one():
    return noop(-1)

before = set(sys.modules)
assert suiro.run(one, home=sys.argv[1], environ={}).ok
print(json.dumps(sorted({m.split(".")[0] for m in set(sys.modules) - before})))
"""

#: Modules a recorded run on the default executor has no use for unless it needs them: YAML (a
#: config file or text parameters), cloudpickle and subprocess (an attempt in a worker process),
#: socket and uuid (a host name and a run id can be had without them).
NOT_ON_THE_RUN_PATH = {"yaml", "cloudpickle", "subprocess", "socket", "uuid", "platform"}


def test_a_recorded_run_of_a_pipeline_object_loads_nothing_it_does_not_use(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(tmp_path / "home")],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert "sqlite3" in loaded  # the run did load what recording needs
    assert sorted(loaded & NOT_ON_THE_RUN_PATH) == []


@suiro.task
def plus_one(x: int) -> int:
    return x + 1


@suiro.pipeline
def four_items():
    return plus_one.map([1, 2, 3, 4])


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_runs_leave_no_open_files_behind(tmp_path, executor):
    """A process that runs pipeline after pipeline (a notebook, a scheduler, a test suite) must not
    run out of file descriptors: each run closes the database connections it opened, also the
    recorder thread's, instead of leaving them to a garbage collection a run puts off."""

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    suiro.run(four_items, executor=executor, home=tmp_path / "warm-up")
    before = open_files()
    for i in range(4):
        assert suiro.run(four_items, executor=executor, home=tmp_path / str(i)).ok
    assert open_files() <= before + 1, f"{open_files() - before} descriptors more after 4 runs"
