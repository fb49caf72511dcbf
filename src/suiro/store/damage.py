"""Telling a damaged or missing database from a sound or new one, and saying so in one sentence.

Why: SQLite reports a damaged page only when a statement reads it, as a bare
``sqlite3.DatabaseError``; without this module a damaged ``suiro.db`` gave tracebacks, or
partial answers with no warning, and a deleted one silently became a new empty store beside
outputs whose records were gone. Owns the words and the checks: ``db`` turns damage into
``DatabaseDamagedError`` where SQLite answers, ``home.Store`` runs ``screen`` when it opens and
``missing_records`` before a new schema is made, ``check`` reports ``integrity_lines``.
Reads only; never changes a file. Imports nothing from the store.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from suiro.errors import DatabaseDamagedError, RecordsMissingError

#: SQLite's primary result codes for a malformed page and for a file that is no database.
_CORRUPT, _NOTADB = 11, 26
#: Databases up to this size are screened with ``PRAGMA quick_check`` each time a store opens.
#: Its cost is linear in the file: 29 ms for 29 MiB (10,000 runs of a four-task pipeline) and
#: 1 ms for 0.8 MiB (300 runs) on the 2-core reference machine, warm cache, next to ~380 ms for
#: the whole ``suiro runs`` process. Bigger files would pay more on every command (and a run's
#: fixed cost is budgeted at 20 ms in all), so past this a command finds damage when it reads a
#: damaged page, and ``suiro check`` finds the rest.
QUICK_CHECK_LIMIT = 8 * 2**20


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying the file is damaged (malformed, or not a database at all)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_CORRUPT, _NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text


def damaged(path: Path, detail: str) -> DatabaseDamagedError:
    """The one-sentence error for the damaged database at ``path``; ``detail`` is SQLite's words."""
    return DatabaseDamagedError(
        f"the database {path} is damaged ({detail}); run `suiro check` for details, restore a backup "
        f"made with `suiro backup`{newest_backup(path.parent)}, or move it aside to start a new one.",
        path=path,
        detail=detail,
    )


def newest_backup(home: Path) -> str:
    """`` (the newest is <path>)`` for the latest ``suiro backup`` in ``home/backups``, else ''."""
    try:
        found = max((home / "backups").glob("suiro-*.db"), key=lambda p: p.stat().st_mtime, default=None)
    except OSError:
        return ""
    return f" (the newest is {found})" if found is not None else ""


def raise_if_damaged(exc: BaseException, path: Path | None) -> None:
    """Raise ``DatabaseDamagedError`` from ``exc`` when it is SQLite reporting damage; else return."""
    if path is not None and is_damage(exc):
        raise damaged(path, str(exc)) from exc


#: The two checks, whole and stopped at the first problem.
_QUICK = ("PRAGMA quick_check", "PRAGMA quick_check(1)")
_FULL = ("PRAGMA integrity_check", "PRAGMA integrity_check(1)")


def integrity_lines(path: Path, *, quick: bool = False, immutable: bool = False) -> list[str]:
    """SQLite's complaints about the file at ``path``: empty when it is sound; never raises for damage.

    ``quick`` runs ``PRAGMA quick_check`` (every page read, indexes not compared with their
    tables), else ``PRAGMA integrity_check``. On some damage SQLite stops a check with an error
    before it reports anything; asked for its first problem only, it usually names the page.
    ``immutable`` reads the file as a snapshot, as the store does when its folder cannot be
    written (a WAL reader would need to create the shared-memory file).
    """
    check, first_problem = _QUICK if quick else _FULL
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    try:
        conn = sqlite3.connect(f"file:{path}?{flags}", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        try:
            return _complaints(conn, check)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            try:
                first = _complaints(conn, first_problem)
            except sqlite3.DatabaseError:
                first = []
            return first or [str(exc)]
    finally:
        conn.close()


def _complaints(conn: sqlite3.Connection, sql: str) -> list[str]:
    rows = [str(row[0]) for row in conn.execute(sql)]
    if rows == ["ok"]:
        return []
    lines = [line.strip() for row in rows for line in row.splitlines()]
    return [line for line in lines if line and not line.startswith("*** in database")]


def screen(path: Path, *, always: bool = False, immutable: bool = False) -> None:
    """Raise ``DatabaseDamagedError`` if the database at ``path`` is damaged, when that is cheap.

    Checks files up to ``QUICK_CHECK_LIMIT`` only (see there), so that a read which happens to
    miss the damaged page does not answer as if nothing were wrong; ``always`` checks any size
    (``gc``, which deletes what the records do not name, must not act on a partial record).
    """
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size > QUICK_CHECK_LIMIT and not always:
        return
    lines = integrity_lines(path, quick=True, immutable=immutable)
    if lines:
        raise damaged(path, lines[0])


def missing_records(home: Path, where: str, state: str) -> RecordsMissingError | None:
    """The error for a database with no suiro tables beside outputs or run logs; None for a new home.

    Args:
        home: the suiro home whose ``artifacts/objects`` and ``logs`` are counted.
        where: the database, as shown to people (its path, or a URL without password).
        state: what is wrong with it: ``missing``, ``empty`` or ``without suiro's tables``.
    """
    objects = _count_objects(home / "artifacts" / "objects")
    runs = _count_folders(home / "logs")
    if not objects and not runs:
        return None
    held = f"{home / 'artifacts'}/ holds {_plural(objects, 'object')} and logs/ {_plural(runs, 'run')}"
    if "://" in where:  # a server database newly named by SUIRO_DB: the records are likely elsewhere
        detail = (
            f"{where} is {state} but {held}, recorded in another database (suiro.db here, before "
            f"SUIRO_DB named this one?); set SUIRO_DB back to it, or start new records in this one "
            "with `suiro run --new-records`"
        )
    else:
        detail = (
            f"{where} is {state} but {held}: their records are gone; restore a backup made with "
            f"`suiro backup`{newest_backup(home)}, or start new records with `suiro run --new-records`"
        )
    return RecordsMissingError(
        f"the records are missing: {detail}.", path=Path(where), objects=objects, runs=runs, detail=detail
    )


def file_state(path: Path) -> str:
    """``missing``, ``empty`` (0 bytes) or ``without suiro's tables``, for a database with no schema."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    return "empty" if size == 0 else "without suiro's tables"


def _count_objects(folder: Path) -> int:
    try:
        shards = [entry.path for entry in os.scandir(folder) if entry.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return sum(len(os.listdir(shard)) for shard in shards)


def _count_folders(folder: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(folder) if entry.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
