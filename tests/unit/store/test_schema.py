"""A new SQLite database made without Alembic (``store.schema``) equals one made by the migrations.

The fast path keeps a second copy of the schema; these tests are what keeps it honest: any
migration added without the matching change to ``schema.STATEMENTS`` fails here. Databases are
real files; which code path ran is observed in subprocesses through ``sys.modules``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from suiro.errors import StoreError
from suiro.store import schema
from suiro.store.db import HEAD_REVISION, Database
from suiro.store.migrate import MIGRATIONS, upgrade_schema

SRC = Path(__file__).resolve().parents[3] / "src"


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def _normalized(sql: str | None) -> str | None:
    """Whitespace-insensitive SQL text: one space between words, none around ( ) and ,."""
    if sql is None:
        return None
    return re.sub(r"\s*([(),])\s*", r"\1", re.sub(r"\s+", " ", sql)).strip()


def schema_of(path: Path) -> dict[str, Any]:
    """Everything SQLite knows about a file's schema, read without suiro, comparable with ==.

    ``sqlite_master`` (normalized SQL of every table, index and trigger: CHECK, DEFAULT and
    partial-index clauses live only there) plus what the pragmas derive from it per table:
    columns (type, NOT NULL, default, primary-key position), indexes (unique, origin, partial,
    key columns, order, collation) and foreign keys.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        master = {
            f"{kind} {name}": (table, _normalized(sql))
            for kind, name, table, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        }
        tables: dict[str, Any] = {}
        for name in sorted(k.split(" ", 1)[1] for k in master if k.startswith("table ")):
            indexes = {
                row[1]: (row[2:], conn.execute(f'PRAGMA index_xinfo("{row[1]}")').fetchall())
                for row in conn.execute(f'PRAGMA index_list("{name}")')
            }
            tables[name] = {
                "columns": conn.execute(f'PRAGMA table_xinfo("{name}")').fetchall(),
                "indexes": indexes,
                "foreign_keys": sorted(conn.execute(f'PRAGMA foreign_key_list("{name}")').fetchall()),
            }
        pragmas = {p: conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("user_version", "journal_mode")}
        return {"master": master, "tables": tables, "pragmas": pragmas}
    finally:
        conn.close()


def statements_of(path: Path) -> str:
    """The CREATE statements of a file, to paste into ``schema.STATEMENTS`` when they differ."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        return "\n".join(f"{sql};" for (sql,) in rows)
    finally:
        conn.close()


def through_alembic(path: Path, monkeypatch) -> Path:
    """An empty file brought to the head by Alembic's migrations alone (the fast path declines)."""
    with monkeypatch.context() as patch:
        patch.setattr(schema, "REVISION", "lagging")  # as if a migration had no fast-path twin yet
        Database.open(url_of(path)).close()
    return path


def test_a_new_database_has_exactly_the_schema_the_migrations_make(tmp_path, monkeypatch):
    fast = Database.open(url_of(tmp_path / "fast.db"))
    fast.close()
    migrated = through_alembic(tmp_path / "migrated.db", monkeypatch)
    upgraded = tmp_path / "upgraded.db"  # the path of a home made before revision 0003
    upgrade_schema(Database(url_of(upgraded)), "0001")
    Database.open(url_of(upgraded)).close()

    expected = schema_of(migrated)
    assert len(expected["tables"]) == 14 and expected["master"]["trigger model_transitions_no_update"]
    assert schema_of(tmp_path / "fast.db") == expected, (
        "store/schema.py no longer matches the migrations; make STATEMENTS create this:\n"
        + statements_of(migrated)
    )
    assert schema_of(upgraded) == expected
    assert fast.revision() == HEAD_REVISION


def test_the_comparison_sees_a_changed_default_an_index_and_a_trigger(tmp_path, monkeypatch):
    """The equality above could fail: small changes to the fast path's statements are seen."""
    migrated = schema_of(through_alembic(tmp_path / "migrated.db", monkeypatch))
    changes = {
        "default": ("DEFAULT 'none'", "DEFAULT 'staging'"),
        "partial index": ("WHERE stage = 'production'", ""),
        "trigger": ("BEFORE DELETE", "AFTER DELETE"),
        "foreign key": ("FOREIGN KEY(run_id) REFERENCES runs (id)\n    )", "CHECK (run_id <> '')\n    )"),
    }
    for i, (what, (old, new)) in enumerate(changes.items()):
        changed = tuple(s.replace(old, new) for s in schema.STATEMENTS)
        assert changed != schema.STATEMENTS, what
        with monkeypatch.context() as patch:
            patch.setattr(schema, "STATEMENTS", changed)
            Database.open(url_of(tmp_path / f"changed-{i}.db")).close()
        assert schema_of(tmp_path / f"changed-{i}.db") != migrated, what


def test_the_fast_path_covers_every_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION == schema.REVISION


def test_alembic_reads_the_stamp_and_migrates_from_it(tmp_path):
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    path = tmp_path / "fast.db"
    db = Database.open(url_of(path))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine().begin() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")  # a later migration runs on the fast path's file as on any other
    db.engine().dispose()
    assert Database.open(url_of(path), upgrade=False).revision() == "0002"
    assert "model_versions" not in {r["name"] for r in db.query("SELECT name FROM sqlite_master")}

    upgraded = Database.open(url_of(path))  # 0002 -> head through Alembic
    assert upgraded.revision() == HEAD_REVISION
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), upgraded.write() as tx:
        tx.execute(
            "INSERT INTO model_transitions (name, version, to_stage, action, time)"
            " VALUES ('m', 1, 'staging', 'register', 0)"
        )
        tx.execute("DELETE FROM model_transitions")


_OPEN = """
import json, sys
from suiro.store import schema
from suiro.store.db import Database
if sys.argv[2] == "lagging":
    schema.REVISION = "lagging"
db = Database.open("sqlite:///" + sys.argv[1])
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"alembic", "sqlalchemy"})
print(json.dumps({"loaded": loaded, "revision": db.revision()}))
"""


def open_in_subprocess(path: Path, mode: str = "") -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _OPEN, str(path), mode],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_new_database_is_created_without_importing_sqlalchemy_or_alembic(tmp_path):
    assert open_in_subprocess(tmp_path / "new.db") == {"loaded": [], "revision": HEAD_REVISION}


@pytest.mark.parametrize("case", ["foreign table", "lagging statements", "older revision"])
def test_other_databases_still_go_through_alembic(tmp_path, case):
    path = tmp_path / "old.db"
    if case == "foreign table":  # not empty and not suiro's: the fast path must not claim it
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
        conn.close()
    elif case == "older revision":
        upgrade_schema(Database(url_of(path)), "0002")
    found = open_in_subprocess(path, "lagging" if case == "lagging statements" else "")
    assert found == {"loaded": ["alembic", "sqlalchemy"], "revision": HEAD_REVISION}


def test_processes_creating_one_new_database_at_once_make_it_once(tmp_path):
    path = tmp_path / "home" / "suiro.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN, str(path), ""],
            env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    assert all(json.loads(out)["revision"] == HEAD_REVISION for out, _ in outputs)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
    conn.close()


def test_a_failure_while_creating_leaves_an_empty_database_that_opens_later(tmp_path, monkeypatch):
    path = tmp_path / "new.db"
    with monkeypatch.context() as patch:
        patch.setattr(schema, "STATEMENTS", (*schema.STATEMENTS[:5], "CREATE TABLE runs (id TEXT)"))
        refused = rf"could not bring the database .*new\.db to schema {HEAD_REVISION}: table runs "
        with pytest.raises(StoreError, match=refused):
            Database.open(url_of(path))
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,), "nothing half-made is kept"
    conn.close()
    assert Database.open(url_of(path)).revision() == HEAD_REVISION
