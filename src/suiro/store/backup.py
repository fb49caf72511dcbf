"""``suiro backup``: a consistent copy of the SQLite database, made while runs may be writing.

Why SQLite's backup API and not a file copy: copying ``suiro.db`` by hand while a run writes
(or without its ``-wal`` file) is how SQLite databases get corrupted (G7). The copy is made in
one step, that is inside one read transaction, so it is the database as of one moment; in WAL
mode writers go on meanwhile. The copy is then checked with ``PRAGMA integrity_check`` and only
a sound one gets its final name (a damaged source gives a damaged copy, which is refused rather
than kept where good backups are looked for). Never changes the source database.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from suiro.errors import DatabaseDamagedError, StoreError
from suiro.store.damage import integrity_lines, is_damage
from suiro.store.db import Database


@dataclass(frozen=True)
class Backup:
    """One backup made.

    Attributes:
        path: the copy.
        source: the database it copies.
        runs: how many runs the copy holds.
        size: the copy's size in bytes.
        seconds: how long copying and checking took.
    """

    path: Path
    source: Path
    runs: int
    size: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def backup(url: str, home: Path, dest: Path | None = None) -> Backup:
    """Copy the SQLite database at ``url`` to ``dest`` (default ``<home>/backups/suiro-<time>.db``).

    ``dest`` may be a new file or an existing folder (the copy is named there); an existing
    file is never overwritten.

    Raises:
        StoreError: the records are not in SQLite, there is no database, or ``dest`` exists.
        DatabaseDamagedError: the database is damaged, so no backup was made.
    """
    db = Database(url)  # its path only: opening could create a database where there is none
    if db.path is None:
        kind = "PostgreSQL" if url.startswith("postgres") else url.split(":", 1)[0]
        raise StoreError(
            f"the records are in {kind} ({db.display_url}); back them up with that database's own tools "
            "(pg_dump for PostgreSQL): `suiro backup` copies SQLite databases only."
        )
    source = db.path
    if not source.exists():
        raise StoreError(f"there is no database at {source}; nothing to back up.")
    if dest is not None and dest.exists() and not dest.is_dir():
        raise StoreError(f"{dest} already exists; give a new file name or a folder (nothing was written).")
    folder = dest if dest is not None and dest.is_dir() else (dest.parent if dest else home / "backups")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    partial = folder / f".suiro-backup-{os.getpid()}-{time.time_ns()}.partial"
    try:
        _copy(source, partial)
        damage = integrity_lines(partial)
        if damage:
            raise _refused(source, damage[0])
        runs = _count_runs(partial)
        final = _name(partial, dest if dest is not None and not dest.is_dir() else None, folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    _fsync_folder(folder)
    return Backup(final, source, runs, final.stat().st_size, time.perf_counter() - started)


def _copy(source: Path, target: Path) -> None:
    """Copy with the backup API in one step (one read transaction); leave ``target`` self-contained."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        dst.execute("PRAGMA synchronous=FULL")  # the copy's commit is fsynced
        src.backup(dst)  # pages=-1: everything at once, a snapshot never restarted by writers
        dst.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise _refused(source, str(exc)) from exc
        raise StoreError(f"backing up {source} failed ({exc}); nothing was written.") from exc
    finally:
        dst.close()
        src.close()


def _refused(source: Path, detail: str) -> DatabaseDamagedError:
    return DatabaseDamagedError(
        f"the database {source} is damaged ({detail}); a copy of it would be damaged too, so no backup "
        "was made; restore an earlier backup, or move it aside to start a new one (`suiro check` lists "
        "what is wrong).",
        path=source,
        detail=detail,
    )


def _count_runs(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:  # no runs table: not a suiro database, still a faithful copy
        return 0
    finally:
        conn.close()


def _name(partial: Path, dest: Path | None, folder: Path) -> Path:
    """Give the checked copy its final name, never replacing an existing file."""
    if dest is not None:
        if not _claim(partial, dest):
            raise StoreError(
                f"{dest} already exists; give a new file name or a folder (nothing was written)."
            )
        return dest
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        final = folder / (f"suiro-{stamp}.db" if n == 1 else f"suiro-{stamp}-{n}.db")
        if _claim(partial, final):
            return final
    raise AssertionError("unreachable")


def _claim(partial: Path, final: Path) -> bool:
    """Move ``partial`` to ``final`` unless ``final`` exists; False if it does.

    A hard link is atomic and never replaces; where the filesystem has none (FAT, exFAT, some
    FUSE mounts: backup drives), an exclusive create reserves the name before the rename.
    """
    try:
        os.link(partial, final)
        return True
    except FileExistsError:
        return False
    except OSError:
        pass
    try:
        os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    os.replace(partial, final)
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the new name durable (the copy's bytes were synced by SQLite's commit)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
