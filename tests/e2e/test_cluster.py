"""The multi-machine setup end to end: records in PostgreSQL, artifacts in S3, tasks on Dask.

Every piece is a real server in a process of its own on 127.0.0.1: PostgreSQL (``postgres_server``),
an S3-compatible server (moto, ``s3_server``), a Dask scheduler and a Dask worker started with
Dask's own command line. Machine A runs ``suiro run -e dask --dask-address ...`` with nothing but
the URLs in its environment; one task fails on purpose the first time. Machine B (another
process, folder and empty ``SUIRO_HOME``, only the URLs) resumes the run and reads it back. The
worker has its own folder and ``SUIRO_HOME``, only the storage's endpoint and key (no ``SUIRO_DB``,
no ``SUIRO_ARTIFACTS``), and, where the host allows it (root, ``unshare``), the machines' folders
are hidden from it: it sees the runner's home no more than a worker on another machine would.
"""

from __future__ import annotations

import ast
import collections
import json
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipelines.machines import Machine, base_env, can_hide, start_scheduler, start_worker

pytest.importorskip("distributed")

FLOW = """
    import os
    from pathlib import Path

    from suiro import context, pipeline, task, unmapped

    SHARED = Path({shared!r})


    def ledger(name):
        # Outside suiro's control, in a folder the test shares with the worker: what really ran, where.
        with (SHARED / "ledger.txt").open("a") as handle:
            handle.write(f"{{name}} {{context().run_id}} {{os.getcwd()}}\\n")


    @task
    def source(n: int) -> list[int]:
        ledger("source")
        print(f"made {{n}} numbers")
        return list(range(n))


    @task
    def part(xs: list[int], k: int) -> int:
        ledger(f"part[{{k}}]")
        return sum(x for x in xs if x % 3 == k)


    @task
    def flaky(sums: list[int]) -> int:
        ledger("flaky")
        flag = SHARED / "failed-once"
        if not flag.exists():
            flag.touch()
            raise RuntimeError("fails on purpose the first time")
        return sum(sums)


    @task
    def report(total: int, xs: list[int]) -> dict:
        ledger("report")
        return {{"total": total, "count": len(xs)}}


    @pipeline
    def cluster_flow(n: int = 5000):
        xs = source(n)
        sums = part.map(unmapped(xs), [0, 1, 2])
        return report(flaky(sums), xs)
"""
OUTPUT = {"total": sum(range(5000)), "count": 5000}

#: Lists a bucket's objects with s3fs in a process of its own (s3fs starts an event-loop thread,
#: kept out of the test process): {key: sha256 of its bytes}.
_LIST = """
import hashlib, json, sys
import s3fs
fs = s3fs.S3FileSystem()
print(json.dumps({key: hashlib.sha256(fs.cat_file(key)).hexdigest() for key in fs.find(sys.argv[1])}))
"""


def bucket_objects(root: Path, settings: dict[str, str], url: str) -> dict[str, str]:
    """Every object under ``url`` (``s3://bucket/prefix``) with the sha256 of its bytes."""
    proc = subprocess.run(
        [sys.executable, "-c", _LIST, url.removeprefix("s3://")],
        env={**base_env(root), **{k: v for k, v in settings.items() if k.startswith("AWS_")}},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def ledger(shared: Path) -> list[tuple[str, str, str]]:
    """(task, run id, working directory) per execution, in order."""
    path = shared / "ledger.txt"
    return [tuple(line.split(" ", 2)) for line in path.read_text().splitlines()] if path.exists() else []


@dataclass
class Cluster:
    """The servers of the multi-machine setup, and the settings that reach them."""

    root: Path
    #: Where machines' folders go: hidden from the worker when the host allows it.
    machines: Path
    address: str
    urls: dict[str, str]
    artifacts: str
    worker_root: Path
    worker_home: Path

    def machine(self, name: str, *, dask: bool = False) -> Machine:
        """A machine with only the URLs (and the scheduler's address, if ``dask``)."""
        extra = {"SUIRO_DASK_ADDRESS": self.address} if dask else {}
        return Machine(self.machines / name, {**self.urls, **extra})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server, s3_server) -> Iterator[Cluster]:
    """A database, a bucket, a Dask scheduler and one worker (two threads), for the module."""
    root = tmp_path_factory.mktemp("cluster")
    bucket = f"cluster-{uuid.uuid4().hex[:8]}"
    s3_server.make_bucket(bucket)
    artifacts = f"s3://{bucket}/suiro"
    urls = {
        "SUIRO_DB": postgres_server.new_database("cluster"),
        "SUIRO_ARTIFACTS": artifacts,
        **s3_server.env,
    }
    machines = root / "machines"
    machines.mkdir()
    address, scheduler = start_scheduler(root / "scheduler")
    try:
        # The worker: only the storage's endpoint and key (the store's location comes with each
        # attempt), no SUIRO_DB (workers never touch the records), a home of its own, and no
        # machine's folder visible when the host can hide them.
        worker_home = root / "worker" / "home"
        worker_env = {k: v for k, v in urls.items() if k.startswith("AWS_")} | {
            "SUIRO_HOME": str(worker_home)
        }
        if not can_hide():
            warnings.warn(
                "the Dask worker of test_cluster sees the machines' folders (hiding them needs root and "
                "unshare): a worker writing into the runner's home would go unnoticed",
                stacklevel=1,
            )
        worker = start_worker(root / "worker", address, worker_env, hide=[machines] if can_hide() else [])
        try:
            yield Cluster(root, machines, address, urls, artifacts, root / "worker", worker_home)
        finally:
            worker.stop()
    finally:
        scheduler.stop()


def test_run_on_postgres_s3_and_dask_then_resume_from_another_machine(tmp_path, cluster):
    shared = tmp_path / "shared"
    shared.mkdir()
    # The pipeline's code, deployed at the same path on every machine (as an image or a checkout
    # at a fixed path would be): a run records the path it was started from, and resume loads it.
    flow = tmp_path / "code" / "flow.py"
    flow.parent.mkdir()
    flow.write_text(textwrap.dedent(FLOW).format(shared=str(shared)).lstrip())
    a, b = cluster.machine("resume-a"), cluster.machine("resume-b", dask=True)

    failed = a.expect(1, "run", str(flow), "-e", "dask", "--dask-address", cluster.address)
    first = failed.run_id
    assert "fails on purpose the first time" in failed.stdout + failed.stderr, str(failed)
    resumed = b.ok("resume", first)
    assert f"resuming run {first}" in resumed.stdout, str(resumed)
    assert ast.literal_eval(resumed.output) == OUTPUT
    second = resumed.run_id

    # What really ran, and where: every task once on the worker, the failed one once more.
    ran = ledger(shared)
    counts = collections.Counter(task for task, _, _ in ran)
    assert counts == {"source": 1, "part[0]": 1, "part[1]": 1, "part[2]": 1, "flaky": 2, "report": 1}, ran
    assert {cwd for _, _, cwd in ran} == {str(cluster.worker_root)}, "every task ran on the Dask worker"
    assert [run for task, run, _ in ran if task == "flaky"] == [first, second]

    # Both machines read the same records: B sees A's run (A reads its log file below).
    runs = {r["id"]: r for r in b.json("runs")}
    assert runs[first]["state"] == "failed" and runs[second]["state"] == "success"
    assert runs[second]["parent_run_id"] == first
    tasks = b.tasks(second)
    assert {key: t["state"] for key, t in tasks.items()} == {
        "source": "cached",
        "part": "cached",
        "flaky": "success",
        "report": "success",
    }
    assert tasks["source"]["cached_from"] == first
    assert (tasks["source"]["attempts"], tasks["flaky"]["attempts"]) == (0, 1)
    # The worker could not write the log files (they are in the runner's home): the runner did.
    assert "made 5000 numbers" in a.ok("logs", first, "source").stdout

    # The outputs are objects in the bucket, each named by the sha256 of its bytes.
    objects = bucket_objects(tmp_path, cluster.urls, cluster.artifacts)
    named = {key: digest for key, digest in objects.items() if len(_digest_of(key)) == 64}
    assert named, f"no content-addressed object under {cluster.artifacts}: {sorted(objects)}"
    assert all(_digest_of(key) == digest for key, digest in named.items()), named
    assert tasks["source"]["output_digest"] in {_digest_of(key) for key in named}, "source's 24 kB list"

    # The store is whole, seen from the second machine; nothing went to a local home or the worker's.
    b.ok("check")
    for home in (a.home, b.home, cluster.worker_home):
        kept = [str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()] if home.exists() else []
        assert not [p for p in kept if p.startswith(("suiro.db", "artifacts"))], f"{home}: {kept}"


def _digest_of(key: str) -> str:
    """``.../objects/ab/cdef...`` -> ``abcdef...``; anything else -> ``""``."""
    parts = key.split("/")
    joined = "".join(parts[-2:])
    return joined if len(joined) == 64 and all(c in "0123456789abcdef" for c in joined) else ""


@pytest.mark.slow
def test_the_builtin_pipeline_on_the_cluster_registers_its_model_in_the_shared_records(cluster):
    """The README's own pipeline, as docs/cluster.md step 3 runs it (about 40 s on 2 cores): its
    ``register`` task runs on a worker that has no database, and the model must still land in the
    records every machine reads, its file in the bucket."""
    a = cluster.machine("builtin-a", dask=True)
    done = a.ok("run", "-e", "dask", "-w", "2")
    assert "production: sklearn_breast_cancer v1" in done.stdout, str(done)

    b = cluster.machine("builtin-b")
    models = b.json("models", "list")
    assert [(m["name"], m["version"], m["stage"]) for m in models] == [
        ("sklearn_breast_cancer", 1, "production")
    ]
    assert models[0]["run_id"] == done.run_id
    stored = {_digest_of(key) for key in bucket_objects(cluster.root, cluster.urls, cluster.artifacts)}
    assert models[0]["artifact_digest"] in stored, "the model's file is in the bucket"
    b.ok("check")


def test_a_local_artifact_folder_with_workers_on_another_machine_is_one_sentence(tmp_path, cluster):
    """The trap of a cluster without SUIRO_ARTIFACTS: the run's outputs would go to a folder the
    worker's machine does not have. The first task says so, naming the folder and the fix."""
    if not can_hide():
        pytest.skip("needs a worker that cannot see the runner's folders (root and unshare)")
    flow = tmp_path / "flow.py"
    flow.write_text(textwrap.dedent(FLOW).format(shared=str(tmp_path)).lstrip())
    local = cluster.machine("local-store")
    local.settings.pop("SUIRO_ARTIFACTS")
    failed = local.expect(1, "run", str(flow), "-e", "dask", "--dask-address", cluster.address)
    said = failed.stdout + failed.stderr
    assert f"the run's artifact folder {local.home / 'artifacts'} is not on this machine" in said, said
    assert "set SUIRO_ARTIFACTS to a bucket every machine reaches" in said
