"""R2: SIGKILL at every artifact, database and runner fault point, then resume (G1, G2, G3).

One ``suiro run`` subprocess per point, armed with ``SUIRO_FAULTPOINTS=<point>:kill:<nth>``; the
threads executor writes artifacts in the runner's own process, so the whole run dies there.
Afterwards: ``suiro check`` finds no success pointing to a missing or torn artifact (only the
dead run itself), ``suiro gc --dry-run --min-age 0`` lists nothing any task run refers to, and
``suiro resume`` finishes with the same output digests as a clean run, without re-running what
was recorded as done. A variant kills worker processes instead of the runner.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.rel_harness import (
    TASKS,
    clean_digests,
    objects,
    read_ledger,
    resume_and_compare,
    rows,
    run_ids,
    task_states,
    temp_files,
    write_diamond,
)

from suiro import history

#: (point, nth): the second hit, so the run row and the first outputs exist when the process dies.
CRASH_POINTS = [
    ("artifact.tmp_written", 2),
    ("artifact.fsynced", 2),
    ("artifact.renamed", 2),
    ("artifact.dir_fsynced", 2),
    ("runner.task_done", 2),
    ("db.before_commit", 2),
    ("db.after_commit", 2),
]


@pytest.fixture
def clean() -> dict[str, str]:
    """Output digests of the diamond run once without faults."""
    return clean_digests()


def _setup(tmp_path: Path) -> tuple[Cli, dict[str, str]]:
    cli = Cli(tmp_path)
    write_diamond(cli.root)
    return cli, {"REL_LEDGER": str(tmp_path / "ledger.txt")}


def _referenced(home: Path) -> set[str]:
    return {
        r["output_digest"] for r in rows(home, "SELECT output_digest FROM task_runs") if r["output_digest"]
    }


#: The artifact's middle steps run in the slow tier (its first and last, the runner's and the
#: database's in the default one): the power-loss test also tears artifact writes at every step.
SLOW_POINTS = {"artifact.fsynced", "artifact.renamed"}


@pytest.mark.parametrize(
    ("point", "nth"),
    [pytest.param(p, n, id=p, marks=pytest.mark.slow if p in SLOW_POINTS else ()) for p, n in CRASH_POINTS],
)
def test_a_kill_at_a_fault_point_loses_no_recorded_output(tmp_path, clean, point, nth):
    cli, env = _setup(tmp_path)
    killed = cli("run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": f"{point}:kill:{nth}"})
    assert killed.returncode == -signal.SIGKILL, f"the fault point never fired:\n{killed}"
    (run_id,) = run_ids(cli.home)
    pid = rows(cli.home, "SELECT pid FROM runs")[0]["pid"]

    # The only problem is the dead run itself: no success points to a missing or torn artifact.
    check = cli.expect(1, "check", "--json")
    assert [(p["kind"], p["subject"]) for p in json.loads(check.stdout)] == [("dead_run", run_id)]

    # gc lists only objects nothing refers to: what the dead process wrote but never recorded.
    on_disk = set(objects(cli.home))
    listed = set(cli.json("gc", "--dry-run", "--min-age", "0")["removed"])
    assert listed == on_disk - _referenced(cli.home)
    if point in ("artifact.renamed", "artifact.dir_fsynced"):
        assert listed, "the object renamed into place just before the kill is an orphan"
    if point in ("artifact.tmp_written", "artifact.fsynced"):
        # The dead writer's temp file (and a concurrent writer's), never at a final path.
        temps = temp_files(cli.home)
        assert temps and all(t.name.startswith(f"{pid}-") for t in temps), temps

    resume_and_compare(cli, env, run_id, clean)


def test_the_ledger_shows_at_least_once_execution_and_exactly_once_success(tmp_path, clean):
    # Killed after the runner took in an outcome but before recording it: that task ran, yet
    # resume runs it again (at least once); its success is recorded once, by the resumed run.
    cli, env = _setup(tmp_path)
    cli("run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": "runner.task_done:kill:1"})
    (run_id,) = run_ids(cli.home)
    assert task_states(cli.home, run_id)["load"] != "success"
    resumed = resume_and_compare(cli, env, run_id, clean)
    ledger = read_ledger(Path(env["REL_LEDGER"]))
    assert [e.run_id for e in ledger if e.task == "load"] == [run_id, resumed]
    successes = rows(
        cli.home, "SELECT task_key, COUNT(*) AS n FROM attempts WHERE state = 'success' GROUP BY 1"
    )
    assert {r["task_key"]: r["n"] for r in successes} == dict.fromkeys(TASKS, 1)


def test_the_idempotency_key_is_the_same_when_a_task_runs_again_after_a_crash(tmp_path):
    cli, env = _setup(tmp_path)
    cli("run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": "runner.task_done:kill:1"})
    (run_id,) = run_ids(cli.home)
    cli.ok("resume", run_id, env=env)
    keys = [e.key for e in read_ledger(Path(env["REL_LEDGER"])) if e.task == "load"]
    assert len(keys) == 2 and keys[0] == keys[1], keys


def test_a_killed_worker_process_fails_its_task_and_the_run_resumes(tmp_path, clean):
    # On the processes executor artifacts are written in the workers, which inherit the fault:
    # each worker dies at its first fsync; the runner survives and records the failures.
    cli, env = _setup(tmp_path)
    failed = cli.expect(
        1, "run", "diamond.py", "-e", "processes", env={**env, "SUIRO_FAULTPOINTS": "artifact.fsynced:kill"}
    )
    run_id = failed.run_id
    assert task_states(cli.home, run_id)["load"] == "failed"
    # The new worker of the infrastructure retry (infra_retries=1) dies the same way: two attempts.
    errors = rows(cli.home, "SELECT error_type, error_message FROM attempts WHERE task_key = 'load'")
    assert [e["error_type"] for e in errors] == ["suiro.errors.WorkerCrashedError"] * 2
    assert all("died" in e["error_message"] for e in errors)
    assert history.check(home=cli.home) == []  # a failed run is no problem: nothing claims success
    resume_and_compare(cli, env, run_id, clean)


def test_temp_files_of_a_dead_writer_are_swept_when_the_next_run_starts(tmp_path):
    cli, env = _setup(tmp_path)
    cli("run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": "artifact.fsynced:kill:1"})
    assert temp_files(cli.home)
    cli.ok("run", "diamond.py", "--set", "label=next", env=env)
    assert temp_files(cli.home) == []


def test_gc_sweeps_temp_files_of_a_dead_writer(tmp_path):
    cli, env = _setup(tmp_path)
    cli("run", "diamond.py", env={**env, "SUIRO_FAULTPOINTS": "artifact.tmp_written:kill:1"})
    assert len(temp_files(cli.home)) == 1
    assert history.gc(home=cli.home, min_age=0)["temp_files"] == 1
    assert temp_files(cli.home) == []
