"""R3: a simulated power loss keeps every acknowledged run and tears no artifact (G2, G3, G7).

The artifact store runs on CrashFS (``crashfs.py``): after the processes die, the store is cut
back to what a pessimistic POSIX disk would hold, i.e. only what was fsynced. The database is not
under CrashFS: its fault is the SIGKILL itself, with ``synchronous=FULL`` (the product default;
there is no opt-in for ``NORMAL``, so there is no ``NORMAL`` variant).

Per seed: a fresh copy of a home in which the diamond ran once to completion through the CLI,
on CrashFS (that run is acknowledged: the CLI said it succeeded); a second run with other
parameters, on one of the executors, is killed at a seeded point (a fault point with its nth
hit, the n-th fsync of the store, or a delay); either the power goes at once, or the killed run
is first resumed (a second acknowledged run, which must not trust what the dead one left
unsynced) and the power goes after that. Then: ``PRAGMA integrity_check`` is ``ok``; every
acknowledged run is still ``success`` with every output present and hash-valid; every file in
the store hashes to its name; once the dead run is reaped ``suiro check`` is clean; and resuming
the killed run succeeds with the outputs of an uninterrupted run with its parameters. The
checks use ``suiro.history`` in process, the same calls ``suiro runs`` and ``suiro check`` render.
The artifact store alone is held to the same promise at every crash point in
``test_rel_store_durability.py``.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.crashfs import CrashFS, kill_group
from reliability.rel_harness import (
    LEDGER_ENV,
    clean_digests,
    kept_inline,
    objects,
    output_digests,
    resume_and_compare,
    rows,
    run_ids,
    task_states,
    write_diamond,
)

from suiro import faults, history
from suiro.store.artifacts import ArtifactStore

#: Parameters of the killed run: each gives new outputs for load, left and right.
PARAMS = ({"n": 20001}, {"n": 20002, "k": 2}, {"n": 20003, "label": "y"})
#: How many times each fault point is surely hit in the killed run (threads executor): three new
#: objects, four tasks, and two commits (the run's start, and one while load sleeps), as in R2.
HITS = {
    "artifact.tmp_written": 3,
    "artifact.fsynced": 3,
    "artifact.renamed": 3,
    "artifact.dir_fsynced": 3,
    "runner.task_done": 4,
    "db.before_commit": 2,
    "db.after_commit": 2,
}
#: Store fsyncs the killed run surely makes (a file and its folder per new object), and at most
#: (also tmp/ and objects/ in the root, and objects/ once per shard, once per process).
FSYNCS, MAX_FSYNCS = 6, 11


@dataclass(frozen=True)
class Acked:
    """A run the CLI reported as successful, and the outputs it had then."""

    run_id: str
    outputs: dict[str, str]


@dataclass(frozen=True)
class Plan:
    """How one seed's second run is killed, and when the power goes."""

    seed: int
    executor: str
    params: dict[str, int | str]
    fault: str | None = None
    crash_at: tuple[int, str] | None = None
    delay: float | None = None
    resume_first: bool = False

    @classmethod
    def draw(cls, seed: int) -> Plan:
        """The plan of ``seed``: the same every time, so a failing seed can be run again."""
        rng = random.Random(seed)
        kind = rng.choice(("point", "point", "fsync", "fsync", "delay"))
        common = {
            "seed": seed,
            "executor": rng.choice(("threads", "threads", "processes")),
            "params": rng.choice(PARAMS),
            "resume_first": rng.random() < 0.5,
        }
        if kind == "point":
            point = rng.choice(tuple(HITS))
            return cls(**common, fault=f"{point}:kill:{rng.randint(1, HITS[point])}")
        if kind == "fsync":
            return cls(**common, crash_at=(rng.randint(1, MAX_FSYNCS), rng.choice(("before", "after"))))
        return cls(**common, delay=round(rng.uniform(0.2, 1.0), 3))

    @property
    def surely_killed(self) -> bool:
        """Whether the kill must happen before the run ends (a delay may come too late)."""
        if self.crash_at is not None:
            return self.crash_at[0] <= FSYNCS
        # A worker process counts its own hits of an artifact point, and dies alone.
        return self.fault is not None and (
            self.executor == "threads" or not self.fault.startswith("artifact.")
        )


@dataclass(frozen=True)
class Prepared:
    """A home where the diamond ran once through the CLI on CrashFS, and that epoch."""

    root: Path
    fs: CrashFS
    acked: Acked


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Prepared:
    """Made once: each seed copies it (with its journal) instead of running the first run again."""
    base = tmp_path_factory.mktemp("r3-prepared")
    cli = Cli(base / "run")
    write_diamond(cli.root)
    (cli.home / "artifacts").mkdir()
    fs = CrashFS.start(cli.home / "artifacts", base / "journal")
    snapshot = len(fs.records())
    result = cli.ok("run", "diamond.py", env=fs.env())
    acked = Acked(result.run_id, output_digests(cli.home, result.run_id))
    assert acked.outputs == clean_digests()
    # The wrapper saw the run's writes (a file and a folder per object), so a seed can fail.
    assert len(fs.records()) - snapshot >= FSYNCS, fs.records()[snapshot:]
    return Prepared(cli.root, fs, acked)


def _crash(cli: Cli, args: list[str], env: dict[str, str], delay: float | None) -> int:
    """Run ``suiro *args`` in its own process group until it ends or ``delay`` passes; then the
    power goes for the whole group (workers included). Returns the runner's exit code."""
    with open(cli.root / "crashed-run.txt", "wb") as sink:
        proc = subprocess.Popen(
            cli.argv(*args),
            env=cli.env(env),
            cwd=cli.root,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=90 if delay is None else delay)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            code = proc.wait()
            assert delay is not None, "the run hung"
        kill_group(proc.pid)
    return code


def _verify(cli: Cli, acked: list[Acked]) -> None:
    """What must hold after the power loss, whatever the seed."""
    home = cli.home
    assert rows(home, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    store = ArtifactStore(home / "artifacts")
    for ack in acked:
        assert rows(home, "SELECT state FROM runs WHERE id = ?", (ack.run_id,)) == [{"state": "success"}]
        assert set(task_states(home, ack.run_id).values()) <= {"success", "cached"}
        assert output_digests(home, ack.run_id) == ack.outputs
        for task, digest in ack.outputs.items():
            inline = kept_inline(home, ack.run_id, task, digest)
            if inline is not None:
                assert hashlib.sha256(inline).hexdigest() == digest
            else:
                lost = "torn" if store.has(digest) else "missing"
                assert store.verify(digest), f"acknowledged run {ack.run_id}: {task}'s output {digest} {lost}"
    torn = [d for d, p in objects(home).items() if hashlib.sha256(p.read_bytes()).hexdigest() != d]
    assert torn == [], f"torn objects in the store: {torn}"
    history.runs(home=home)  # any read reaps the dead run
    assert history.check(home=home) == []


def _one_seed(prepared: Prepared, base: Path, plan: Plan) -> None:
    """One seed of R3: kill the second run, lose the power, verify, resume."""
    cli = Cli(base / "run", new_home=True)
    shutil.copytree(prepared.root, cli.root, symlinks=True)
    fs = prepared.fs.for_copy(cli.home / "artifacts", base / "journal")
    ledger = {LEDGER_ENV: str(base / "ledger.txt")}
    acked = [prepared.acked]

    args = ["run", "diamond.py", "-e", plan.executor, *(f"--set={k}={v}" for k, v in plan.params.items())]
    env = {**ledger, **fs.env(plan.crash_at), **({"SUIRO_FAULTPOINTS": plan.fault} if plan.fault else {})}
    code = _crash(cli, args, env, plan.delay)
    if plan.surely_killed:
        assert code != 0, (cli.root / "crashed-run.txt").read_text()
    new = [r for r in run_ids(cli.home) if r != prepared.acked.run_id]
    assert len(new) <= 1, new
    killed = new[0] if new else None
    if code == 0:  # the delay came too late, or a worker never reached its nth hit: acknowledged
        assert killed is not None
        acked.append(Acked(killed, output_digests(cli.home, killed)))
    if killed is not None and rows(cli.home, "SELECT state FROM runs WHERE id = ?", (killed,)) == [
        {"state": "success"}
    ]:
        killed = None  # committed, if not acknowledged: nothing to resume; suiro check covers it
    clean = clean_digests(**plan.params)
    if plan.resume_first and killed is not None:
        resumed = resume_and_compare(cli, {**ledger, **fs.env()}, killed, clean)
        acked.append(Acked(resumed, output_digests(cli.home, resumed)))
        killed = None

    fs.power_loss(random.Random(plan.seed))
    _verify(cli, acked)
    if killed is not None:
        resume_and_compare(cli, ledger, killed, clean)


#: Seeds of the default tier; the slow tier draws 512 more.
QUICK_SEEDS = 8


@pytest.mark.parametrize("seed", range(QUICK_SEEDS))
def test_a_power_loss_keeps_acknowledged_runs_and_tears_no_artifact(prepared, tmp_path, seed):
    plan = Plan.draw(seed)
    try:
        _one_seed(prepared, tmp_path, plan)
    except AssertionError as exc:
        raise AssertionError(f"{plan}: {exc}") from exc


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(QUICK_SEEDS, 520))
def test_a_power_loss_keeps_acknowledged_runs_many_seeds(prepared, tmp_path, seed):
    test_a_power_loss_keeps_acknowledged_runs_and_tears_no_artifact(prepared, tmp_path, seed)


def test_every_fault_point_of_a_run_has_a_known_hit_count():
    off_a_runs_path = {"gc.listed", "scheduler.tick_created", "scheduler.tick_claimed"}
    assert set(faults.POINTS) - set(HITS) == off_a_runs_path, "only gc's and the scheduler's points"
