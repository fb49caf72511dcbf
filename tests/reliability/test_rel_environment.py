"""R10 (b, c): refuse a network filesystem for SQLite, and never touch the database files directly.

(b) runs the real CLI with the filesystem detector reporting NFS: one clear line, exit 2, and no
database file created. (c) is static: no source file opens ``*.db``, ``-wal`` or ``-shm`` with a
plain file call (copying or reading them by hand is how SQLite databases get corrupted; backups
go through ``sqlite3.Connection.backup``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from reliability.rel_harness import write_diamond

import suiro

SRC = Path(suiro.__file__).parent

PATCHED_CLI = """
import sys
import suiro.store.db as db
db.filesystem_type = lambda folder: "NFS"
from suiro.cli import main
sys.argv = ["suiro", *sys.argv[1:]]
main()
"""


def _cli_on_nfs(tmp_path: Path, *args: str, allow: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env["SUIRO_HOME"] = str(tmp_path / "home")
    if allow:
        env["SUIRO_ALLOW_NETWORK_FS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", PATCHED_CLI, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_a_home_on_a_network_filesystem_is_refused_with_one_line(tmp_path):
    write_diamond(tmp_path)
    result = _cli_on_nfs(tmp_path, "run", "diamond.py")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / 'home'} is on a NFS filesystem, where SQLite can corrupt")
    assert "SUIRO_ALLOW_NETWORK_FS=1" in line
    assert not (tmp_path / "home" / "suiro.db").exists(), "nothing was written before refusing"


def test_a_network_filesystem_can_be_accepted_explicitly(tmp_path):
    write_diamond(tmp_path)
    result = _cli_on_nfs(tmp_path, "run", "diamond.py", allow=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "home" / "suiro.db").exists()


# -- static: database files are opened by sqlite3 only ----------------------------------------

#: Calls that read, write or copy a file by path.
_FILE_CALLS = {
    "open",
    "read_bytes",
    "read_text",
    "write_bytes",
    "write_text",
    "copy",
    "copy2",
    "copyfile",
    "copyfileobj",
    "move",
    "replace",
    "rename",
    "unlink",
    "remove",
    "truncate",
}
_DB_FILE = re.compile(r"""\.db\b|-wal\b|-shm\b|\bdb\.path\b|\bdb_path\b|suiro\.db""")


def _direct_db_file_calls(source: str, name: str) -> list[str]:
    """``name:line: call`` for every file call whose arguments or receiver name a database file."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = (
            func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        )
        if called not in _FILE_CALLS:
            continue
        receiver = func.value if isinstance(func, ast.Attribute) else None
        if isinstance(receiver, ast.Name) and receiver.id == "dataclasses":
            continue  # dataclasses.replace(...) copies a record, not a file (its fields may name store.db)
        text = ast.get_source_segment(source, node) or ""
        # In the database module, ``self.path`` is the database file itself.
        if _DB_FILE.search(text) or (name.endswith("db.py") and "self.path" in text):
            found.append(f"{name}:{node.lineno}: {text}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        'open(home / "suiro.db", "rb")',
        "shutil.copy(db.path, backup)",
        'Path(str(path) + "-wal").unlink()',
        'os.open(f"{db_path}-shm", os.O_RDONLY)',
        '(home / "suiro.db").read_bytes()',
    ],
)
def test_the_detector_finds_direct_database_file_access(snippet):
    assert _direct_db_file_calls(snippet, "snippet")
    assert _direct_db_file_calls("open(self.path, 'rb')", "store/db.py")
    assert _direct_db_file_calls("dataclasses.replace(info, root=queries.root_of(store.db))", "api.py") == []


def test_no_source_file_opens_the_database_files_directly():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        found += _direct_db_file_calls(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert found == [], "use sqlite3 (and Connection.backup) for database files:\n" + "\n".join(found)
