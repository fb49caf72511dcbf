"""R12 and S5(b): stored artifacts changed behind suiro's back are never used, and are redone.

After one clean run of the diamond, one object gets a flipped byte, one is truncated and one is
replaced by a symbolic link (to a file holding the right bytes, outside the store). Reading any of
them raises ``corrupt artifact <digest>``; ``suiro check`` lists exactly those three; a consumer
that needs the flipped one fails with that message; later runs re-run each producer once. A
pickle replaced by a same-size payload whose ``__reduce__`` would create a canary is refused
before it is unpickled.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.rel_harness import LEDGER_ENV, objects, output_digests, read_ledger, rows, write_diamond

from suiro import api, history
from suiro.errors import ArtifactCorruptError
from suiro.store.artifacts import ArtifactMeta, ArtifactStore


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "ledger.txt"
    monkeypatch.setenv(LEDGER_ENV, str(path))
    return path


def _run(source: Path, home: Path, **params) -> api.RunResult:
    return api.run(str(source), params=params, executor="sequential", home=home)


def _flip(path: Path, at: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x20
    path.write_bytes(bytes(data))


def test_flipped_truncated_and_linked_objects_are_found_refused_and_redone(tmp_path, suiro_home, ledger):
    source = write_diamond(tmp_path)
    first = _run(source, suiro_home)
    digests = output_digests(suiro_home, first.run_id)
    paths = objects(suiro_home)
    flipped, truncated, linked = digests["left"], digests["right"], digests["load"]
    _flip(paths[flipped])
    with open(paths[truncated], "r+b") as handle:
        handle.truncate(100)
    outside = tmp_path / "outside-copy"
    outside.write_bytes(paths[linked].read_bytes())  # the right bytes, but not a stored object
    paths[linked].unlink()
    paths[linked].symlink_to(outside)

    # Every read refuses them, naming the digest.
    store = ArtifactStore(suiro_home / "artifacts")
    for digest in (flipped, truncated, linked):
        with pytest.raises(ArtifactCorruptError, match=f"corrupt artifact {digest}"):
            store.get_bytes(digest)

    # suiro artifacts verify (and suiro check) list exactly those three, and exit 1.
    cli = Cli(tmp_path, new_home=True)
    cli.home = suiro_home
    for command in (["artifacts", "verify"], ["check"]):
        problems = json.loads(cli.expect(1, *command, "--json").stdout)
        assert sorted(p["subject"] for p in problems) == sorted([flipped, truncated, linked])
        assert {p["kind"] for p in problems} == {"corrupt_artifact"}

    # A consumer of the flipped object (same size, so it looks present) fails naming it; the
    # truncated and linked ones fail the cheap presence check, so their producers simply re-run.
    second = _run(source, suiro_home, label="second")
    assert second.tasks["join"].state.value == "failed"
    (error,) = second.tasks["join"].errors
    assert f"corrupt artifact {flipped}" in error.message
    # join's body never ran: it failed getting its inputs.
    assert {e.task for e in read_ledger(ledger) if e.run_id == second.run_id} == {"load", "right"}
    assert not os.path.islink(paths[linked]), "the producer's rerun replaced the planted link"

    # Before the resume, load's new object gets a flipped byte too: the cheap presence check
    # would reuse it and fail left; --recompute-corrupt re-hashes what it reuses, so load is
    # redone first and the resume succeeds in one go.
    _flip(paths[digests["load"]])
    resumed = api.resume(second.run_id, recompute_corrupt=True, executor="sequential", home=suiro_home)
    assert resumed.ok, resumed.error
    assert {e.task for e in read_ledger(ledger) if e.run_id == resumed.run_id} == {"load", "left", "join"}
    producers = sorted(e.task for e in read_ledger(ledger) if e.task != "join")
    assert producers == ["left", "left", "load", "load", "load", "right", "right"]
    assert output_digests(suiro_home, resumed.run_id) | {"join": None} == digests | {"join": None}
    assert history.check(home=suiro_home) == []
    assert cli.ok("artifacts", "verify").stdout.strip() == "every stored artifact is intact"


def test_run_recompute_corrupt_redoes_a_corrupt_cached_output_instead_of_failing(tmp_path):
    cli = Cli(tmp_path)
    write_diamond(tmp_path)
    env = {LEDGER_ENV: str(tmp_path / "ledger.txt")}
    first = cli.ok("run", "diamond.py", env=env).run_id
    digests = output_digests(cli.home, first)
    _flip(objects(cli.home)[digests["right"]])

    second = cli.ok("run", "diamond.py", "--set", "label=b", "--recompute-corrupt", env=env).run_id

    ran = [e.task for e in read_ledger(tmp_path / "ledger.txt") if e.run_id == second]
    assert sorted(ran) == ["join", "right"], "only the corrupt output's producer (and join, new label)"
    assert output_digests(cli.home, second)["right"] == digests["right"]
    assert (tmp_path / "home" / "artifacts" / "corrupt" / digests["right"]).exists(), "kept aside"
    assert cli.ok("artifacts", "verify").returncode == 0


class _Canary:
    """Unpickling this creates the folder ``path``: proof that the bytes were deserialized."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


PICKLED = """
from suiro import pipeline, task


@task(serializer="pickle")
def produce(n: int) -> list:
    return list(range(n))


@task
def consume(xs: list, label: str) -> str:
    return f"{label}:{len(xs)}"


@pipeline
def pickled(n: int = 5000, label: str = "a"):
    return consume(produce(n), label)
"""


def test_a_tampered_pickle_is_refused_before_it_is_unpickled(tmp_path, suiro_home):
    source = tmp_path / "pickled.py"
    source.write_text(PICKLED)
    first = _run(source, suiro_home)
    digest = output_digests(suiro_home, first.run_id)["produce"]
    path = objects(suiro_home)[digest]
    canary = tmp_path / "CANARY"
    payload = pickle.dumps(_Canary(str(canary)))
    size = path.stat().st_size
    assert len(payload) < size
    path.write_bytes(payload + b"\0" * (size - len(payload)))  # pickle ignores bytes after STOP

    # Control: the payload is live; plain unpickling runs its code.
    control = tmp_path / "CONTROL"
    live = pickle.dumps(_Canary(str(control))) + b"\0" * 10
    code = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", code], input=live, check=True, timeout=60)
    assert control.exists()

    second = _run(source, suiro_home, label="b")  # produce is cached (right size), consume must load it
    assert not canary.exists(), "tampered bytes were unpickled"
    assert second.tasks["consume"].state.value == "failed"
    assert f"corrupt artifact {digest}" in second.tasks["consume"].errors[0].message

    (row,) = rows(suiro_home, "SELECT serializer, size, kind FROM artifacts WHERE digest = ?", (digest,))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload + b"\0" * (size - len(payload)))
    meta = ArtifactMeta(digest, row["serializer"], row["size"], row["kind"])
    with pytest.raises(ArtifactCorruptError, match=f"corrupt artifact {digest}"):
        ArtifactStore(suiro_home / "artifacts").get(meta)
    assert not canary.exists()

    # A rerun that re-hashes what it reuses redoes produce: the store is whole again.
    healed = api.run(str(source), params={"label": "b"}, recompute_corrupt=True, home=suiro_home)
    assert healed.ok and not canary.exists()
