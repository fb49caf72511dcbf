"""A damaged page in the middle of ``suiro.db``: every command says so in one line, ``check`` details it.

A home is filled by real runs (a diamond with outputs in files, then enough runs of a small
pipeline that the ``task_runs`` table spans dozens of pages) and a registered model; then one page
in the middle of ``task_runs`` is overwritten with garbage, as a bad sector or a stray write would.
Every command goes through the real CLI in a subprocess and must print one line naming the
database, ``suiro check`` and ``suiro backup``, exit non-zero and show no traceback; ``suiro
check`` must print ``integrity:`` lines and exit 1; ``suiro backup`` must refuse to call a damaged
copy a backup. The same holds when suiro's cheap check at open is skipped and a read or a write
lands on the damaged page (the path every command takes on a database too big to check at open).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.rel_harness import objects, rows, run_ids, write_diamond

from suiro import api
from suiro.registry import Registry
from suiro.store import queries
from suiro.store.home import Store

#: These tests plant damage that suiro check must report.
pytestmark = pytest.mark.leaves_problems

SMALL = """
from suiro import pipeline, task

@task
def first(i: int) -> int:
    return i * 2

@task
def second(x: int, label: str) -> str:
    return f"{label}-{x}-" + "y" * 40

@pipeline
def small(i: int = 0, label: str = "z"):
    return second(first(i), label)
"""
#: Runs of ``SMALL``: two task runs each, so ``task_runs`` spans about 25 pages of 4 KiB.
RUNS = 100
#: Bytes added to the "big" copy: past ``suiro.store.damage.QUICK_CHECK_LIMIT`` (8 MiB).
PADDED = 9 * 2**20


def middle_page(db: Path, table: str) -> int:
    """The page number of the middle child of ``table``'s root page (an interior b-tree page)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with open(db, "rb") as handle:  # reading only, to find the page; suiro never does this
        handle.seek((root - 1) * size)
        page = handle.read(size)
    assert page[0] == 0x05, f"the root of {table} is not an interior page: too few rows to span pages"
    cells = int.from_bytes(page[3:5], "big")
    pointers = [int.from_bytes(page[12 + 2 * i : 14 + 2 * i], "big") for i in range(cells)]
    children = [int.from_bytes(page[p : p + 4], "big") for p in pointers]
    assert len(children) >= 4, children
    return children[len(children) // 2]


def damage_page(db: Path, page: int) -> None:
    """Overwrite page ``page`` (1-based) of ``db`` with seeded garbage, behind SQLite's back."""
    conn = sqlite3.connect(db)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as handle:  # deliberate damage; suiro itself never does this
        handle.seek((page - 1) * size)
        handle.write(random.Random(page).randbytes(size))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A home with real runs and a model, its ``task_runs`` damaged mid-table: (root, diamond run id)."""
    root = tmp_path_factory.mktemp("damaged")
    home = root / "home"
    diamond = api.run(str(write_diamond(root)), executor="sequential", home=home)
    assert diamond.ok, diamond.error
    small = root / "small.py"
    small.write_text(SMALL)
    for i in range(RUNS):
        assert api.run(str(small), params={"i": i}, executor="sequential", home=home).ok
    registry = Registry(home)
    registry.register("tiny", {"weights": [1, 2, 3]})
    registry.close()
    big = root / "big"
    shutil.copytree(home, big)
    pad_past_the_quick_check_limit(big / "suiro.db")
    for db in (home / "suiro.db", big / "suiro.db"):
        damage_page(db, middle_page(db, "task_runs"))
    return root, diamond.run_id


def pad_past_the_quick_check_limit(db: Path) -> None:
    """Grow ``db`` past ``PADDED`` bytes with one big inline artifact row (appended pages)."""
    data = bytes(PADDED)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO artifacts (digest, serializer, kind, size, created, inline)"
            " VALUES (?, 'raw', 'bytes', ?, 0, ?)",
            (hashlib.sha256(data).hexdigest(), len(data), data),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@pytest.fixture
def cli(template, tmp_path):
    """A CLI on a copy of the damaged home (commands that write cannot spoil the next test)."""
    source, _ = template
    shutil.copytree(source / "home", tmp_path / "home")
    write_diamond(tmp_path)
    return Cli(tmp_path, new_home=True)


def _commands(run_id: str) -> list[tuple[str, ...]]:
    return [
        ("run", "diamond.py", "--executor", "sequential"),
        ("resume", run_id),
        ("runs",),
        ("runs", "--json"),
        ("show", run_id),
        ("logs", run_id),
        ("metrics", run_id),
        ("artifacts", run_id),
        ("artifacts", "verify"),
        ("explain", run_id, "join"),
        ("gc", "--min-age", "0"),
        ("gc", "--dry-run"),
        ("models", "list"),
        ("models", "show", "tiny"),
        ("models", "promote", "tiny@1", "production"),
        ("serve", "tiny@1", "--port", "0"),
    ]


@pytest.mark.parametrize("index", range(len(_commands("x"))), ids=[" ".join(c) for c in _commands("x")])
def test_every_command_says_in_one_line_that_the_database_is_damaged(cli, template, index):
    args = _commands(template[1])[index]
    stored = sorted(objects(cli.home))
    result = cli(*args, timeout=30)
    assert "Traceback" not in result.stderr + result.stdout, str(result)
    assert result.returncode == 2, str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, str(result)
    db = cli.home / "suiro.db"
    assert lines[0].startswith(f"error: the database {db} is damaged ("), str(result)
    assert "`suiro check`" in lines[0] and "`suiro backup`" in lines[0], lines[0]
    assert sorted(objects(cli.home)) == stored, "nothing was removed from a store whose record is damaged"


def test_check_prints_integrity_lines_and_exits_1(cli):
    result = cli("check")
    assert "Traceback" not in result.stderr + result.stdout, str(result)
    assert result.returncode == 1, str(result)
    assert result.stderr == "", str(result)
    lines = result.stdout.splitlines()
    assert lines and lines[0].startswith(f"integrity: the database {cli.home / 'suiro.db'} is damaged"), lines
    assert "Page " in lines[0]  # SQLite's own words: which page is bad
    assert "`suiro backup`" in lines[0]
    as_json = cli("check", "--json")
    assert as_json.returncode == 1, str(as_json)
    assert "integrity" in {p["kind"] for p in json.loads(as_json.stdout)}


def test_backup_refuses_to_copy_a_damaged_database(cli):
    result = cli("backup")
    assert result.returncode == 2, str(result)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: the database {cli.home / 'suiro.db'} is damaged ("), line
    assert "no backup was made" in line
    assert not list(cli.home.glob("backups/*")), "no damaged copy is left where backups are kept"


def test_a_damaged_file_header_is_reported_the_same_way(cli):
    with open(cli.home / "suiro.db", "r+b") as handle:  # deliberate damage: SQLite's magic string
        handle.write(b"\0" * 100)
    line = cli.error(2, "runs")
    assert line.startswith(f"error: the database {cli.home / 'suiro.db'} is damaged (file is not a database)")
    assert cli.error(2, "run", "diamond.py").startswith(f"error: the database {cli.home / 'suiro.db'}")
    result = cli("check")
    assert result.returncode == 1, str(result)
    assert result.stdout.startswith("integrity: "), str(result)


def test_a_read_or_write_landing_on_the_damaged_page_raises_the_one_sentence(template, tmp_path):
    """Without the check at open (a database over its size limit), the damaged page itself tells."""
    from suiro.errors import DatabaseDamagedError  # here, so the CLI tests run on a suiro without it

    source, _ = template
    home = tmp_path / "home"
    shutil.copytree(source / "home", home)
    store = Store(home, quick_check=False)
    try:
        with pytest.raises(DatabaseDamagedError, match=r"is damaged \(database disk image is malformed\)"):
            for run_id in run_ids(home):  # runs are intact; some of their task runs are on the page
                queries.get_run(store.db, run_id)
        with (
            pytest.raises(DatabaseDamagedError, match="`suiro backup`") as caught,
            store.db.write() as tx,
        ):
            tx.execute("UPDATE task_runs SET attempts = attempts + 1")
        assert caught.value.path == home / "suiro.db"
    finally:
        store.close()


def test_past_the_size_limit_a_command_that_reads_the_damaged_page_says_it_in_one_line(template, tmp_path):
    """A database too big to check at every command: the command that meets the damage still tells."""
    source, _ = template
    shutil.copytree(source / "big", tmp_path / "home")
    cli = Cli(tmp_path, new_home=True)
    (tmp_path / "small.py").write_text(SMALL)
    hit = []
    for run in rows(cli.home, "SELECT id, params FROM runs WHERE pipeline = 'small'"):
        try:
            rows(cli.home, "SELECT * FROM task_runs WHERE run_id = ?", (run["id"],))
        except sqlite3.DatabaseError:  # its task runs are on the damaged page
            hit.append((run["id"], json.loads(run["params"])["i"]))
    assert hit, "some run's task runs are on the damaged page"
    (run_id, i), db = hit[0], cli.home / "suiro.db"
    line = cli.error(2, "show", run_id)
    # SQLite's words from the read itself, not from the check at open (which names the page).
    assert line.startswith(f"error: the database {db} is damaged (database disk image is malformed)"), line
    # Same code and parameters: its cache lookup reads the recorded task run on the damaged page.
    line = cli.error(2, "run", "small.py", "--set", f"i={i}", "--executor", "sequential")
    assert line.startswith(f"error: the database {db} is damaged ("), line
    result = cli("check")
    assert result.returncode == 1 and result.stdout.startswith("integrity: "), str(result)
    from suiro.store.damage import QUICK_CHECK_LIMIT

    assert db.stat().st_size > QUICK_CHECK_LIMIT, "the database is too big to be checked at open"
