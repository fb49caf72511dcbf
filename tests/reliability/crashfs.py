"""CrashFS: what a directory tree would hold after a power cut, on the most pessimistic POSIX disk.

The model (SQLite's crash VFS, ``test6.c``, for one directory tree): what is durable is

- a directory's listing (name -> inode) as it was at its last ``fsync``;
- a file's (an inode's) bytes as they were at its last ``fsync``;
- everything that existed when the epoch started (``CrashFS.start``): the tree was synced then.

Nothing else is: a file renamed into a folder that was not fsynced afterwards vanishes; a new
folder whose parent was not fsynced vanishes with everything in it; a durable entry whose inode
was never fsynced keeps a seeded random choice of nothing, a prefix of its bytes, or its full
length with a zero-filled tail (the block-allocation case that fools a size check).

How it is observed: the processes under test run with ``CrashFS.env()``, which puts
``crashfs_site/`` first on ``PYTHONPATH``; its ``sitecustomize`` calls ``install()`` in every
Python process started with it (``suiro``, forked workers and fresh worker interpreters alike),
which wraps ``os.fsync``. No seam in the product is needed: it calls ``os.fsync`` on files and
on folder descriptors. For each fsync under the root the wrapper appends one JSON line to
``journal.jsonl`` (one ``O_APPEND`` write, so a SIGKILL loses none and tears none): the folder's
listing, or the file's inode and bytes (kept once per content in ``blobs/``). The record is made
just before the real fsync; a process killed in between never saw the fsync return, so either
outcome is one the code under test had to expect. After every process is dead (``kill_group``),
``power_loss`` replays the journal from the root's inode down, builds the durable tree beside
the root and swaps it in; that ends the epoch.

The wrapper can also be the crash: ``env(crash_at=(n, "before"|"after"))`` kills the process
group at the n-th fsync of the store in the run, counted over all its processes, just before or
just after it (SQLite's crash tests do the same at the n-th sync). ``for_copy`` carries an epoch
over to a copy of the tree (inodes mapped by path), so a prepared state is reused cheaply.

Limits: inode numbers are the identities, so deleting a durable file and reusing its number in
one epoch is not modelled (the tests delete no object inside an epoch); an interpreter's own
``sitecustomize``, if it had one, is shadowed in the processes under test (this venv has none).
``records()`` lets a test assert that the wrapper saw the writes, so a product that stopped
calling ``os.fsync`` through the module cannot pass by accident. SQLite is not under CrashFS: it
syncs in C.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SITE = Path(__file__).resolve().parent / "crashfs_site"
ENV_ROOT, ENV_JOURNAL, ENV_CRASH = "CRASHFS_ROOT", "CRASHFS_JOURNAL", "CRASHFS_CRASH_AT"
#: The process group of whoever armed the crash: never killed, whatever the child's group.
ENV_SPARE = "CRASHFS_SPARE_GROUP"
#: Seconds (at most, random) between taking a record and journaling it: widens races for self-tests.
ENV_DELAY = "CRASHFS_RECORD_DELAY"
_JOURNAL, _BLOBS, _TICKS, _LOCK = "journal.jsonl", "blobs", "ticks", "lock"
#: Kinds of directory entries: regular file, directory, symbolic link, anything else.
_KINDS = ((stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"))


@dataclass(frozen=True)
class Loss:
    """What a power loss changed, as paths relative to the root (for messages and self-tests)."""

    #: Present before, absent after: never reached a durable listing.
    dropped: list[str] = field(default_factory=list)
    #: Kept with their last fsynced bytes, which differ from what the processes last wrote.
    reverted: list[str] = field(default_factory=list)
    #: Durable entries whose inode was never fsynced: empty, a prefix, or zero-filled.
    torn: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CrashFS:
    """One epoch of the pessimistic disk: the tree at ``root`` and its journal folder."""

    root: Path
    journal: Path

    @classmethod
    def start(cls, root: Path, journal: Path) -> CrashFS:
        """Begin an epoch: everything now under ``root`` (which must exist) counts as durable."""
        fs = cls(Path(root), Path(journal))
        assert fs.root.is_dir(), f"the CrashFS root {root} must exist"
        assert not _is_under(os.path.realpath(journal), os.path.realpath(root)), "journal inside the root"
        (fs.journal / _BLOBS).mkdir(parents=True)
        lines = [{"root": os.lstat(fs.root).st_ino}]
        for folder, dirs, files in os.walk(fs.root):
            lines.append(_listing_record(folder))
            for name in files:
                path = os.path.join(folder, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    lines.append(_file_record(path, os.lstat(path).st_ino, fs.journal))
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        (fs.journal / _JOURNAL).write_text("".join(json.dumps(line) + "\n" for line in lines))
        return fs

    @classmethod
    def empty(cls, folder: Path) -> CrashFS:
        """A new epoch on an empty ``folder/root``, journaled in ``folder/journal``."""
        (Path(folder) / "root").mkdir(parents=True)
        return cls.start(Path(folder) / "root", Path(folder) / "journal")

    def env(self, crash_at: tuple[int, str] | None = None) -> dict[str, str]:
        """Environment for processes to journal into this epoch (and crash at the n-th fsync).

        Also resets the fsync count, so each armed run counts from one.

        Args:
            crash_at: ``(n, "before" | "after")``: SIGKILL the process group at the n-th fsync
                under the root (and at every later one), counted over all processes of the run.
                Start the run with ``start_new_session=True`` so its workers die with it; the
                group of the process calling ``env`` is never killed (only the syncing process).
        """
        with contextlib.suppress(FileNotFoundError):
            (self.journal / _TICKS).unlink()
        # Absolute: relative entries would resolve against the child's cwd, not this process's.
        paths = [
            str(SITE),
            *(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p),
        ]
        env = {"PYTHONPATH": os.pathsep.join(paths), ENV_ROOT: str(self.root), ENV_JOURNAL: str(self.journal)}
        if crash_at is not None:
            n, when = crash_at
            assert n >= 1 and when in ("before", "after"), crash_at
            env[ENV_CRASH] = f"{n}:{when}"
            env[ENV_SPARE] = str(os.getpgrp())
        return env

    def records(self) -> list[dict[str, Any]]:
        """Every complete journal line, oldest first (the start snapshot included)."""
        text = (self.journal / _JOURNAL).read_text()
        complete = text[: text.rfind("\n") + 1]  # a torn last line never happened
        return [json.loads(line) for line in complete.splitlines()]

    def power_loss(self, rng: random.Random) -> Loss:
        """Replace the tree by what the disk would hold after a power cut now; ends the epoch."""
        return power_loss(self.root, self.journal, rng)

    def for_copy(self, root: Path, journal: Path) -> CrashFS:
        """The same epoch for a copy of the tree at ``root`` (``shutil.copytree`` of ``self.root``).

        A copy has new inode numbers: they are mapped by path, so a prepared epoch can be reused
        by many tests. Inodes no longer reachable from the root keep numbers no inode can have.
        """
        mapping = {}
        for folder, dirs, files in os.walk(self.root):
            rel = os.path.relpath(folder, self.root)
            for name in ["", *dirs, *files]:
                src, dst = os.path.join(folder, name), os.path.join(root, rel, name)
                mapping[os.lstat(src).st_ino] = os.lstat(dst).st_ino

        def ino(old: int) -> int:
            return mapping.get(old, -old)

        lines = []
        for line in self.records():
            if "root" in line:
                line = {"root": ino(line["root"])}
            elif "dir" in line:
                line = {
                    "dir": ino(line["dir"]),
                    "entries": {n: [ino(e[0]), *e[1:]] for n, e in line["entries"].items()},
                }
            else:
                line = {**line, "file": ino(line["file"])}
            lines.append(json.dumps(line) + "\n")
        copy = CrashFS(Path(root), Path(journal))
        shutil.copytree(self.journal / _BLOBS, copy.journal / _BLOBS, copy_function=os.link)
        (copy.journal / _JOURNAL).write_text("".join(lines))
        return copy


def power_loss(root: Path, journal: Path, rng: random.Random) -> Loss:
    """Rebuild ``root`` as the durable state its ``journal`` describes; every writer must be dead.

    Args:
        root: the tree the epoch started on.
        journal: its journal folder.
        rng: chooses what a durable but never fsynced file holds (seed it).

    Returns:
        What changed compared to the tree as the dead processes left it.
    """
    fs = CrashFS(Path(root), Path(journal))
    root_ino, dirs, files = None, {}, {}
    for line in fs.records():  # the latest record of each inode wins
        if "root" in line:
            root_ino = line["root"]
        elif "dir" in line:
            dirs[line["dir"]] = line["entries"]
        else:
            files[line["file"]] = line["blob"]
    assert root_ino is not None, f"{journal} has no epoch start"
    before = _tree(fs.root)
    by_inode = {ino: data for ino, data in before.values() if data is not None}
    staging = fs.root.with_name(fs.root.name + ".crashfs-new")
    torn: list[str] = []

    def build(folder: Path, ino: int, rel: str) -> None:
        folder.mkdir()
        for name, (child, kind, *link) in sorted(dirs.get(ino, {}).items()):
            path, child_rel = folder / name, os.path.join(rel, name)
            if kind == "d":
                build(path, child, child_rel)
            elif kind == "l":
                path.symlink_to(link[0])
            elif kind == "f":
                if child in files:
                    data = (fs.journal / _BLOBS / files[child]).read_bytes()
                else:
                    data = _unsynced(by_inode.get(child, b""), rng)
                    torn.append(child_rel)
                path.write_bytes(data)

    build(staging, root_ino, "")
    after = _tree(staging)
    trash = fs.root.with_name(fs.root.name + ".crashfs-old")
    os.rename(fs.root, trash)
    os.rename(staging, fs.root)
    shutil.rmtree(trash)
    return Loss(
        dropped=sorted(set(before) - set(after)),
        reverted=sorted(p for p in set(before) & set(after) if before[p][1] != after[p][1] and p not in torn),
        torn=sorted(torn),
    )


def kill_group(pgid: int, timeout: float = 30) -> None:
    """The power goes out for a process group: SIGKILL it and wait until none of it runs.

    Raises:
        AssertionError: a member is still running after ``timeout`` seconds.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while _group_members(pgid):
        assert time.monotonic() < deadline, f"processes {_group_members(pgid)} outlived SIGKILL"
        time.sleep(0.01)


def install() -> None:
    """Journal every ``os.fsync``/``os.fdatasync`` under ``$CRASHFS_ROOT`` (the child side)."""
    root = os.path.realpath(os.environ[ENV_ROOT])
    journal = Path(os.environ[ENV_JOURNAL])
    crash = os.environ.get(ENV_CRASH)
    n, when = (int(crash.split(":")[0]), crash.split(":")[1]) if crash else (0, "")
    delay = float(os.environ.get(ENV_DELAY, "0"))

    def wrap(real: Any) -> Any:
        def synced(fd: Any) -> None:
            fd = fd if isinstance(fd, int) else fd.fileno()
            path = _fd_path(fd)
            if path is None or not _is_under(path, root):
                return real(fd)
            due = n > 0 and _tick(journal) >= n
            if due and when == "before":
                _crash()
            _record(fd, journal, delay)
            real(fd)
            if due:
                _crash()
            return None

        return synced

    os.fsync = wrap(os.fsync)
    os.fdatasync = wrap(os.fdatasync)


def _record(fd: int, journal: Path, delay: float) -> None:
    """Journal what an fsync of ``fd`` makes durable.

    Taking the record and appending it happen under one lock (``flock``, so across processes):
    a listing taken before another thread's mkdir must never land after that thread's newer
    listing, or replaying "the latest record wins" would drop an entry whose fsync returned.
    """
    lock = os.open(journal / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the close below, or by the kernel at a kill
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            record = _listing_record(f"/proc/self/fd/{fd}", info.st_ino)
        else:
            record = _file_record(f"/proc/self/fd/{fd}", info.st_ino, journal)
        if delay:
            time.sleep(random.uniform(0, delay))
        _append(journal / _JOURNAL, json.dumps(record) + "\n")
    finally:
        os.close(lock)


def _listing_record(folder: str, ino: int | None = None) -> dict[str, Any]:
    entries = {}
    with os.scandir(folder) as found:
        for entry in found:
            with contextlib.suppress(FileNotFoundError):  # removed while listing: either is fine
                info = entry.stat(follow_symlinks=False)
                kind = next((k for test, k in _KINDS if test(info.st_mode)), "o")
                link = [os.readlink(entry.path)] if kind == "l" else []
                entries[entry.name] = [info.st_ino, kind, *link]
    return {"dir": os.lstat(folder).st_ino if ino is None else ino, "entries": entries}


def _file_record(path: str, ino: int, journal: Path) -> dict[str, Any]:
    with open(path, "rb") as file:  # through /proc/self/fd: works for write-only and unlinked files
        data = file.read()
    digest = hashlib.sha256(data).hexdigest()
    blob = journal / _BLOBS / digest
    if not blob.exists():
        temp = blob.with_name(f"{digest}.{os.getpid()}.{threading.get_ident()}.tmp")
        temp.write_bytes(data)
        os.replace(temp, blob)  # a killed writer leaves a temp file, never a short blob
    return {"file": ino, "blob": digest, "size": len(data)}


def _append(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _tick(journal: Path) -> int:
    """Count one store fsync of this run, over all its processes; return the count so far."""
    fd = os.open(journal / _TICKS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b".")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _crash() -> None:
    """The power goes: for this process's group, unless that is the test's own, else for itself."""
    if os.getpgrp() != int(os.environ.get(ENV_SPARE, os.getpgrp())):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").removesuffix(" (deleted)")
    except OSError:
        return None


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _unsynced(data: bytes, rng: random.Random) -> bytes:
    """What a never fsynced file may hold after a power cut: nothing, a prefix, or zeros at the end."""
    cut = rng.randrange(len(data)) if data else 0
    choice = rng.choice(("empty", "prefix", "zeros"))
    if choice == "empty":
        return b""
    return data[:cut] if choice == "prefix" else data[:cut] + bytes(len(data) - cut)


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root`` by relative path: its inode and, for a regular file, its bytes."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            data = Path(path).read_bytes() if stat.S_ISREG(info.st_mode) else None
            found[os.path.relpath(path, root)] = (info.st_ino, data)
    return found


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of group ``pgid``, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                    members.append(int(entry.name))
    return members
