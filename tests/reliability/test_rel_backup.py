"""``suiro backup``: a consistent copy through SQLite's backup API, even while a run writes (G7).

A run of 400 short mapped tasks commits its records in many small batches while ``suiro backup``
copies the database three times; every copy must open in plain ``sqlite3`` and pass
``PRAGMA integrity_check``. Restoring the last copy taken mid-run the way ``suiro backup`` says (stop
suiro, move the database files aside, copy the backup in) gives a home whose run shows as crashed
and resumes to success, with ``suiro check`` clean.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli
from reliability.rel_harness import rows

LONG = """
import os
import time

from suiro import pipeline, task

@task
def item(i: int) -> int:
    time.sleep(float(os.environ.get("ITEM_SECONDS", "0.02")))
    return i * i

@task
def total(values: list[int]) -> int:
    return sum(values)

@pipeline
def long():
    return total(item.map(list(range(400))))
"""


def integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def backup(cli: Cli, *args: str) -> dict:
    result = cli.ok("backup", *args, "--json")
    return json.loads(result.stdout)


def test_backup_copies_the_database_while_a_run_writes_and_the_copy_restores(tmp_path):
    cli = Cli(tmp_path)
    cli.write("long.py", LONG)
    run = subprocess.Popen(
        cli.argv("run", "long.py", "--executor", "threads", "--workers", "2"),
        env=cli.env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not rows(cli.home, "SELECT id FROM runs") and time.monotonic() < deadline:
            time.sleep(0.05)
        copies = []
        for _ in range(3):
            copies.append(backup(cli))
            assert run.poll() is None, "the run was still writing during every backup"
            time.sleep(0.2)
    finally:
        _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    recorded = []
    for copy in copies:
        path = Path(copy["path"])
        assert path.parent == cli.home / "backups" and path.name.startswith("suiro-"), copy
        assert integrity(path) == ["ok"]
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        recorded.append(conn.execute("SELECT count(*) FROM task_runs WHERE state = 'success'").fetchone()[0])
        conn.close()
    assert recorded == sorted(recorded) and recorded[0] < 401, f"copies taken mid-run: {recorded}"
    assert len({c["path"] for c in copies}) == 3, "each backup has its own file"

    # Restore the last copy as `suiro backup` says: no suiro process runs, database files aside.
    text = cli.ok("backup").stdout
    assert "to restore it: stop every suiro process" in text, text
    for name in ("suiro.db", "suiro.db-wal", "suiro.db-shm"):
        if (cli.home / name).exists():
            (cli.home / name).rename(tmp_path / f"{name}.replaced")
    shutil.copyfile(copies[-1]["path"], cli.home / "suiro.db")
    (restored,) = cli.json("runs")
    assert restored["state"] == "crashed"  # its process is gone: the reaper's verdict
    cli.ok("resume", restored["id"], env={"ITEM_SECONDS": "0"})
    assert cli.json("runs")[0]["state"] == "success"
    assert cli.ok("check").stdout == "no problems found\n"


def test_backup_to_a_named_file_or_folder_and_never_over_a_file(tmp_path):
    cli = Cli(tmp_path)
    named = backup(cli, str(tmp_path / "copies" / "mine.db"))
    assert named["path"] == str(tmp_path / "copies" / "mine.db")
    assert integrity(Path(named["path"])) == ["ok"]
    line = cli.error(2, "backup", str(tmp_path / "copies" / "mine.db"))
    assert line == (
        f"error: {tmp_path / 'copies' / 'mine.db'} already exists; give a new file name or a folder "
        "(nothing was written)."
    )
    into = backup(cli, str(tmp_path / "copies"))
    assert Path(into["path"]).parent == tmp_path / "copies" and Path(into["path"]).name.startswith("suiro-")


def test_backup_of_postgresql_records_is_pg_dumps_job(tmp_path):
    cli = Cli(tmp_path)
    line = cli.error(2, "backup", env={"SUIRO_DB": "postgresql://user:hunter2@127.0.0.1:1/suiro"})
    assert "pg_dump" in line and "hunter2" not in line, line
    assert line.startswith("error: the records are in PostgreSQL (postgresql://***@127.0.0.1:1/suiro)"), line


@pytest.mark.parametrize("setup", ["no_home", "no_database"])
def test_backup_with_nothing_recorded_says_so(tmp_path, setup):
    cli = Cli(tmp_path, new_home=setup == "no_home")
    if setup == "no_database":
        (cli.home / "suiro.db").unlink()
    line = cli.error(2, "backup")
    assert line == f"error: there is no database at {cli.home / 'suiro.db'}; nothing to back up."
    assert not (cli.home / "suiro.db").exists()
