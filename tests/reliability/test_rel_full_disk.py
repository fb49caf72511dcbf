"""R11 for readers: with the disk full (or the home read-only) the read commands still work.

Found by testers: a full disk made even ``suiro runs`` fail. A reader of a SQLite database in
WAL mode needs its shared-memory file (``suiro.db-shm``, 32 KiB); after the last process closed
the database that file is gone, and on a full disk it cannot be made again ("disk I/O error").
The reaper also writes (a dead run is marked crashed) and so failed every read with it.

The disk here is real: a 16 MiB tmpfs mounted in the test's folder (root and ``mount`` are
needed: skipped otherwise), holding a home with a successful run (logs, a metric, a stored
output), a run killed mid-task (left ``running``) and a registered model, then filled with a
file to the last byte. Every read command must answer (``check`` reports the dead run, as it
should), a write must fail with one line, nothing may be damaged, and once space is freed the
reaper records the dead run and ``suiro check`` is clean.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli

from suiro import history

PIPELINE = """
    import os
    import time

    from suiro import log_metric, pipeline, task


    @task
    def make(n: int) -> list[int]:
        print("hello from make")
        log_metric("score", 0.75)
        if os.environ.get("HANG"):
            time.sleep(60)
        return list(range(n))


    @pipeline
    def p(n: int = 5000):
        return make(n)
    """

READS = [
    ("runs",),
    ("show", "last"),
    ("logs", "last"),
    ("metrics", "last"),
    ("artifacts", "last"),
    ("artifacts", "verify"),
    ("explain", "last", "make"),
    ("models", "list"),
    ("models", "show", "tiny@1"),
]


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    return proc.returncode == 0


def _fill(folder: Path) -> Path:
    """Write a file in ``folder`` until the disk refuses even one more byte; its path."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        size = 1 << 20
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return filler


def _register_model(home: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from suiro.registry import Registry

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 5, "b": [1.0, 0.0, 1.0, 0.0] * 5})
    registry = Registry(home)
    registry.register("tiny", LogisticRegression().fit(frame, [0, 0, 1, 1] * 5), input_schema=frame)
    registry.close()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs at ``tmp_path/disk``, unmounted after the test."""
    folder = tmp_path / "disk"
    if not _mount_tmpfs(folder, "16m"):
        pytest.skip("mounting a tmpfs needs root (or CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def home_on_disk(disk: Path, tmp_path: Path) -> tuple[Cli, str, str]:
    """A CLI whose home is on ``disk`` with a successful run, a dead run and a model; the runs' ids."""
    cli = Cli(tmp_path, new_home=True)
    cli.home = disk / "home"
    cli.write("p.py", PIPELINE)
    done = cli.ok("run", "p.py").run_id
    dead = subprocess.Popen(
        cli.argv("run", "p.py", "--set", "n=7"),
        env=cli.env({"HANG": "1"}),
        cwd=cli.root,
        stdout=subprocess.PIPE,
        text=True,
    )
    first = dead.stdout.readline()  # "run <id>: ..." once the run row exists
    dead.kill()
    dead.wait()
    dead.stdout.close()
    _register_model(cli.home)
    assert not (cli.home / "suiro.db-shm").exists(), "every connection closed: a reader must make it anew"
    return cli, done, first.split()[1].rstrip(":")


def test_read_commands_work_on_a_full_disk_and_nothing_is_damaged(home_on_disk, disk):
    cli, done, dead = home_on_disk
    filler = _fill(disk)
    assert shutil.disk_usage(disk).free == 0
    for args in READS:
        result = cli.ok(*args)
        assert "error" not in result.stderr, str(result)
    assert dead in cli.ok("runs").stdout
    assert "hello from make" in cli.ok("logs", done).stdout
    assert "score" in cli.ok("metrics", done).stdout
    checked = cli.expect(1, "check")
    assert f"dead_run: run {dead}" in checked.stdout, str(checked)  # found, not yet recorded
    line = cli.error(2, "run", "p.py", "--set", "n=9")  # a writer gets one line
    assert "its disk is full" in line, line
    assert "suiro gc cannot remove anything" in cli.error(2, "gc", "--min-age", "0")  # before any delete
    assert "would remove 0 artifacts" in cli.ok("gc", "--dry-run").stdout
    filler.unlink()
    states = {r["id"]: r["state"] for r in history.runs(home=cli.home)}  # reaps the dead run now
    assert states[dead] == "crashed"
    assert history.check(home=cli.home) == []
    assert cli.ok("run", "p.py").returncode == 0


def test_read_commands_work_on_a_read_only_home(home_on_disk, disk):
    cli, done, dead = home_on_disk
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    for args in READS:
        result = cli.ok(*args)
        assert "error" not in result.stderr, str(result)
    assert "hello from make" in cli.ok("logs", done).stdout
    line = cli.error(2, "run", "p.py", "--set", "n=9")
    assert "read-only" in line.lower(), line
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    assert {r["id"]: r["state"] for r in history.runs(home=cli.home)}[dead] == "crashed"
    assert history.check(home=cli.home) == []


def test_a_home_that_cannot_be_created_on_a_read_only_disk_is_one_line(disk, tmp_path):
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    cli = Cli(tmp_path, new_home=True)
    cli.home = disk / "home"
    line = cli.error(2, "runs")
    assert f"SUIRO_HOME='{disk / 'home'}' cannot be created: {disk} is not writable" in line, line
    assert os.listdir(disk) == []


def test_records_only_the_write_ahead_log_holds_are_never_read_around(disk, tmp_path):
    """A -wal with content (a writer killed before its checkpoint) and no -shm: no snapshot."""
    cli = Cli(tmp_path)  # a home with its database made, copied in below with a live log
    writer = sqlite3.connect(cli.home / "suiro.db", isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("UPDATE alembic_version SET version_num = version_num")  # a frame in the log
    home = disk / "home"
    home.mkdir()
    for name in ("suiro.db", "suiro.db-wal"):
        shutil.copyfile(cli.home / name, home / name)
    writer.close()
    assert (home / "suiro.db-wal").stat().st_size > 0
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    cli.home = home
    line = cli.error(2, "runs")
    assert "cannot read the suiro database" in line, line
