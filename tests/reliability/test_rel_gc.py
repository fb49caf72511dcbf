"""R19: ``suiro gc`` beside runs that store outputs identical to old unreferenced objects.

An object nothing refers to (say, the output of a run killed before it recorded it) may be exactly
what a later run computes again: the store finds it in place and the run records it. gc lists what
is referenced, then deletes. Each deterministic test stops one process at a fault point with the
``stop`` action (SIGSTOP; the test sends SIGCONT) and moves the other process through that gap, so
each interleaving of gc's listing, gc's delete, a writer's store and its record is exact, not
timed: ``gc.listed`` (gc has listed, deletes nothing yet), ``runner.task_done`` (a run has stored
its output, not recorded it), ``artifact.dir_fsynced`` (the registry has stored a model, not
recorded it), ``db.after_commit`` (gc has deleted the database row, not the file). The loop then
runs gc subprocesses beside runner subprocesses with seeded delays at the same points. After
each: no recorded output missing and ``suiro check`` clean (the conftest checks again).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli, Result
from rel_harness import rows, write_locked

from suiro import history
from suiro.store.artifacts import ArtifactStore

REMAKE = """
import time

from suiro import pipeline, task, unmapped


@task
def make(seed: int, pause: float) -> str:
    time.sleep(pause)  # the run's recorder has committed what came before: a stop never freezes a commit
    return f"{seed}:" * 10000  # JSON over the inline limit: a file in the artifact store


@pipeline
def one(seed: int = 0, pause: float = 0.2):
    return make(seed, pause)


@pipeline
def many(seeds: tuple[int, ...] = (0,)):
    return make.map(seeds, pause=unmapped(0.0))
"""
REGISTER = """
import sys
from suiro.registry import Registry

print(Registry().register("m", f"{sys.argv[1]}:" * 10000).version)
"""
#: Kinds of ``suiro check`` problem that mean a recorded output or model lost its bytes.
LOST = ("missing_artifact", "unrecorded_artifact", "missing_model")
#: ``suiro gc`` with its default minimum age (600 s), and with ``--min-age 0``.
AGES = pytest.mark.parametrize("age", [(), ("--min-age", "0")], ids=["default", "min-age-0"])


def value(seed: int) -> str:
    """What ``make(seed)`` returns."""
    return f"{seed}:" * 10000


def plant(home: Path, seed: int, *, age: float = 3600.0) -> str:
    """Store ``make(seed)``'s output as an object nobody refers to, ``age`` seconds old."""
    store = ArtifactStore(home / "artifacts")
    meta = store.put(value(seed))
    assert meta.inline is None
    old = time.time() - age
    os.utime(store.path(meta.digest), (old, old))
    return meta.digest


def digest_of(seed: int) -> str:
    """The digest ``make(seed)``'s output is stored under (without storing it)."""
    import hashlib

    from suiro.store import serializers

    return hashlib.sha256(serializers.dumps(value(seed))[1]).hexdigest()


def lost(home: Path) -> list[dict[str, str]]:
    """Problems of recorded outputs and models whose bytes are gone."""
    return [p for p in history.check(home=home) if p["kind"] in LOST]


def recorded(home: Path) -> set[str]:
    """Digests some successful task run or model version refers to."""
    found = rows(home, "SELECT output_digest AS d FROM task_runs WHERE state = 'success'")
    found += rows(home, "SELECT artifact_digest AS d FROM model_versions")
    return {r["d"] for r in found if r["d"]}


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


class Stopped:
    """A subprocess stopped (SIGSTOP) at fault point ``point``; ``finish`` continues it."""

    def __init__(self, cli: Cli, argv: list[str], point: str):
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            env=cli.env({"SUIRO_FAULTPOINTS": f"{point}:stop"}),
            cwd=cli.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while _state(self.proc.pid) != "T":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                out, err = self.proc.communicate()
                pytest.fail(f"{argv} never stopped at {point}:\n{out}\n{err}")
            time.sleep(0.01)

    def finish(self) -> Result:
        """Continue the process, wait for it, and assert it exited 0."""
        os.kill(self.proc.pid, signal.SIGCONT)
        out, err = self.proc.communicate(timeout=90)
        result = Result(tuple(self.argv), self.proc.returncode, out, err)
        assert result.returncode == 0, str(result)
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.wait()


@pytest.fixture
def cli(tmp_path):
    cli = Cli(tmp_path)
    cli.write("remake.py", REMAKE)
    cli.write("register.py", REGISTER)
    return cli


@pytest.fixture
def stop(cli):
    """``stop(argv, point)``: start ``argv`` stopped at ``point``; whatever is left is killed after.

    SIGSTOP stops every thread: a runner whose recorder thread is committing at that moment would
    hold the database's write lock and make every other writer wait. Such a start (rare: the task
    pauses first) is killed and made again.
    """
    started: list[Stopped] = []

    def start(argv: list[str], point: str) -> Stopped:
        for _ in range(5):
            started.append(Stopped(cli, argv, point))
            if not write_locked(cli.home):
                return started[-1]
            started[-1].kill()
        pytest.fail(f"{argv} stopped at {point} holding the database's write lock, five times")

    yield start
    for proc in started:
        proc.kill()


def removed(result: Result) -> list[str]:
    return json.loads(result.stdout)["removed"]


# --- each interleaving, exactly ------------------------------------------------------------------


@AGES
def test_an_old_object_recorded_while_gc_is_stopped_after_listing_is_kept(cli, stop, age):
    # gc lists the old orphan as garbage; a whole run then stores the same output and records it.
    digest = plant(cli.home, 1)
    gc = stop(cli.argv("gc", "--json", *age), "gc.listed")
    cli.ok("run", "remake.py:one", "--set", "seed=1")
    assert digest not in removed(gc.finish())
    assert digest in recorded(cli.home)
    assert lost(cli.home) == []
    assert history.check(home=cli.home) == []


@pytest.mark.parametrize(
    ("planted", "age"),
    [(True, ()), (True, ("--min-age", "0")), (False, ("--min-age", "0"))],
    ids=["old-object-default", "old-object-min-age-0", "new-object-min-age-0"],
)
def test_gc_between_a_runs_store_and_its_record_keeps_the_output(cli, stop, planted, age):
    # The run has stored its output (found in place, or written) and is stopped before recording
    # it; a whole gc runs in that gap.
    digest = plant(cli.home, 1) if planted else digest_of(1)
    run = stop(cli.argv("run", "remake.py:one", "--set", "seed=1"), "runner.task_done")
    assert digest not in cli.json("gc", *age)["removed"]
    run.finish()
    assert digest in recorded(cli.home)
    assert lost(cli.home) == []
    assert history.check(home=cli.home) == []


@AGES
def test_a_store_between_gcs_listing_and_its_deletes_keeps_the_output(cli, stop, age):
    # gc lists the old orphan; the run stores the same output and stops before recording it;
    # gc goes on and ends; then the run records.
    digest = plant(cli.home, 1)
    gc = stop(cli.argv("gc", "--json", *age), "gc.listed")
    run = stop(cli.argv("run", "remake.py:one", "--set", "seed=1"), "runner.task_done")
    assert digest not in removed(gc.finish())
    run.finish()
    assert digest in recorded(cli.home)
    assert lost(cli.home) == []
    assert history.check(home=cli.home) == []


@AGES
def test_a_store_before_gc_started_recorded_after_gc_listed_keeps_the_output(cli, stop, age):
    # The run stores the output and stops; gc starts and lists; the run records; gc deletes.
    digest = plant(cli.home, 1)
    run = stop(cli.argv("run", "remake.py:one", "--set", "seed=1"), "runner.task_done")
    gc = stop(cli.argv("gc", "--json", *age), "gc.listed")
    run.finish()
    assert digest not in removed(gc.finish())
    assert digest in recorded(cli.home)
    assert lost(cli.home) == []
    assert history.check(home=cli.home) == []


def test_a_run_between_gcs_delete_commit_and_its_unlink_keeps_the_output(cli, stop):
    # gc has committed the deletion of the row and not yet removed the file; a whole run stores
    # the same output (finding the file in place) and records it; then gc goes on.
    digest = plant(cli.home, 1)
    gc = stop(cli.argv("gc", "--json", "--min-age", "0"), "db.after_commit")
    cli.ok("run", "remake.py:one", "--set", "seed=1")
    assert digest not in removed(gc.finish())
    assert digest in recorded(cli.home)
    assert lost(cli.home) == []
    assert history.check(home=cli.home) == []


@AGES
def test_a_model_registered_while_gc_is_stopped_after_listing_keeps_its_file(cli, stop, age):
    # Registry versions refer to objects too: registering a model whose bytes equal an old orphan.
    digest = plant(cli.home, 1)
    gc = stop(cli.argv("gc", "--json", *age), "gc.listed")
    register = subprocess.run(
        [sys.executable, "register.py", "1"], env=cli.env(), cwd=cli.root, capture_output=True, text=True
    )
    assert register.returncode == 0, register.stderr
    assert digest not in removed(gc.finish())
    assert digest in recorded(cli.home)
    assert lost(cli.home) == []
    assert history.check(home=cli.home) == []


def test_a_model_stored_before_gc_and_registered_after_it_is_stored_again(cli, stop):
    # The registry wrote the model's bytes and stops before its transaction; gc --min-age 0 removes
    # the object (nothing refers to it yet, and it is older than gc); the registration then
    # writes it again instead of recording a version whose bytes are gone.
    digest = digest_of(2)
    register = stop([sys.executable, "register.py", "2"], "artifact.dir_fsynced")
    assert cli.json("gc", "--min-age", "0")["removed"] == [digest]
    assert register.finish().stdout == "1\n"
    assert digest in recorded(cli.home)
    assert lost(cli.home) == []
    assert history.check(home=cli.home) == []


# --- seeded interleavings ------------------------------------------------------------------------


def _interleave(cli: Cli, rng: random.Random, iteration: int) -> list[Result]:
    """Two runs re-creating planted old objects beside one gc, with seeded delays at the gaps.

    Each run maps over four seeds: three outputs are found in place as old orphans, the fourth is
    new. One more old orphan per run is never computed again: garbage that gc must remove.
    """
    procs = []
    for side in range(2):
        seeds = [iteration * 100 + side * 10 + j for j in range(4)]
        for seed in [*seeds[:3], iteration * 100 + side * 10 + 9]:
            plant(cli.home, seed)
        point = f"runner.task_done:sleep:{rng.uniform(0, 0.3):.3f}:{rng.randint(1, 4)}"
        procs.append((["run", "remake.py:many", "--set", f"seeds=[{','.join(map(str, seeds))}]"], point))
    age = rng.choice([(), ("--min-age", "0")])
    procs.append((["gc", "--json", *age], f"gc.listed:sleep:{rng.uniform(0, 0.4):.3f}"))
    rng.shuffle(procs)
    started = []
    for args, point in procs:
        time.sleep(rng.uniform(0, 0.2))
        proc = subprocess.Popen(
            cli.argv(*args),
            env=cli.env({"SUIRO_FAULTPOINTS": point}),
            cwd=cli.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        started.append((args, proc))
    results = []
    for args, proc in started:
        out, err = proc.communicate(timeout=120)
        results.append(Result(tuple(args), proc.returncode, out, err))
    return results


def _loop(cli: Cli, seed: int, iterations: int) -> None:
    rng = random.Random(seed)
    missing = []
    for iteration in range(iterations):
        for result in _interleave(cli, rng, iteration):
            assert result.returncode == 0, f"iteration {iteration}: {result}"
        missing += lost(cli.home)
        problems = history.check(home=cli.home)
        assert missing == [] and problems == [], f"iteration {iteration} (seed {seed}): {problems}"
    outputs = recorded(cli.home)
    assert len(outputs) >= iterations * 8, "every run recorded its outputs"
    cli.ok("gc", "--min-age", "0")  # nothing is running now: all the garbage goes, nothing else
    on_disk = set(ArtifactStore(cli.home / "artifacts").iter_digests())
    garbage = {digest_of(i * 100 + side * 10 + 9) for i in range(iterations) for side in range(2)}
    assert on_disk <= outputs and not garbage & on_disk, "an unreferenced object is left"
    assert lost(cli.home) == [] and history.check(home=cli.home) == []


def test_r19_gc_beside_runs_re_creating_old_objects_loses_no_recorded_output(cli):
    _loop(cli, seed=19, iterations=3)  # ~1.5 s each; the slow tier runs 150


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_r19_gc_beside_runs_re_creating_old_objects_many_seeds(cli):
    _loop(cli, seed=1919, iterations=150)
