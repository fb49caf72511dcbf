"""R11: a full disk or an I/O error while writing an artifact or committing to the database.

Faults are injected with ``SUIRO_FAULTPOINTS=<point>:raise:ENOSPC|EIO[:nth]`` in a ``suiro run``
subprocess, and for real with ``RLIMIT_FSIZE`` (the kernel's EFBIG). In every case the user gets
a clear message, no partial artifact is left, the database stays intact, and once the fault is
gone ``suiro resume`` finishes the run with the outputs of a clean run.
"""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.rel_harness import (
    clean_digests,
    objects,
    resume_and_compare,
    rows,
    run_ids,
    task_states,
    temp_files,
    write_diamond,
)

from suiro import history

MESSAGES = {"ENOSPC": "No space left on device", "EIO": "Input/output error"}


def _setup(tmp_path: Path) -> tuple[Cli, dict[str, str]]:
    cli = Cli(tmp_path)
    write_diamond(cli.root)
    return cli, {"REL_LEDGER": str(tmp_path / "ledger.txt")}


@pytest.mark.parametrize(("point", "code"), [("artifact.tmp_written", "ENOSPC"), ("artifact.fsynced", "EIO")])
def test_an_artifact_write_error_fails_the_task_cleanly_and_resume_finishes(tmp_path, point, code):
    cli, env = _setup(tmp_path)
    failed = cli.expect(1, "run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": f"{point}:raise:{code}"})
    run_id = failed.run_id
    assert MESSAGES[code] in failed.stdout
    assert task_states(cli.home, run_id) == {
        "load": "failed",
        "left": "upstream_failed",
        "right": "upstream_failed",
        "join": "upstream_failed",
    }
    (attempt,) = rows(cli.home, "SELECT error_type, error_message FROM attempts WHERE task_key = 'load'")
    assert attempt["error_type"] == "suiro.errors.ArtifactError"
    assert attempt["error_message"].startswith("cannot write artifact ")
    assert f"({MESSAGES[code]}); free disk space" in attempt["error_message"]
    assert objects(cli.home) == {}, "no partial artifact at a final path"
    assert temp_files(cli.home) == [], "the failed writer removed its temp file"
    assert history.check(home=cli.home) == []  # a failed run claims nothing; the database is intact
    resume_and_compare(cli, env, run_id, clean_digests())


@pytest.mark.parametrize("code", ["ENOSPC", "EIO"])
def test_a_database_commit_error_stops_the_run_and_resume_finishes(tmp_path, code):
    # The second commit is the first group commit after the run row was written.
    cli, env = _setup(tmp_path)
    stopped = cli("run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": f"db.before_commit:raise:{code}:2"})
    assert stopped.returncode != 0
    (run_id,) = run_ids(cli.home)
    # Which commit fails is a race: the recorder thread's gives a one-line StoreError, the last one,
    # made in the runner's thread when a quick run ends first, a traceback; both name the cause.
    assert MESSAGES[code] in stopped.stderr
    # The failed batch (the first after the run row: load's cache key and start) was rolled back
    # whole; what was committed before it is intact.
    (load,) = rows(cli.home, "SELECT state, cache_key FROM task_runs WHERE task_key = 'load'")
    assert load == {"state": "pending", "cache_key": None}
    assert [(p["kind"], p["subject"]) for p in history.check(home=cli.home)] == [("dead_run", run_id)]
    resume_and_compare(cli, env, run_id, clean_digests())


def test_a_database_error_when_the_run_starts_is_one_line(tmp_path):
    cli, env = _setup(tmp_path)
    line = cli.error(
        2, "run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": "db.before_commit:raise:ENOSPC:1"}
    )
    assert "No space left on device" in line


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_real_efbig_from_rlimit_fsize_fails_the_task_and_leaves_no_partial_file(tmp_path):
    cli, env = _setup(tmp_path)
    # load's output (about 2 MB) is over the 1 MB limit; the database's few pages are not.
    proc = subprocess.run(
        cli.argv("run", "diamond.py", "--set", "n=2000000"),
        env=cli.env(env),
        cwd=cli.root,
        capture_output=True,
        text=True,
        timeout=90,
        preexec_fn=_file_size_limit(1_000_000),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (run_id,) = run_ids(cli.home)
    (attempt,) = rows(cli.home, "SELECT error_message FROM attempts WHERE task_key = 'load'")
    assert "(File too large); free disk space" in attempt["error_message"]
    assert objects(cli.home) == {}
    assert temp_files(cli.home) == []
    assert history.check(home=cli.home) == []
    cli.ok("resume", run_id, env=env)  # no limit now
    assert history.check(home=cli.home) == []
    assert len(objects(cli.home)) == 3
