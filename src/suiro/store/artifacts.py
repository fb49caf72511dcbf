"""Content-addressed artifact store: task outputs as files named by their sha256.

Owns ``<root>/objects/ab/cdef...``, ``<root>/tmp/`` and ``<root>/gc.lock``. An object is absent
or complete at its final path (temp file, fsync, rename, fsync dir; each folder on the way made
durable once per process, whoever created it) and is re-hashed on every read, so flipped, truncated
or linked objects are reported, never deserialized. Small JSON values travel inline in the returned
``ArtifactMeta`` for the caller's database. Must not know runs, tasks or the
database: callers record a meta only after ``put`` returned, when the object is durable (G3).

An object's modification time says when it was last stored: ``put`` sets it to the current time
whether it writes the object or finds it in place, and gc deletes only objects older than its
cutoff (``suiro.store.gc``). A writer's last step on an object's path (the rename into place, or
setting its time) holds ``gc.lock`` shared, gc's check-then-unlink holds it exclusively, so the
two never interleave.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from suiro.errors import ArtifactCorruptError, ArtifactError, ArtifactMissingError, ArtifactStoreError
from suiro.faults import fault
from suiro.store.content import FILES, FIX, ArtifactMeta, ContentStore, check_digest, is_digest
from suiro.store.hashed import HashingWriter

__all__ = ["FILES", "GC_LOCK", "ArtifactMeta", "ArtifactStore"]
_FIX = FIX
# O_NONBLOCK keeps a planted FIFO from hanging the open; it changes nothing for regular files.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: The lock file between writers (shared) and gc's deletes (exclusive), in the store's root.
GC_LOCK = "gc.lock"


class ArtifactStore(ContentStore):
    """Task outputs stored once per distinct content under the local folder ``root``.

    Args:
        root: the store's folder (``$SUIRO_HOME/artifacts``); created on first write.
        inline_limit: JSON values up to this many bytes are returned inline, not written.
    """

    def __init__(self, root: str | Path, *, inline_limit: int = 16_384):
        self.root = Path(root)
        self.scratch = self.root
        self.inline_limit = inline_limit
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` under its sha256 and return the digest.

        An existing object is kept only if it re-hashes correctly: otherwise rerunning the
        producing task, the fix every corruption error suggests, would never repair it. A kept
        object is fsynced with its folder all the same: a writer killed after its rename leaves
        one that is visible but would not survive a power cut, and the caller records it next.
        It is also claimed (made young again, see ``claim``): it may be an old orphan that gc is
        about to delete, and the caller is about to record it. If gc took it first, it is written.

        Raises:
            ArtifactError: the object cannot be written.
        """
        digest = hashlib.sha256(data).hexdigest()
        path = self._checked_path(digest)
        if self.has(digest, len(data)) and self.verify(digest) and self.claim(digest):
            self._settle(path, digest)
        else:
            self._write(path, digest, data)
        return digest

    def put_file(self, path: str | Path) -> tuple[str, int]:
        """Store the bytes of the file at ``path`` (streamed, never all in memory); return (digest, size).

        Raises:
            ArtifactError: the file cannot be read or the object cannot be written.
        """
        try:
            source = open(path, "rb")  # noqa: SIM115 (closed below, after the stream)
        except OSError as exc:
            msg = f"cannot read the file {path} to store it ({exc.strerror or exc}); check it exists"
            raise ArtifactError(f"{msg} and is readable, then rerun the task.", path=str(path)) from exc
        with source:
            return self.put_stream(lambda sink: shutil.copyfileobj(source, sink, 1 << 20))

    def claim(self, digest: str) -> bool:
        """Set the object's modification time to now, so gc keeps it; False if it is not in place.

        gc deletes only objects older than when it started (and than its minimum age), checking
        the time under the exclusive lock, so once this returned True the object stays until gc
        runs again after the caller's record refers to it. Returns False when gc (or anything)
        removed it: the caller must store it again before recording it.

        Raises:
            ArtifactError: the object's time or the store's lock cannot be set (permissions).
        """
        path = self._checked_path(digest)
        now = time.time_ns()
        try:
            with self._lock(shared=True):
                os.utime(path, ns=(now, now), follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except ArtifactError:
            raise
        except OSError as exc:
            msg = f"cannot mark artifact {digest} at {path} as stored now ({exc.strerror}); check its"
            raise ArtifactError(f"{msg} permissions.", digest=digest, path=str(path)) from exc
        return True

    def remove_older(self, digests: Iterable[str], cutoff_ns: int) -> list[tuple[str, int]]:
        """Delete each object last stored or claimed before ``cutoff_ns`` (epoch nanoseconds).

        For gc, after its database transaction said nothing refers to them: the time is checked
        again under the exclusive lock, so a writer that found one in place and claimed it
        meanwhile keeps it. Missing objects are skipped.

        Returns:
            ``(digest, size)`` of each object removed.

        Raises:
            ArtifactError: an object cannot be deleted (permissions).
        """
        digests = list(digests)
        if not digests:
            return []
        removed = []
        with self._lock(shared=False):
            for digest in digests:
                path = self._checked_path(digest)
                try:
                    info = os.lstat(path)
                    if info.st_mtime_ns >= cutoff_ns:
                        continue
                    os.unlink(path)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError as exc:
                    msg = f"cannot delete artifact {digest} at {path} ({exc.strerror}); check its"
                    raise ArtifactError(f"{msg} permissions.", digest=digest, path=str(path)) from exc
                removed.append((digest, info.st_size))
        return removed

    def check_reachable(self) -> None:
        """Make the store's folder before a run starts, so that a worker that cannot see it knows
        it is on another machine (``suiro.store.outputs``), and a folder that cannot be made is
        one sentence before anything runs.

        Raises:
            ArtifactStoreError: the folder cannot be made (permissions, a file in the way).
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactStoreError(
                f"cannot make the artifact folder {self.root} ({exc.strerror or exc}); make it writable, "
                "or set SUIRO_ARTIFACTS to a folder or bucket suiro can write.",
                path=str(self.root),
            ) from exc

    def where(self, digest: str) -> str:
        """The object's path, as shown in messages."""
        return str(self.path(digest))

    def stored_at(self, digest: str) -> int | None:
        """The object's modification time in ns (set when stored or claimed), or None when absent."""
        try:
            return os.lstat(self.path(digest)).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None

    def stored_size(self, digest: str) -> int | None:
        """The object's size in bytes, or None when absent."""
        try:
            return os.lstat(self.path(digest)).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def quarantine(self, digest: str) -> None:
        """Move a corrupt object to ``<root>/corrupt/`` so it is never reused, keeping it for inspection."""
        target = self.root / "corrupt"
        with contextlib.suppress(OSError):
            target.mkdir(parents=True, exist_ok=True)
            os.replace(self.path(digest), target / digest)

    def path(self, digest: str) -> Path:
        """Where the object for ``digest`` lives; only real digests map into the store.

        Raises:
            InvalidDigestError: not 64 lowercase hex, so it might escape (``../../x``).
        """
        check_digest(digest)
        return self._objects / digest[:2] / digest[2:]

    def has(self, digest: str, size: int | None = None) -> bool:
        """Cheap presence check (one ``lstat``, no hashing): a regular file of the right size.

        Use ``verify`` when the content itself must be trusted.
        """
        try:
            info = os.lstat(self.path(digest))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return stat.S_ISREG(info.st_mode) and (size is None or info.st_size == size)

    def iter_digests(self) -> Iterator[str]:
        """Yield every digest with something at its object path, sorted, valid or not.

        Corrupt objects and planted links are included so ``verify`` can report them.
        """
        try:
            shards = sorted(entry.name for entry in os.scandir(self._objects) if len(entry.name) == 2)
        except FileNotFoundError:
            return
        for shard in shards:
            with contextlib.suppress(NotADirectoryError, FileNotFoundError):
                for name in sorted(os.listdir(self._objects / shard)):
                    if is_digest(shard + name):
                        yield shard + name

    def delete(self, digest: str) -> None:
        """Remove an object (garbage collection of orphans); a missing one is not an error."""
        path = self._checked_path(digest)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            msg = f"cannot delete artifact {digest} at {path} ({exc.strerror}); check its permissions."
            raise ArtifactError(msg, digest=digest, path=str(path)) from exc

    def sweep_temp(self) -> int:
        """Remove temp files left by writers that died, and return how many were removed.

        Files of live writers are kept (their name starts with the writer's pid), so a run
        starting up never breaks another run's write in progress.
        """
        return sweep_dead_writers(self._tmp)

    @contextlib.contextmanager
    def _lock(self, *, shared: bool) -> Iterator[None]:
        """Hold ``gc.lock``: shared by writers, exclusive for gc's check-then-unlink.

        Opened for each use: an ``flock`` belongs to an open file, so threads of one process sharing
        a descriptor would release each other's lock. The kernel drops it when a holder dies.
        """
        try:
            fd = os.open(self.root / GC_LOCK, _LOCK_FLAGS, 0o644)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError | NotADirectoryError):
                raise
            path = self.root / GC_LOCK
            msg = f"cannot open the artifact store's lock {path} ({exc.strerror}); it must be a regular"
            raise ArtifactError(f"{msg} file suiro can write: remove it and retry.", path=str(path)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _checked_path(self, digest: str) -> Path:
        """``path(digest)``, refusing a shard directory that resolves outside the store."""
        path = self.path(digest)
        root, parent = os.path.realpath(self.root), os.path.realpath(path.parent)
        if os.path.commonpath([root, parent]) != root:
            msg = f"corrupt artifact {digest}: {path.parent} leads outside the store to {parent}; delete"
            raise ArtifactCorruptError(f"{msg} that link, then {_FIX}.", digest=digest, path=str(path))
        return path

    def _stream(self, write: Callable[[BinaryIO], str], kind: str) -> tuple[str, str, int]:
        """Store what ``write`` writes, hashed on its way to the temp file; return (its result, digest, size).

        The bytes are never all in memory: ``write`` streams them, the digest is known once it
        returns, and only then is the final path chosen. An object already there and intact is
        kept and claimed for gc, as ``put_bytes`` does, and the temp file dropped; otherwise the
        temp file is stamped, fsynced and renamed into place under the store's shared lock, as
        ``_write`` does, with the same fault points in the same order.

        Raises:
            SerializerError: from ``write``: the value cannot be stored.
            ArtifactError: the object cannot be written.
        """
        digest, tmp = "", ""
        try:
            _make_dirs(self._tmp, self.root)
            fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".tmp", dir=self._tmp)
            try:
                with os.fdopen(fd, "wb") as file:
                    sink = HashingWriter(file)
                    name = write(sink)
                    digest, size = sink.hexdigest(), sink.size
                    file.flush()
                    fault("artifact.tmp_written")
                    path = self._checked_path(digest)
                    if self.has(digest, size) and self.verify(digest) and self.claim(digest):
                        os.unlink(tmp)  # as put_bytes: kept, made young again (gc), made durable
                        self._settle(path, digest)
                        return name, digest, size
                    now = time.time_ns()  # gc's clock, not the file system's coarser one
                    os.utime(file.fileno(), ns=(now, now))
                    os.fsync(file.fileno())
                fault("artifact.fsynced")
                _make_dirs(path.parent, self.root)
                with self._lock(shared=True):
                    os.replace(tmp, path)
                fault("artifact.renamed")
            except BaseException:
                with contextlib.suppress(OSError):  # the original error matters more
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)
            fault("artifact.dir_fsynced")
        except ArtifactError:
            raise
        except OSError as exc:
            where = f"{digest} to {self.path(digest)}" if digest else f"(a {kind}) to {tmp}"
            raise self._write_error(where, exc, digest or None, tmp) from exc
        return name, digest, size

    def _write_error(self, where: str, exc: OSError, digest: str | None, path: str) -> ArtifactError:
        fix = f"free disk space or fix permissions under {self.root}, then rerun the task"
        msg = f"cannot write artifact {where} ({exc.strerror or exc}); {fix}."
        return ArtifactError(msg, digest=digest, path=path)

    def _write(self, path: Path, digest: str, data: bytes) -> None:
        """Temp file, fsync, rename, fsync dir: the final path never shows partial bytes."""
        try:
            _make_dirs(self._tmp, self.root)
            _make_dirs(path.parent, self.root)
            fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".tmp", dir=self._tmp)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    fault("artifact.tmp_written")
                    now = time.time_ns()  # gc's clock, not the file system's coarser one
                    os.utime(file.fileno(), ns=(now, now))
                    os.fsync(file.fileno())
                fault("artifact.fsynced")
                with self._lock(shared=True):
                    os.replace(tmp, path)
                fault("artifact.renamed")
            except BaseException:
                with contextlib.suppress(OSError):  # the original error matters more
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)
            fault("artifact.dir_fsynced")
        except OSError as exc:
            raise self._write_error(f"{digest} to {path}", exc, digest, str(path)) from exc

    def _settle(self, path: Path, digest: str) -> None:
        """Make an object found in place durable: its bytes, its entry and its folders' entries."""
        try:
            fd = os.open(path, _READ_FLAGS)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _make_dirs(path.parent, self.root)
            _fsync_dir(path.parent)
        except OSError as exc:
            fix = f"check the disk and the permissions under {self.root}, then rerun the task"
            msg = f"cannot make artifact {digest} at {path} durable ({exc.strerror or exc}); {fix}."
            raise ArtifactError(msg, digest=digest, path=str(path)) from exc

    def _opened(self, digest: str) -> tuple[BinaryIO, int]:
        file = self._open(digest)
        return file, os.fstat(file.fileno()).st_size

    def _open(self, digest: str) -> BinaryIO:
        """Open an object for reading without following links; only regular files pass."""
        path = self._checked_path(digest)
        try:
            fd = os.open(path, _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError) as exc:
            msg = f"missing artifact {digest}: no file at {path}; {_FIX}."
            raise ArtifactMissingError(msg, digest=digest, path=str(path)) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self.corrupt(digest, "a symbolic link, not a stored object") from exc
            msg = f"cannot read artifact {digest} at {path} ({exc.strerror}); check its permissions."
            raise ArtifactError(msg, digest=digest, path=str(path)) from exc
        file = os.fdopen(fd, "rb")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            file.close()
            raise self.corrupt(digest, "not a regular file")
        return file


#: Folders of the store whose entry in their parent this process has fsynced, with their inode.
_DURABLE_DIRS: dict[Path, int] = {}


def _make_dirs(path: Path, root: Path) -> None:
    """Create ``path`` and its missing parents, and make each entry from ``root`` down durable.

    A folder that exists is not yet known to survive a power cut: a writer killed between its
    ``mkdir`` and the fsync of its parent leaves one that a power cut removes, with every object
    later written into it. So the first time this process uses a folder, made by it or not, its
    parent is fsynced; the folder is then remembered with its inode (a forked worker inherits
    that, which stays true), so one removed and made again is fsynced again. One fsync per folder
    and process; missing folders above ``root`` are made and fsynced as well.
    """
    chain = [path]
    while chain[-1] != root and chain[-1] != chain[-1].parent:
        chain.append(chain[-1].parent)
    while not chain[-1].parent.is_dir():
        chain.append(chain[-1].parent)
    for folder in reversed(chain):
        with contextlib.suppress(FileNotFoundError):
            if _DURABLE_DIRS.get(folder) == os.stat(folder).st_ino:
                continue
        with contextlib.suppress(FileExistsError):  # made before, or by another writer just now
            folder.mkdir()
        _fsync_dir(folder.parent)
        _DURABLE_DIRS[folder] = os.stat(folder).st_ino


def _fsync_dir(path: Path) -> None:
    """Make a rename or new entry in ``path`` durable (POSIX: fsync the directory itself)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep_dead_writers(folder: Path) -> int:
    """Remove the temp files in ``folder`` whose writer (the pid their name starts with) is dead."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    removed = 0
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) or _writer_alive(entry.name):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed += 1
    return removed


def _writer_alive(name: str) -> bool:
    """Whether the process whose pid starts a temp file's name may still be writing it."""
    pid_text = name.partition("-")[0]
    pid = int(pid_text) if pid_text.isascii() and pid_text.isdigit() else 0
    if pid <= 0 or pid == os.getpid():
        return pid > 0  # our own pid: another thread of this process is writing
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        pass  # alive, owned by another user
    return True
