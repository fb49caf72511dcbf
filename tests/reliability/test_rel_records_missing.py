"""A deleted or emptied ``suiro.db`` beside a store that holds outputs: the loss is said, not hidden.

Before, suiro created a new empty database over the lost records and ``suiro check`` said
"no problems found". Now ``check`` reports ``records_missing`` and exits 1, and every other
command refuses in one line until a backup is restored or ``suiro run --new-records`` starts
over. A home with nothing in it besides its database is just a new home and keeps working.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.rel_harness import objects, write_diamond

#: How the records went away: deleted (with the WAL files), truncated to nothing, or replaced by an
#: SQLite file without suiro's tables.
LOSSES = ("deleted", "empty", "no_tables")

INLINE = """
from suiro import pipeline, task

@task
def tiny() -> int:
    return 1

@pipeline
def inline():
    return tiny()
"""


def lose_records(home: Path, how: str) -> None:
    """Make the home's records disappear the way ``how`` says."""
    db = home / "suiro.db"
    for path in (db, home / "suiro.db-wal", home / "suiro.db-shm"):
        path.unlink(missing_ok=True)
    if how == "empty":
        db.write_bytes(b"")
    elif how == "no_tables":
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA user_version = 7")  # a valid SQLite file with a header and no table
        conn.close()


@pytest.fixture
def cli(tmp_path):
    """A home that holds one successful run of the diamond (three objects in the store)."""
    cli = Cli(tmp_path)
    write_diamond(tmp_path)
    cli.ok("run", "diamond.py", "--executor", "sequential")
    assert len(objects(cli.home)) == 3
    return cli


@pytest.mark.leaves_problems
@pytest.mark.parametrize("how", LOSSES)
def test_check_reports_missing_records_beside_stored_outputs(cli, how):
    lose_records(cli.home, how)
    result = cli("check")
    assert result.returncode == 1, str(result)
    (line,) = result.stdout.splitlines()
    db = cli.home / "suiro.db"
    assert line.startswith(f"records_missing: {db} is "), line
    assert "artifacts/ holds 3 objects" in line and "logs/ 1 run" in line, line
    assert "`suiro backup`" in line and "--new-records" in line, line
    if how == "deleted":
        assert not db.exists(), "check created no database over the lost records"


@pytest.mark.leaves_problems
@pytest.mark.parametrize("how", LOSSES)
def test_run_and_reads_refuse_to_start_over_silently(cli, how):
    lose_records(cli.home, how)
    size = (cli.home / "suiro.db").stat().st_size if how != "deleted" else None
    for args in (("run", "diamond.py"), ("runs",), ("gc", "--min-age", "0"), ("models", "list")):
        line = cli.error(2, *args)
        assert line.startswith(f"error: the records are missing: {cli.home / 'suiro.db'} is "), line
        assert "`suiro run --new-records`" in line, line
    assert len(objects(cli.home)) == 3, "gc removed nothing"
    db = cli.home / "suiro.db"
    assert (db.stat().st_size if db.exists() else None) == size, "no schema written over the loss"


@pytest.mark.parametrize("how", [LOSSES[0], *(pytest.param(h, marks=pytest.mark.slow) for h in LOSSES[1:])])
def test_new_records_starts_over_on_purpose(cli, how):
    lose_records(cli.home, how)
    result = cli.ok("run", "diamond.py", "--executor", "sequential", "--new-records")
    assert len(cli.json("runs")) == 1, "only the new run is recorded"
    assert "output: " in result.stdout
    assert cli.ok("check").stdout == "no problems found\n"


@pytest.mark.leaves_problems
def test_run_folders_in_logs_count_as_records_too(tmp_path):
    cli = Cli(tmp_path)
    cli.write("inline.py", INLINE)
    cli.ok("run", "inline.py")
    assert objects(cli.home) == {}  # its only output is kept inside the database
    lose_records(cli.home, "deleted")
    line = cli.error(2, "run", "inline.py")
    assert "artifacts/ holds 0 objects and logs/ 1 run" in line, line


def test_a_home_with_nothing_but_its_database_is_a_new_home(tmp_path):
    cli = Cli(tmp_path)  # a copy of an empty home: suiro.db and nothing else of note
    lose_records(cli.home, "deleted")
    write_diamond(tmp_path)
    cli.ok("run", "diamond.py", "--executor", "sequential")
    assert cli.ok("check").stdout == "no problems found\n"
