"""R3 for the artifact store alone: a ``put`` that returned survives a power loss, at every crash point.

A writer is killed just before or just after each of its fsyncs (CrashFS counts them), leaving
a folder it made or an object it renamed into place that exists but is not yet durable; then a
second process puts the same bytes, and the power goes. What the second ``put`` returned must be
there, whole: its caller records it as durable next (G3). This found the two ways the store used
to trust what a dead writer left unsynced: an existing object was kept without fsyncing it and
its folder, and an existing folder was used without fsyncing its parent.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

from reliability.crashfs import CrashFS

from suiro.store.artifacts import ArtifactStore

PUT = """
import sys
from suiro.store.artifacts import ArtifactStore

print(ArtifactStore(sys.argv[1]).put_bytes(b"power loss" * 2000))
"""


def _put(fs: CrashFS, crash_at: tuple[int, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``put_bytes`` in a fresh process journaling into ``fs``; it prints the digest."""
    return subprocess.run(
        [sys.executable, "-c", PUT, str(fs.root)],
        env={**os.environ, **fs.env(crash_at)},
        start_new_session=True,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_put_that_returned_survives_a_power_loss_whatever_fsync_the_last_writer_died_at(tmp_path):
    # A writer killed at any of its fsyncs leaves a folder or an object that exists but is not
    # durable; the next put of the same bytes must not trust it (it returns, so its caller records
    # the object as durable).
    fs = CrashFS.empty(tmp_path / "count")
    snapshot = len(fs.records())
    put = _put(fs)
    assert put.returncode == 0, put
    fsyncs = len(fs.records()) - snapshot
    assert fsyncs >= 2, "the journal saw no fsync of the object and of its folder"
    fs.power_loss(random.Random(0))
    assert ArtifactStore(fs.root).verify(put.stdout.strip()), "a put into an empty store was lost"
    lost = []
    for n in range(1, fsyncs + 1):
        for when in ("before", "after"):
            fs = CrashFS.empty(tmp_path / f"{n}-{when}")
            killed = _put(fs, crash_at=(n, when))
            assert killed.returncode == -signal.SIGKILL, killed
            put = _put(fs)
            assert put.returncode == 0, put
            fs.power_loss(random.Random(n))
            if not ArtifactStore(fs.root).verify(put.stdout.strip()):
                lost.append(f"{when} fsync {n}")
    assert lost == [], "a put was lost after the previous writer died at these points"
