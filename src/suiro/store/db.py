"""The metadata database: open it by URL, keep its schema current, run short transactions.

Owns connections and transactions only; what is written lives in ``recorder`` and
what is read in ``queries``. SQLite (the default, ``$SUIRO_HOME/suiro.db``) goes
through the standard ``sqlite3`` module so a run never pays SQLAlchemy's import;
any other URL (``SUIRO_DB=postgresql://...``) goes through SQLAlchemy. Both take
the same SQL with ``:name`` parameters, so statements are written once.
"""

from __future__ import annotations

import functools
import os
import random
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

from suiro.errors import DatabaseDamagedError, StoreError
from suiro.faults import fault
from suiro.store.damage import raise_if_damaged
from suiro.store.revisions import HEAD_REVISION, KNOWN_REVISIONS

#: Seconds a writer waits for SQLite's write lock before it gives up.
LOCK_TIMEOUT = 30.0
#: What a read waits, at most, in the rare cases a WAL reader must wait (SQLite's busy handler).
_READ_WAIT = "PRAGMA busy_timeout = 30000"
#: Pages a writing connection keeps cached (32 MiB; SQLite's default is 2 MiB), and pages of
#: write-ahead log after which a commit checkpoints it into the database (40 MiB; default 1,000).
#: Why: a big run's commits insert cache keys and artifact digests (content hashes) at random
#: places in their indexes; with 2 MiB every insert into an index larger than that read its page
#: back from the file (7.9 reads per task at 250,000 task runs, 1.8 with 32 MiB), and with a
#: checkpoint after nearly every commit each page those commits touched was written twice. At
#: 100,000 tasks the two cut the bytes written per task by a third and the CPU time by ~5 %
#: (``bench/scale.py``). The cache fills only as pages are read (a run of 1,000,000 tasks
#: reaches it: 33 bytes per task); the log is reset, not grown, after each checkpoint.
_CACHE_PAGES = "PRAGMA cache_size = -32768"
_CHECKPOINT_PAGES = "PRAGMA wal_autocheckpoint = 10000"


#: How many of this process's latest write transactions ``write_timings`` keeps (about 100 bytes each).
WRITE_TIMINGS_KEPT = 10_000
# (wait, total) per committed write; deque.append is atomic, so threads need no lock. A forked
# child starts empty: it reports its own writes, not its parent's.
_write_times: deque[tuple[float, float]] = deque(maxlen=WRITE_TIMINGS_KEPT)


def _tune(conn: sqlite3.Connection) -> None:
    """Give a connection that writes its page cache and checkpoint interval (see above)."""
    conn.execute(_CACHE_PAGES)
    conn.execute(_CHECKPOINT_PAGES)


os.register_at_fork(after_in_child=_write_times.clear)


def home_dir() -> Path:
    """``$SUIRO_HOME``, else ``./.suiro``: the home of a caller that named none.

    The store never asks which task is running: a caller that runs inside a task and means
    its run's home passes it (``suiro.context.run_home``).
    """
    return Path(os.environ.get("SUIRO_HOME") or ".suiro")


def database_url(home: Path | None = None) -> str:
    """``$SUIRO_DB`` if set, else the SQLite file in the suiro home."""
    return os.environ.get("SUIRO_DB") or f"sqlite:///{(home or home_dir()) / 'suiro.db'}"


class WriteTiming(NamedTuple):
    """How long one committed write transaction took, in seconds (``time.perf_counter``)."""

    #: From asking for the transaction until it was open: on SQLite, waiting for the write lock
    #: (every retry included).
    wait: float
    #: From asking for the transaction until its COMMIT returned: the wait, the statements and
    #: the commit's fsync. What a writer (a run's recorder, a registry call) was held up by.
    total: float


def write_timings(*, clear: bool = False) -> list[WriteTiming]:
    """The latest ``WRITE_TIMINGS_KEPT`` write transactions this process committed, oldest first.

    Suiro's own measure of write latency under contention (guarantee G7, test R9): three
    ``perf_counter`` reads per transaction cost nothing next to its fsync, so it is always on.
    Failed transactions are not included (they raise). Pass ``clear=True`` to start a new count.
    """
    if not clear:
        return [WriteTiming(*pair) for pair in list(_write_times)]  # one C call: no torn copy
    found = []
    while True:  # popleft, not copy-then-clear, so a write committed meanwhile is never lost
        try:
            found.append(WriteTiming(*_write_times.popleft()))
        except IndexError:
            return found


class Tx(Protocol):
    """A write transaction: statements with ``:name`` parameters."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement; return how many rows it changed (for compare-and-set)."""
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Read inside the transaction (with the write lock held, so nothing changes under it)."""
        ...

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], tail: str = ""
    ) -> None:
        """``INSERT INTO table (columns) VALUES (...), (...) tail``: ``rows`` in few statements.

        For a batch of many rows (a run's group commit). ``table`` and ``columns`` are suiro's own
        names, never input; values go as parameters. ``tail`` may be ``ON CONFLICT ... DO NOTHING``
        or a ``DO UPDATE`` from ``excluded`` columns that gives the same result when a row comes
        twice: on SQLite the last statement may repeat its last row (see ``_SQLiteTx``).
        """
        ...


def _unreachable(exc: BaseException) -> bool:
    """Whether a server database's error is a failure to connect (not a missing table)."""
    try:
        from sqlalchemy.exc import InterfaceError, OperationalError
    except ImportError:
        return False
    return isinstance(exc, OperationalError | InterfaceError) and not isinstance(
        getattr(exc, "orig", None), sqlite3.Error
    )


class Database:
    """A connection to the metadata database, safe to share between threads.

    Each thread (and each process: a connection never crosses ``fork``) gets its own
    connection. Writes are short ``BEGIN IMMEDIATE`` transactions retried a bounded
    number of times when the database is busy.

    With ``read_only`` the connection itself cannot write (SQLite: a ``mode=ro`` URI;
    PostgreSQL: read-only transactions), so whatever reads through it (``queries``, the
    web UI) cannot change the record, by mistake or otherwise: ``write`` and any writing
    statement are refused with one sentence. It never creates, upgrades or changes the file.
    """

    def __init__(self, url: str, *, read_only: bool = False, read_only_because: str | None = None):
        self.url = url
        self.is_sqlite = url.startswith("sqlite:///")
        self.path = Path(url.removeprefix("sqlite:///")) if self.is_sqlite else None
        #: Set (to why, e.g. "its disk is full") for a SQLite file read as an immutable snapshot:
        #: see ``suiro.store.home.read_only_reason``. Writes are refused with that reason.
        self.read_only_because = read_only_because
        #: Whether this handle only reads (asked for, or a snapshot).
        self.read_only = read_only or read_only_because is not None
        self._local = threading.local()
        self._engine: Any = None

    @classmethod
    def open(
        cls, url: str | None = None, *, upgrade: bool = True, on_new: Callable[[], None] | None = None
    ) -> Database:
        """Open (creating or upgrading) the database at ``url`` (default: ``database_url()``).

        ``on_new`` is called before a schema is created in a database that has none (missing,
        empty, no suiro tables); it may raise to refuse (``Store`` does when records are lost).

        Raises:
            StoreError: the database is newer than this suiro, sits on a network
                filesystem, or cannot be opened.
            DatabaseDamagedError: SQLite finds the file damaged.
        """
        db = cls(url or database_url())
        if db.is_sqlite:
            assert db.path is not None
            try:
                db.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # /proc/x, a read-only mount, no permission: one line, no traceback
                raise StoreError(
                    f"cannot create the folder {db.path.parent} for the records ({exc.strerror or exc}); "
                    "set SUIRO_HOME (or SUIRO_DB) to a place you can write."
                ) from exc
            _refuse_network_fs(db.path.parent)
        revision = db._peek_revision() if db.is_sqlite else db.revision()
        if revision != HEAD_REVISION:
            if revision is not None and revision not in KNOWN_REVISIONS:
                raise StoreError(
                    f"the database {db.display_url} has schema revision {revision}, newer than this suiro "
                    f"knows ({HEAD_REVISION}); upgrade suiro to read it (nothing was changed)."
                )
            if upgrade:
                from suiro.store.migrate import upgrade_schema

                if revision is None and on_new is not None:
                    on_new()
                upgrade_schema(db)
        return db

    @property
    def display_url(self) -> str:
        """The URL without a password, for messages."""
        if "@" in self.url and "://" in self.url:
            scheme, rest = self.url.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return self.url

    @property
    def address(self) -> str:
        """The URL with its password left out, to hand to a task on another machine: the password,
        if the server wants one, comes from that machine (``PGPASSWORD``, ``~/.pgpass``)."""
        if self.is_sqlite or "@" not in self.url:
            return self.url
        from sqlalchemy.engine import make_url

        return make_url(self.url)._replace(password=None).render_as_string(hide_password=False)

    def _peek_revision(self) -> str | None:
        """The stored revision, read without changing the file (no WAL switch on a refused file)."""
        assert self.path is not None
        if not self.path.exists():
            return None
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}; check the file.") from exc
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.DatabaseError as exc:
            if "no such table" in str(exc):
                return None
            raise_if_damaged(exc, self.path)
            raise StoreError(f"cannot read the suiro database {self.path} ({exc}); check the disk.") from exc
        finally:
            conn.close()
        return rows[0][0] if rows else None

    def revision(self) -> str | None:
        """The schema revision stored in the database, or None for an empty one."""
        try:
            rows = self.query("SELECT version_num FROM alembic_version")
        except DatabaseDamagedError:
            raise
        except Exception as exc:  # no table yet: a new database; but a server not reached is not one
            if not self.is_sqlite and _unreachable(exc):
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise StoreError(
                    f"cannot reach the database {self.display_url} ({reason}); check that the server "
                    "is up and that SUIRO_DB names it."
                ) from exc
            return None
        return rows[0]["version_num"] if rows else None

    # -- sqlite -------------------------------------------------------------------------

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            if self.read_only_because:  # no -shm, no lock: nothing is created next to the file
                target, uri = f"file:{quote(str(self.path))}?mode=ro&immutable=1", True
            elif self.read_only:
                target, uri = f"file:{quote(str(self.path))}?mode=ro", True
            else:
                target, uri = str(self.path), False
            try:
                conn = sqlite3.connect(
                    target, timeout=30, isolation_level=None, check_same_thread=False, uri=uri
                )
            except sqlite3.OperationalError as exc:  # mode=ro does not create a missing file
                raise StoreError(
                    f"cannot open the suiro database {self.path} ({exc}); check that the file exists."
                ) from exc
            conn.row_factory = sqlite3.Row
            if not self.read_only:  # a database suiro made is in WAL mode already: nothing to set
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(_READ_WAIT)
            if not self.read_only:
                _tune(conn)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    # -- sqlalchemy ---------------------------------------------------------------------

    def engine(self) -> Any:
        """The SQLAlchemy engine (created on first use; for SQLite too, for migrations)."""
        if self._engine is None:
            from sqlalchemy import create_engine

            options = {}
            if self.read_only and self.url.startswith("postgresql"):  # libpq: every transaction read-only
                options = {"connect_args": {"options": "-c default_transaction_read_only=on"}}
            self._engine = create_engine(self.url, **options)
        return self._engine

    # -- statements ---------------------------------------------------------------------

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read statement; rows as dicts.

        Raises:
            StoreError: the statement writes and this handle is ``read_only``.
        """
        if self.is_sqlite:
            try:
                return [dict(row) for row in self._sqlite().execute(sql, params or {})]
            except sqlite3.DatabaseError as exc:
                raise_if_damaged(exc, self.path)
                if self.read_only and "readonly database" in str(exc):
                    raise self._refused() from exc
                raise
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine().connect() as conn:
                return [dict(row) for row in conn.execute(text(sql), params or {}).mappings()]
        except DBAPIError as exc:
            if self.read_only and "read-only transaction" in str(exc):
                raise self._refused() from exc
            raise

    def _refused(self) -> StoreError:
        """The error of a write through this read-only handle."""
        if self.read_only_because:
            return StoreError(
                f"the suiro database {self.path} can only be read now ({self.read_only_because}); "
                "nothing was written; free disk space or make the folder writable, then retry."
            )
        return StoreError(
            f"the suiro database {self.display_url} was opened read-only, for reading the record; "
            "nothing was written; write through a connection opened for writing (Database(url))."
        )

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit.

        Its wait and duration are kept for ``write_timings``.
        """
        if self.read_only:
            raise self._refused()
        asked = time.perf_counter()
        if not self.is_sqlite:
            with self.engine().begin() as conn:
                opened = time.perf_counter()
                yield _SATx(conn)
                fault("db.before_commit")
            _write_times.append((opened - asked, time.perf_counter() - asked))
            fault("db.after_commit")
            return
        try:
            conn = self._sqlite()
            _begin_immediate(conn, self.path)
        except sqlite3.DatabaseError as exc:
            raise_if_damaged(exc, self.path)
            raise
        opened = time.perf_counter()
        try:
            yield _SQLiteTx(conn)
            fault("db.before_commit")
            conn.execute("COMMIT")
            _write_times.append((opened - asked, time.perf_counter() - asked))
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise_if_damaged(exc, self.path)
            if isinstance(exc, sqlite3.OperationalError | OSError) and "no such table" not in str(exc):
                # The disk or file system refused (full, I/O error, read-only): one line for users.
                # Constraint and programming errors propagate as they are.
                raise StoreError(
                    f"writing to the suiro database {self.path} failed ({exc}); nothing of this change "
                    "was kept; fix the cause (disk space, permissions, file system), then resume the run."
                ) from exc
            raise
        fault("db.after_commit")

    def close_thread(self) -> None:
        """Close this thread's SQLite connection, as a thread that is ending must: since Python
        3.11 a connection is in a reference cycle with its statement cache, so one left open keeps
        its three file descriptors until a full garbage collection, which a run puts off
        (``suiro.collector``)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        """Close this thread's connection and the engine."""
        self.close_thread()
        if self._engine is not None:
            self._engine.dispose()


def with_password(address: str) -> str:
    """The URL to open a run's database by its ``address`` (``Database.address``): ``$SUIRO_DB``
    when it names the same database, as on the runner's machine (its password included), else the
    address itself (another machine: the password, if any, from ``PGPASSWORD`` or ``~/.pgpass``)."""
    configured = os.environ.get("SUIRO_DB")
    if configured and Database(configured).address == address:
        return configured
    return address


def _begin_immediate(conn: sqlite3.Connection, path: Path | None) -> None:
    """Take the write lock now, asking again about every millisecond for up to ``LOCK_TIMEOUT``.

    Not SQLite's busy handler: it sleeps 1, 2, 5, ... then 100 ms between tries, so a writer that
    has waited a while sleeps through many hand-overs while newer writers take the lock. With a
    few writers holding it ~5 ms each, R9 measured waits of 150-370 ms at p99 and 0.5-0.9 s at
    worst that way. Short jittered polls hand the lock over within about a millisecond; each is
    one failed lock attempt (microseconds). ``busy_timeout`` is off only while polling: reads,
    which wait in WAL mode only in rare cases (recovery), keep it.
    """
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = None
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(f"cannot write to the suiro database {path}: {exc}.") from exc
            now = time.monotonic()
            deadline = deadline or now + LOCK_TIMEOUT
            if now >= deadline:
                raise StoreError(
                    f"the suiro database {path} stayed locked by another writer for {LOCK_TIMEOUT:g} s; "
                    "nothing was written; retry when that process is done."
                )
            time.sleep(random.uniform(0.0005, 0.0015))
    finally:
        conn.execute(_READ_WAIT)


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self.conn.execute(sql, params or {}).rowcount

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.execute(sql, params or {})]

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], tail: str = ""
    ) -> None:
        """Up to ``_MAX_ROWS`` rows per statement, the last one's rows padded with copies of its last
        row up to a power of two.

        Why not ``executemany``: it steps SQLite once per row, and each step gives up the GIL; while
        another thread runs Python (a chain's runner, which runs each task itself), taking it back
        waits for the interpreter's switch interval, 5 ms. A recorder inserting 250 rows that way
        took 1.3 s, then longer for the bigger batch that piled up meanwhile, and a chain's records
        stayed uncommitted until its end. One statement is one step. Statement sizes are powers of
        two so that their prepared statements are reused (preparing costs 3 us a row, a cached
        one 1 us); the padding rows are the idempotent repeats ``tail`` must allow.
        """
        width = len(columns)
        most = min(
            _MAX_ROWS,
            1 << (self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width).bit_length() - 1,
        )
        start = 0
        while start < len(rows):
            chunk = list(rows[start : start + most])
            start += len(chunk)
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += [chunk[-1]] * (size - len(chunk))
            self.conn.execute(
                insert_sql(table, tuple(columns), size, tail), [row[c] for row in chunk for c in columns]
            )


class _SATx:
    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        from sqlalchemy import text

        return self.conn.execute(text(sql), dict(params or {})).rowcount

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import text

        return [dict(row) for row in self.conn.execute(text(sql), dict(params or {})).mappings()]

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        from sqlalchemy import text

        if rows:
            self.conn.execute(text(sql), [dict(r) for r in rows])

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], tail: str = ""
    ) -> None:
        self.executemany(insert_sql(table, tuple(columns), 0, tail), rows)


#: The most rows ``_SQLiteTx.insert_rows`` puts in one statement.
_MAX_ROWS = 256


@functools.lru_cache(maxsize=256)
def insert_sql(table: str, columns: tuple[str, ...], count: int, tail: str = "") -> str:
    """``INSERT INTO table (columns) VALUES ... tail``: ``count`` rows of ``?`` parameters, or with
    ``count`` 0 one row of ``:column`` parameters. Only suiro's own identifiers are put in the text."""
    if count == 0:
        values = "(" + ", ".join(f":{c}" for c in columns) + ")"
    else:
        values = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * count)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} {tail}".rstrip()  # noqa: S608


def _refuse_network_fs(folder: Path) -> None:
    """SQLite's locks do not hold on network filesystems; refuse rather than corrupt."""
    if os.environ.get("SUIRO_ALLOW_NETWORK_FS") == "1":
        return
    fs = filesystem_type(folder)
    if fs is not None:
        raise StoreError(
            f"{folder} is on a {fs} filesystem, where SQLite can corrupt its database; put SUIRO_HOME "
            "on a local disk, use SUIRO_DB=postgresql://..., or set SUIRO_ALLOW_NETWORK_FS=1 to accept "
            "the risk."
        )


def filesystem_type(folder: Path) -> str | None:
    """The network filesystem ``folder`` is on (from /proc/mounts), or None if local."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    real = str(folder.resolve())
    best, fstype = "", ""
    for line in mounts:
        # /proc/mounts writes spaces, tabs and backslashes in paths as octal escapes (\040).
        parts = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), p) for p in line.split()]
        inside = len(parts) > 2 and (real == parts[1] or real.startswith(parts[1].rstrip("/") + "/"))
        if inside and len(parts[1]) > len(best):
            best, fstype = parts[1], parts[2]
    network = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs"}
    return fstype.upper() if fstype in network else None


def this_host() -> str:
    """The host name recorded with runs, to tell whether a run's pid can be checked here.

    ``os.uname().nodename`` is what ``socket.gethostname()`` returns on POSIX (both ask
    ``uname``), without importing ``socket`` (~2 ms) into every run.
    """
    return os.uname().nodename
