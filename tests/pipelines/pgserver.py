"""A real PostgreSQL server on 127.0.0.1 for the tests that keep suiro's records there: the
server binaries of the machine (``/usr/lib/postgresql/*/bin``, Debian's ``postgresql`` package;
``.ci/run`` installs it), a data folder of its own, trust authentication for user ``suiro``.
Skipped, with one line saying what is missing, without the binaries or the ``psycopg`` driver.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: The server binaries found, oldest version first (the newest is used).
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(re.sub(r"\D", "", p) or 0))


@dataclass
class PostgresServer:
    """A running server: ``url`` of its ``postgres`` database, ``new_database`` for a fresh one."""

    port: int
    _made: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL a user would give as ``SUIRO_DB``."""
        return f"postgresql+psycopg://suiro@127.0.0.1:{self.port}/{database}"

    def new_database(self, hint: str = "db") -> str:
        """Create an empty database (named after ``hint``) and return its URL."""
        import psycopg
        from psycopg import sql

        name = re.sub(r"[^a-z0-9_]", "_", hint.lower())[:40] + "_" + os.urandom(3).hex()
        with psycopg.connect(f"postgresql://suiro@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._made.append(name)
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_postgres_server() -> Iterator[PostgresServer]:
    """``initdb`` a new data folder, start the server on a free port, yield it, stop it after."""
    pytest.importorskip("psycopg")
    if not BIN:
        pytest.skip(
            "no PostgreSQL server binaries on this machine (/usr/lib/postgresql/*/bin); "
            "install them with apt-get install postgresql"
        )
    # Not under pytest's tmp folders: those are private to root, and postgres runs as its own user.
    data = Path(tempfile.mkdtemp(prefix="suiro-pg-")) / "data"
    data.mkdir()
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(data, "postgres")
        shutil.chown(data.parent, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True)

    run(f"{BIN[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "suiro")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-l", str(data / "log"), "-w", "-o", options, "start")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{port}") from None
                time.sleep(0.1)
        yield PostgresServer(port)
    finally:
        run(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(data.parent, ignore_errors=True)
