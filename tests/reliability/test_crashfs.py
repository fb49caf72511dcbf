"""The CrashFS harness itself: after a power loss a tree holds what was fsynced, and nothing else.

Each case runs a small Python writer in a child process journaling into a fresh epoch, then
checks what ``power_loss`` left: entries by their folders' last fsynced listings, bytes by their
files' last fsync, never-fsynced bytes torn, and the crash at the n-th fsync killing the group.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from reliability.crashfs import ENV_DELAY, CrashFS, Loss
from reliability.rel_harness import is_alive

WRITER = """
import os

root = os.environ["CRASHFS_ROOT"]

def sync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def write(name, data, *, synced):
    with open(os.path.join(root, name), "wb") as file:
        file.write(data)
        file.flush()
        if synced:
            os.fsync(file.fileno())

write("synced", b"s" * 100, synced=True)  # fsynced, then listed by root's fsync: kept
os.mkdir(os.path.join(root, "new"))
write("new/inside", b"i" * 100, synced=True)
sync(os.path.join(root, "new"))  # new/ is in root's listing below, inside is in new/'s: kept
write("kept", b"k" * 100, synced=True)
write("listed", b"l" * 100, synced=False)  # in root's listing, bytes never fsynced: torn
os.rename(os.path.join(root, "old"), os.path.join(root, "renamed"))
sync(root)
with open(os.path.join(root, "kept"), "ab") as file:
    file.write(b"more")  # after its last fsync: lost
write("late", b"x" * 100, synced=True)  # fsynced, but root is not fsynced after it: gone
write("unsynced", b"u" * 100, synced=False)  # never fsynced and not in any fsynced listing: gone
os.rename(os.path.join(root, "renamed"), os.path.join(root, "moved"))  # not durable either
"""


def _writer(
    fs: CrashFS, source: str, crash_at: tuple[int, str] | None = None, env: dict[str, str] | None = None
) -> int:
    """Run ``source`` in a Python child journaling into ``fs``, in its own process group."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        env={**os.environ, **fs.env(crash_at), **(env or {})},
        start_new_session=True,
        check=False,
    ).returncode


def test_crashfs_keeps_exactly_what_was_fsynced(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "old").write_bytes(b"o" * 50)  # there before the epoch: durable
    fs = CrashFS.start(root, tmp_path / "journal")
    assert _writer(fs, WRITER) == 0
    lost = fs.power_loss(random.Random(0))
    assert sorted(p.name for p in root.iterdir()) == ["kept", "listed", "new", "renamed", "synced"]
    assert (root / "new" / "inside").read_bytes() == b"i" * 100
    assert (root / "kept").read_bytes() == b"k" * 100
    assert (root / "renamed").read_bytes() == b"o" * 50
    assert (root / "synced").read_bytes() == b"s" * 100
    assert (root / "listed").read_bytes() != b"l" * 100
    assert lost == Loss(dropped=["late", "moved", "unsynced"], reverted=["kept"], torn=["listed"])


def test_crashfs_drops_a_folder_whose_parent_was_not_fsynced(tmp_path):
    fs = CrashFS.empty(tmp_path)
    source = """
        import os
        root = os.environ["CRASHFS_ROOT"]
        os.mkdir(os.path.join(root, "shard"))
        with open(os.path.join(root, "shard", "object"), "wb") as file:
            file.write(b"x")
            os.fsync(file.fileno())
        fd = os.open(os.path.join(root, "shard"), os.O_RDONLY)
        os.fsync(fd)
    """
    assert _writer(fs, source) == 0
    assert fs.power_loss(random.Random(0)).dropped == ["shard", "shard/object"]
    assert list(fs.root.iterdir()) == []


def test_a_never_fsynced_file_is_torn_in_every_way_a_disk_may_tear_it(tmp_path):
    fs = CrashFS.empty(tmp_path)
    source = """
        import os
        root = os.environ["CRASHFS_ROOT"]
        for i in range(30):
            with open(os.path.join(root, str(i)), "wb") as file:
                file.write(b"abcdefgh" * 100)
        fd = os.open(root, os.O_RDONLY)
        os.fsync(fd)
    """
    assert _writer(fs, source) == 0
    assert len(fs.power_loss(random.Random(0)).torn) == 30
    seen = set()
    for path in fs.root.iterdir():
        data = path.read_bytes()
        assert data != b"abcdefgh" * 100
        seen.add("empty" if not data else "zeros" if len(data) == 800 else "prefix")
    assert seen == {"empty", "prefix", "zeros"}


@pytest.mark.parametrize(("when", "journaled"), [("before", 2), ("after", 3)])
def test_crashfs_kills_the_process_group_at_the_nth_fsync(tmp_path, when, journaled):
    fs = CrashFS.empty(tmp_path)
    pid_file = tmp_path / "worker.pid"
    source = f"""
        import os, time
        root = os.environ["CRASHFS_ROOT"]
        if os.fork() == 0:  # a worker in the same group: the power goes for it too
            with open({str(pid_file)!r} + ".tmp", "w") as file:
                file.write(str(os.getpid()))
            os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
            time.sleep(60)
            os._exit(0)
        while not os.path.exists({str(pid_file)!r}):
            time.sleep(0.01)
        for i in range(5):
            with open(os.path.join(root, str(i)), "wb") as file:
                os.fsync(file.fileno())
    """
    snapshot = len(fs.records())
    assert _writer(fs, source, crash_at=(3, when)) == -signal.SIGKILL
    assert len(fs.records()) - snapshot == journaled
    worker = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while is_alive(worker):
        assert time.monotonic() < deadline, "the worker outlived the power loss"
        time.sleep(0.01)


def test_concurrent_fsyncs_of_one_folder_lose_no_entry_a_returned_fsync_made_durable(tmp_path):
    # Two threads each make entries and fsync the shared folder: a listing taken before the
    # other thread's mkdir must never be journaled after that thread's own, newer listing. A
    # random pause between taking a record and journaling it makes that race likely if allowed.
    fs = CrashFS.empty(tmp_path)
    source = """
        import os, threading
        root = os.environ["CRASHFS_ROOT"]

        def make(prefix):
            fd = os.open(root, os.O_RDONLY)
            for i in range(30):
                os.mkdir(os.path.join(root, f"{prefix}{i:03}"))
                os.fsync(fd)
            os.close(fd)

        threads = [threading.Thread(target=make, args=(p,)) for p in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    """
    assert _writer(fs, source, env={ENV_DELAY: "0.005"}) == 0
    # Nothing is ever removed, so each listing journaled must hold every entry of the one before:
    # a power cut after any record then keeps all that an earlier, returned fsync made durable.
    listings = [set(r["entries"]) for r in fs.records() if r.get("dir") == os.lstat(fs.root).st_ino]
    assert len(listings) == 1 + 60
    shrunk = [i for i in range(1, len(listings)) if not listings[i - 1] <= listings[i]]
    assert shrunk == [], "a stale listing was journaled after a newer one"
    fs.power_loss(random.Random(0))
    assert len(list(fs.root.iterdir())) == 60
