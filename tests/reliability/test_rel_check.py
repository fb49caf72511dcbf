"""``suiro check``, the invariant checker: each broken invariant is found, once, and nothing is changed.

A real run of the ledgered diamond fills a store; each test then breaks one thing by hand (an
object, a row, a pid) and asserts the problem ``suiro.history.check`` reports, or the CLI's lines
and exit code.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability.rel_harness import objects, output_digests, rows, run_ids, write_diamond

from suiro import api, history
from suiro.registry import Registry

#: These tests plant the problems that suiro check must report.
pytestmark = pytest.mark.leaves_problems


@pytest.fixture
def home(tmp_path, suiro_home):
    """A home holding one successful run of the diamond."""
    api.run(str(write_diamond(tmp_path)), executor="sequential", home=suiro_home)
    return suiro_home


def _run(home: Path) -> str:
    (run_id,) = run_ids(home)
    return run_id


def _kinds(home: Path) -> list[tuple[str, str]]:
    return [(p["kind"], p["subject"]) for p in history.check(home=home)]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")} | {"SUIRO_HOME": str(home)}
    argv = [sys.executable, "-m", "suiro", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def _execute(home: Path, sql: str, params: tuple = ()) -> None:
    conn = sqlite3.connect(home / "suiro.db")
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def test_a_store_after_a_clean_run_has_no_problem(home):
    assert history.check(home=home) == []
    assert len(objects(home)) == 3  # load, left and right are files; join is inline


def test_a_missing_output_is_reported_by_its_digest_and_task_run(home):
    run_id = _run(home)
    digest = output_digests(home, run_id)["left"]
    objects(home)[digest].unlink()
    (problem,) = history.check(home=home)
    assert (problem["kind"], problem["subject"]) == ("missing_artifact", digest)
    assert f"{run_id}/left" in problem["message"]


def test_an_output_whose_bytes_changed_is_reported_once(home):
    digest = output_digests(home, _run(home))["right"]
    path = objects(home)[digest]
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    assert _kinds(home) == [("corrupt_artifact", digest)]  # not a second time as a corrupt object


def test_tampered_inline_bytes_are_reported(home):
    digest = output_digests(home, _run(home))["join"]  # a small JSON output, kept on its row
    _execute(home, "UPDATE task_runs SET output_inline = ? WHERE output_digest = ?", (b'"tampered"', digest))
    assert _kinds(home) == [("corrupt_artifact", digest)]


def test_an_output_with_no_artifact_row_is_reported(home):
    digest = output_digests(home, _run(home))["join"]
    _execute(home, "UPDATE task_runs SET output_inline = NULL WHERE output_digest = ?", (digest,))
    assert _kinds(home) == [("unrecorded_artifact", digest)]


def test_a_tampered_item_kept_with_a_manifest_is_reported_through_the_manifest(tmp_path, suiro_home):
    # Small items are kept on their rows and, for reading the list, in the manifest's ``items``.
    source, manifest = _mapped_run(tmp_path, suiro_home, "small", "i * 10")
    (row,) = rows(suiro_home, "SELECT inline, items FROM artifacts WHERE digest = ?", (manifest,))
    items = json.loads(row["items"])
    assert [entry[1] for entry in items] == ["10", "20", "30"]
    items[1][1] = "21"
    _execute(
        suiro_home, "UPDATE artifacts SET items = ? WHERE digest = ?", (json.dumps(items).encode(), manifest)
    )
    assert _kinds(suiro_home) == [("corrupt_artifact", manifest)]
    again = api.run(str(source), executor="sequential", home=suiro_home)  # read, the item is refused
    assert not again.ok and f"corrupt artifact {json.loads(row['inline'])[1]}" in again.error
    redone = api.run(str(source), executor="sequential", home=suiro_home, recompute_corrupt=True)
    assert redone.ok and redone.output == [10, 20, 30]  # the items, whole on their own rows, are reused


def test_a_damaged_items_record_is_reported_and_the_next_run_mends_it(tmp_path, suiro_home):
    source, manifest = _mapped_run(tmp_path, suiro_home, "small", "i * 10")
    _execute(suiro_home, "UPDATE artifacts SET items = ? WHERE digest = ?", (b"{not json", manifest))
    problems = history.check(home=suiro_home)
    assert [(p["kind"], p["subject"]) for p in problems] == [("corrupt_artifact", manifest)]
    assert "items kept on task runs' rows is damaged" in problems[0]["message"]
    again = api.run(str(source), executor="sequential", home=suiro_home)  # no traceback, right answer
    assert again.ok and again.output == [10, 20, 30]
    assert _kinds(suiro_home) == []  # the list recorded again carries its items whole


def _mapped_run(tmp_path: Path, home: Path, name: str, body: str) -> tuple[Path, str]:
    """Run ``name.map([1, 2, 3])``, a task returning ``body`` of ``i``: its source and manifest digest."""
    source = tmp_path / "mapped.py"
    source.write_text(
        "from suiro import pipeline, task\n\n"
        f"@task\ndef {name}(i: int):\n    return {body}\n\n"
        f"@pipeline\ndef mapped():\n    return {name}.map([1, 2, 3])\n"
    )
    run_id = api.run(str(source), executor="sequential", home=home).run_id
    return source, output_digests(home, run_id)[name]


def test_a_broken_manifest_item_is_reported_through_the_manifest(tmp_path, suiro_home):
    _, manifest = _mapped_run(tmp_path, suiro_home, "big", "str(i) * 20000")
    items = json.loads(
        rows(suiro_home, "SELECT inline FROM artifacts WHERE digest = ?", (manifest,))[0]["inline"]
    )
    objects(suiro_home)[items[1]].unlink()
    kinds = _kinds(suiro_home)
    assert ("missing_artifact", manifest) in kinds  # the whole mapped output cannot be read
    assert ("missing_artifact", items[1]) in kinds  # nor its item [1]
    assert len(kinds) == 2


def test_two_successful_attempts_of_one_task_run_are_reported(home):
    run_id = _run(home)
    _execute(
        home,
        "INSERT INTO attempts (run_id, task_key, map_index, attempt, state)"
        " VALUES (?, 'left', -1, 2, 'success')",
        (run_id,),
    )
    assert _kinds(home) == [("double_success", f"{run_id}/left")]


def test_a_running_run_whose_process_is_gone_is_reported_and_left_running(home):
    run_id = _run(home)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _execute(
        home, "UPDATE runs SET state = 'running', ended = NULL, pid = ? WHERE id = ?", (dead.pid, run_id)
    )
    (problem,) = history.check(home=home)
    assert (problem["kind"], problem["subject"]) == ("dead_run", run_id)
    assert f"process {dead.pid} is gone" in problem["message"]
    assert rows(home, "SELECT state FROM runs")[0]["state"] == "running"  # reported, not reaped


def test_a_running_run_with_a_stale_heartbeat_is_reported_even_if_its_pid_lives(home):
    run_id = _run(home)
    old = time.time() - 3600
    _execute(
        home,
        "UPDATE runs SET state = 'running', pid = ?, host = 'elsewhere', heartbeat = ? WHERE id = ?",
        (os.getpid(), old, run_id),
    )
    assert _kinds(home) == [("dead_run", run_id)]


def test_a_live_running_run_is_not_a_problem(home):
    _execute(home, "UPDATE runs SET state = 'running', pid = ?, heartbeat = ?", (os.getpid(), time.time()))
    assert history.check(home=home) == []


def test_a_task_run_still_running_in_an_ended_run_is_reported(home):
    run_id = _run(home)
    _execute(home, "UPDATE task_runs SET state = 'running' WHERE task_key = 'join'")
    assert ("orphan_task_run", f"{run_id}/join") in _kinds(home)


def test_an_unreferenced_object_that_does_not_hash_to_its_name_is_reported(home):
    data = b"orphan" * 10_000
    digest = hashlib.sha256(data).hexdigest()
    path = home / "artifacts" / "objects" / digest[:2] / digest[2:]
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data + b"!")
    assert _kinds(home) == [("corrupt_object", digest)]
    path.write_bytes(data)  # an orphan that is intact is no problem (gc removes it)
    assert history.check(home=home) == []


def test_a_registered_model_whose_bytes_are_gone_is_reported(home):
    registry = Registry(home)
    version = registry.register("tiny", {"weights": list(range(10))})
    registry.close()
    objects(home)[version.artifact_digest].unlink()
    assert _kinds(home) == [("missing_model", "tiny@1")]


def test_a_row_pointing_to_a_missing_parent_fails_the_foreign_key_check(home):
    conn = sqlite3.connect(home / "suiro.db")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("INSERT INTO metrics (run_id, task_key, name, value, time) VALUES ('nope', 't', 'm', 1, 0)")
    conn.commit()
    conn.close()
    assert [k for k, _ in _kinds(home)] == ["foreign_key"]


def test_a_damaged_database_file_fails_the_integrity_check(home):
    conn = sqlite3.connect(home / "suiro.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA writable_schema=ON")
    # Drop an index's entries behind SQLite's back: the table and its index now disagree.
    root = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_task_runs_1'"
    ).fetchone()[0]
    conn.close()
    page_size = 4096
    with open(home / "suiro.db", "r+b") as handle:  # deliberate damage; suiro itself never does this
        handle.seek((root - 1) * page_size)
        page = bytearray(handle.read(page_size))
        page[3:5] = (0).to_bytes(2, "big")  # cell count of the index's root page: 0
        handle.seek((root - 1) * page_size)
        handle.write(bytes(page))
    kinds = [k for k, _ in _kinds(home)]
    assert kinds[0] == "integrity"


def test_the_cli_prints_one_line_per_problem_and_exits_1(home):
    digest = output_digests(home, _run(home))["left"]
    objects(home)[digest].unlink()
    result = _cli(home, "check")
    assert result.returncode == 1, result
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"missing_artifact: missing artifact {digest} is the recorded output")
    as_json = _cli(home, "check", "--json")
    assert as_json.returncode == 1
    assert [p["subject"] for p in json.loads(as_json.stdout)] == [digest]


def test_the_cli_exits_0_on_a_clean_store(home):
    result = _cli(home, "check")
    assert (result.returncode, result.stdout) == (0, "no problems found\n")
