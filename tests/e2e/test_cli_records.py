"""Reading the record back through the CLI: runs, show, logs, metrics, artifacts, explain, gc.

One home is filled once per module (four runs: a first run with a retry and metrics, a
second run that is all cache hits, a run after one task's source was edited, and a failed
run of another pipeline); the read-only commands are checked against it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import pytest
from pipelines.cli_harness import RUN_ID, Cli

RECORDED = """
    import suiro
    from suiro import context, pipeline, task


    @task(retries=1, retry_delay=0.0, retry_on=(ConnectionError,))
    def load(n: int) -> list[int]:
        print(f"load attempt {context().attempt}")
        if context().attempt == 1:
            raise ConnectionError("flaky source")
        return list(range(n))


    @task
    def train(xs: list[int]) -> float:
        for step, x in enumerate(xs):
            suiro.log_metric("loss", 1.0 / (x + 1), step=step)
        suiro.log_metric("accuracy", 0.875)
        print("trained on", len(xs))
        return sum(xs) / len(xs)


    @task
    def report(score: float) -> str:
        return f"score={score}"


    @pipeline
    def recorded(n: int = 4):
        return report(train(load(n)))
"""
EDITED_TRAIN = ("return sum(xs) / len(xs)", "return sum(xs) / len(xs) + 0.0")

BROKEN = """
    from suiro import pipeline, task


    @task
    def fine() -> int:
        return 1


    @task
    def crash(x: int) -> int:
        raise RuntimeError("no such table")


    @pipeline
    def broken():
        return crash(fine())
"""

BIG = """
    from suiro import pipeline, task


    @task
    def big() -> str:
        return "x" * 50_000


    @pipeline
    def bigout():
        return big()
"""


@dataclass(frozen=True)
class Record:
    cli: Cli
    first: str  # recorded: load retried once, metrics logged
    cached: str  # recorded again, unchanged: every task a cache hit
    edited: str  # recorded after train's source changed
    failed: str  # broken: crash failed


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> Record:
    cli = Cli(tmp_path_factory.mktemp("records"))
    path = cli.write("recorded.py", RECORDED)
    cli.write("broken.py", BROKEN)
    first = cli.ok("run", "recorded.py").run_id
    cached = cli.ok("run", "recorded.py").run_id
    path.write_text(path.read_text().replace(*EDITED_TRAIN))
    edited = cli.ok("run", "recorded.py").run_id
    failed = cli.expect(1, "run", "broken.py").run_id
    return Record(cli, first, cached, edited, failed)


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


# --- runs ------------------------------------------------------------------------------------


def test_runs_json_lists_every_run_newest_first(record):
    rows = record.cli.json("runs")
    assert [r["id"] for r in rows] == [record.failed, record.edited, record.cached, record.first]
    assert [r["pipeline"] for r in rows] == ["broken", "recorded", "recorded", "recorded"]
    assert [r["state"] for r in rows] == ["failed", "success", "success", "success"]
    assert all(r["parent_run_id"] is None for r in rows)
    assert all(r["duration"] >= 0 for r in rows)


def test_runs_filters_by_pipeline_and_state(record):
    cli = record.cli
    assert [r["id"] for r in cli.json("runs", "--pipeline", "broken")] == [record.failed]
    assert [r["id"] for r in cli.json("runs", "--state", "failed")] == [record.failed]
    assert len(cli.json("runs", "--pipeline", "recorded", "--state", "success")) == 3
    assert cli.json("runs", "--pipeline", "nothing") == []
    assert [r["id"] for r in cli.json("runs", "--limit", "1")] == [record.failed]


def test_runs_table_names_pipelines_and_states(record):
    out = record.cli.ok("runs").stdout
    assert "\x1b" not in out
    assert "recorded" in out and "broken" in out
    assert "failed" in out and "success" in out


def test_runs_table_shows_whole_run_ids(record):
    out = record.cli.ok("runs").stdout
    for run_id in (record.first, record.cached, record.edited, record.failed):
        assert run_id in out


# --- show ------------------------------------------------------------------------------------


def test_show_json_has_tasks_states_and_attempts(record):
    run = record.cli.json("show", record.first)
    assert run["id"] == record.first
    assert run["pipeline"] == "recorded"
    assert run["state"] == "success"
    assert run["params"] == {"n": 4}
    tasks = {t["task_key"]: t for t in run["tasks"]}
    assert list(tasks) == ["load", "train", "report"]
    assert {k: t["state"] for k, t in tasks.items()} == dict.fromkeys(tasks, "success")
    assert {k: t["attempts"] for k, t in tasks.items()} == {"load": 2, "train": 1, "report": 1}
    traceback = tasks["load"]["errors"][0].pop("traceback")  # since the web UI: show -v prints it
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.rstrip().endswith("ConnectionError: flaky source")
    assert tasks["load"]["errors"] == [
        {
            "map_index": -1,
            "attempt": 1,
            "state": "retrying",
            "error_type": "ConnectionError",
            "error_message": "flaky source",
        }
    ]
    assert [(a["task_key"], a["attempt"], a["state"]) for a in run["attempts"]] == [
        ("load", 1, "retrying"),
        ("load", 2, "success"),
        ("train", 1, "success"),
        ("report", 1, "success"),
    ]


def test_show_finds_a_run_by_last_prefix_and_suffix(record):
    cli = record.cli
    assert cli.json("show", "last")["id"] == record.failed
    assert cli.json("show", record.edited[:-2])["id"] == record.edited
    assert cli.json("show", record.cached[-6:])["id"] == record.cached


def test_show_table_has_each_task_and_the_failure(record):
    out = record.cli.ok("show", record.failed).stdout
    assert f"run {record.failed}" in out
    assert re.search(r"fine\s+.\s+success", out)
    assert re.search(r"crash\s+.\s+failed", out)
    assert "RuntimeError: no such table" in out


def test_second_run_of_the_same_file_is_all_cache_hits(record):
    tasks = record.cli.tasks(record.cached)
    assert {k: t["state"] for k, t in tasks.items()} == dict.fromkeys(["load", "train", "report"], "cached")
    assert {t["cached_from"] for t in tasks.values()} == {record.first}
    assert record.cli.json("show", record.cached)["attempts"] == []  # nothing executed


def test_only_the_edited_task_runs_again(record):
    tasks = record.cli.tasks(record.edited)
    assert {k: t["state"] for k, t in tasks.items()} == {
        "load": "cached",
        "train": "success",
        "report": "cached",
    }


def test_ambiguous_prefix_is_an_error_listing_the_matches(record):
    line = record.cli.error(2, "show", record.first[:9])
    assert "matches several runs" in line
    assert "give more of the id" in line


@pytest.mark.parametrize(
    "args",
    [["show", "zzz"], ["logs", "zzz"], ["metrics", "zzz"], ["artifacts", "zzz"], ["explain", "zzz", "load"]],
    ids=lambda a: a[0],
)
def test_unknown_run_id_is_exit_2_with_a_clear_message(record, args):
    line = record.cli.error(2, *args)
    assert line == "error: no run 'zzz'; list runs with `suiro runs`."


def test_unknown_task_is_exit_2_naming_the_tasks(record):
    line = record.cli.error(2, "logs", record.first, "trian")
    assert "has no task 'trian'" in line
    assert 'did you mean "train"' in line
    assert "load, report, train" in line


# --- logs ------------------------------------------------------------------------------------


def test_logs_show_each_attempt_and_what_tasks_printed(record):
    out = record.cli.ok("logs", record.first).stdout
    lines = out.splitlines()
    retried = lines.index("== load attempt 2 (success)")
    assert lines[:2] == ["== load attempt 1 (retrying)", "load attempt 1"]
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[retried - 1] == "ConnectionError: flaky source"  # how the retried attempt ended
    assert lines[retried:] == [
        "== load attempt 2 (success)",
        "load attempt 2",
        "== train attempt 1 (success)",
        "trained on 4",
        "== report attempt 1 (success)",
    ]


def test_logs_of_one_task(record):
    out = record.cli.ok("logs", record.first, "train").stdout
    assert out.splitlines() == ["== train attempt 1 (success)", "trained on 4"]


def test_logs_of_a_failed_task_end_with_its_traceback(record):
    lines = record.cli.ok("logs", record.failed, "crash").stdout.splitlines()
    assert lines[0] == "== crash attempt 1 (failed)"
    assert lines[1] == "Traceback (most recent call last):"
    assert any('raise RuntimeError("no such table")' in line for line in lines)
    assert lines[-1] == "RuntimeError: no such table"


def test_show_verbose_prints_a_failed_attempts_traceback(record):
    out = record.cli.ok("show", record.failed, "--verbose").stdout
    assert "crash attempt 1: RuntimeError: no such table" in out
    assert "Traceback (most recent call last):" in out
    assert 'raise RuntimeError("no such table")' in out


# --- metrics and artifacts -------------------------------------------------------------------


def test_metrics_json_has_the_logged_values(record):
    rows = record.cli.json("metrics", record.first)
    assert [(r["task_key"], r["name"], r["value"], r["step"]) for r in rows] == [
        ("train", "loss", 1.0, 0),
        ("train", "loss", 0.5, 1),
        ("train", "loss", pytest.approx(1 / 3), 2),
        ("train", "loss", 0.25, 3),
        ("train", "accuracy", 0.875, None),
    ]


def test_metrics_table(record):
    out = record.cli.ok("metrics", record.first).stdout
    assert re.search(r"train\s+.\s+accuracy\s+.\s+0\.875", out)
    assert "cached from" not in out


def test_a_run_of_cache_hits_has_the_metrics_its_reused_tasks_logged(record):
    # It had none: the UI's pipeline page said its latest run "logged no metric"
    reused = record.cli.json("metrics", record.cached)
    first = record.cli.json("metrics", record.first)
    assert [(m["name"], m["value"], m["step"]) for m in reused] == [
        (m["name"], m["value"], m["step"]) for m in first
    ]
    assert {m["cached_from"] for m in reused} == {record.first}
    assert {m["cached_from"] for m in first} == {None}
    assert re.search(
        rf"train\s+.\s+accuracy\s+.\s+0\.875\s+.\s+.\s+{record.first}",
        record.cli.ok("metrics", record.cached).stdout,
    )


NAN_METRICS = """
    import time

    import suiro
    from suiro import pipeline, task


    @task
    def fit(x: int) -> int:
        for step, loss in enumerate([1.0, float("nan"), 0.5]):
            suiro.log_metric("loss", loss, step=step)
        suiro.log_metric("ratio", float("inf"))
        return x


    @task
    def slow(x: int) -> int:
        time.sleep(0.2)  # recorded after fit's metrics went in
        return x + 1


    @pipeline
    def diverged(n: int = 1):
        return slow(fit(n))
"""


def test_a_nan_or_infinite_metric_is_kept_and_the_run_goes_on(tmp_path):
    # SQLite stores a NaN as NULL: a NOT NULL column refused it and stopped the recorder (issue
    # 11's read-through): the run ended crashed, its later tasks unrecorded, each resume alike.
    cli = Cli(tmp_path)
    cli.write("diverged.py", NAN_METRICS)
    cli.ok("run", "diverged.py")
    run = cli.json("show", "last")
    assert run["state"] == "success" and {t["task_key"]: t["state"] for t in run["tasks"]} == {
        "fit": "success",
        "slow": "success",
    }
    text = cli.ok("metrics", "last").stdout
    assert re.search(r"fit\s+.\s+loss\s+.\s+nan\s+.\s+1", text) and re.search(r"ratio\s+.\s+inf", text)
    strict = json.loads(cli.ok("metrics", "last", "--json").stdout, parse_constant=pytest.fail)
    assert [(m["name"], m["value"], m["step"]) for m in strict] == [
        ("loss", 1.0, 0),
        ("loss", None, 1),
        ("loss", 0.5, 2),
        ("ratio", None, None),
    ], "NaN and infinity are null in JSON, as the HTTP API writes them"


def test_artifacts_json_lists_each_output(record):
    rows = record.cli.json("artifacts", record.first)
    assert [r["task_key"] for r in rows] == ["load", "train", "report"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["digest"]) for r in rows)
    assert [r["kind"] for r in rows] == ["builtins.list", "builtins.float", "builtins.str"]
    cached = record.cli.json("artifacts", record.cached)
    assert [r["digest"] for r in cached] == [r["digest"] for r in rows]
    assert {r["cached_from"] for r in cached} == {record.first}


def test_artifacts_run_lists_and_artifacts_verify_is_a_sub_command(cli):
    """``artifacts RUN`` (short for ``artifacts list RUN``) lists; ``verify`` is its own command."""
    cli.write("bigout.py", BIG)
    run_id = cli.ok("run", "bigout.py").run_id
    listed = cli.json("artifacts", run_id)
    assert [r["task_key"] for r in listed] == ["big"]
    assert cli.json("artifacts", "list", run_id) == listed
    assert cli.json("artifacts", "list", "last") == listed
    assert "big" in cli.ok("artifacts", run_id).stdout  # the table

    help_text = cli.ok("artifacts", "--help").stdout
    assert re.search(r"^\s+list\s", help_text, re.M) and re.search(r"^\s+verify\s", help_text, re.M)
    verify_help = cli.ok("artifacts", "verify", "--help").stdout
    assert "Usage: python -m suiro artifacts verify [OPTIONS]" in verify_help
    assert cli.ok("artifacts", "verify").stdout == "every stored artifact is intact\n"
    assert cli.json("artifacts", "verify") == []

    objects = cli.home / "artifacts" / "objects"
    ((digest, path),) = [(p.parent.name + p.name, p) for p in objects.glob("*/*")]
    path.write_bytes(path.read_bytes()[:-1] + b"!")  # same size, another hash
    result = cli.expect(1, "artifacts", "verify")
    (line,) = result.stdout.splitlines()
    assert line.startswith("corrupt_artifact: ") and digest in line
    problems = json.loads(cli.expect(1, "artifacts", "--json", "verify").stdout)
    assert [p["subject"] for p in problems] == [digest]
    assert "Missing argument 'run_id'" in cli.expect(2, "artifacts", "list").stderr


# --- explain ---------------------------------------------------------------------------------


def test_explain_says_code_changed_for_the_edited_task(record):
    out = record.cli.ok("explain", record.edited, "train").stdout
    assert out.splitlines() == [
        f"train in run {record.edited}: success",
        "ran because code changed",
        f"(compared with run {record.cached})",
    ]
    result = record.cli.json("explain", record.edited, "train")
    assert result["changed"] == ["code"]


def test_explain_says_cache_hit_for_a_cached_task(record):
    out = record.cli.ok("explain", record.cached, "load").stdout
    assert f"load in run {record.cached}: cached" in out
    assert f"cache hit: the same code, options and inputs ran in run {record.first}" in out


def test_explain_first_run(record):
    result = record.cli.json("explain", record.first, "train")
    assert result["state"] == "success"
    assert result["compared_with"] is None
    assert result["reason"].startswith("ran")


# --- gc --------------------------------------------------------------------------------------


def test_gc_dry_run_lists_only_unreferenced_objects_and_removes_nothing(cli):
    cli.write("bigout.py", BIG)
    cli.ok("run", "bigout.py")
    objects = cli.home / "artifacts" / "objects"
    (referenced,) = [p for p in objects.rglob("*") if p.is_file()]
    data = b"an orphan object nobody refers to"
    digest = hashlib.sha256(data).hexdigest()
    orphan = objects / digest[:2] / digest[2:]
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(data)

    assert cli.ok("gc", "--dry-run").stdout == "would remove 0 artifacts (0 bytes)\n"  # too young
    result = cli.json("gc", "--dry-run", "--min-age", "0")
    assert result["removed"] == [digest]
    assert result["bytes"] == len(data)
    assert result["dry_run"] is True
    out = cli.ok("gc", "--dry-run", "--min-age", "0").stdout
    assert out == f"{digest}\nwould remove 1 artifact ({len(data)} bytes)\n"
    assert orphan.exists() and referenced.exists()


# --- resume of a failed run ------------------------------------------------------------------

FIXABLE = """
    from pathlib import Path

    from suiro import pipeline, task

    HERE = Path(__file__).parent


    def ledger(name):
        with open(HERE / "ledger.txt", "a") as handle:
            handle.write(name + "\\n")


    @task
    def prepare() -> int:
        ledger("prepare")
        return 2


    @task
    def fit(x: int) -> int:
        ledger("fit")
        if not (HERE / "fixed").exists():
            raise RuntimeError("fit is broken")
        return x * 10


    @pipeline
    def fixable():
        return fit(prepare())
"""


@dataclass(frozen=True)
class Resumed:
    cli: Cli
    failed: str
    resumed: str
    stdout: str


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> Resumed:
    """A failed run, then (after the fix) ``suiro resume`` of it."""
    cli = Cli(tmp_path_factory.mktemp("resumed"))
    cli.write("fixable.py", FIXABLE)
    failed = cli.expect(1, "run", "fixable.py").run_id
    (cli.root / "fixed").touch()
    result = cli.ok("resume", failed)
    run_ids = [m for m in RUN_ID.findall(result.stdout) if m != failed]
    return Resumed(cli, failed, run_ids[0], result.stdout)


def test_resume_of_a_failed_run_reruns_only_the_failed_task(resumed):
    cli = resumed.cli
    first = resumed.stdout.splitlines()[0]
    assert first.startswith(f"run {resumed.resumed}: ") and first.endswith(f", resuming run {resumed.failed}")
    assert "output: 20" in resumed.stdout.splitlines()
    assert (cli.root / "ledger.txt").read_text().split() == ["prepare", "fit", "fit"]
    runs = {r["id"]: r for r in cli.json("runs")}
    assert runs[resumed.failed]["state"] == "failed"
    assert runs[resumed.resumed]["state"] == "success"
    assert runs[resumed.resumed]["parent_run_id"] == resumed.failed
    tasks = cli.tasks(resumed.resumed)
    assert (tasks["prepare"]["state"], tasks["prepare"]["cached_from"]) == ("cached", resumed.failed)
    assert tasks["fit"]["state"] == "success"
    assert f"resumes {resumed.failed}" in " ".join(cli.ok("show", resumed.resumed).stdout.split())


def test_runs_table_shows_the_resumed_run_id_whole(resumed):
    out = resumed.cli.ok("runs").stdout
    assert out.count(resumed.failed) == 2, out  # as a run, and in the resumes column of its resume
    assert "…" not in out, out


WIDE = """
    from suiro import pipeline, task


    @task
    def work(i: int) -> int:
        if i == 250:
            raise ValueError("item 250 is bad")
        return i


    @pipeline
    def wide():
        return [work(i) for i in range(300)]
"""


def test_show_of_a_wide_run_lists_what_failed_and_counts_the_rest(tmp_path):
    cli = Cli(tmp_path)
    cli.write("wide.py", WIDE)
    run_id = cli.expect(1, "run", "wide.py").run_id

    shown = cli.ok("show", run_id).stdout
    listed = re.findall(r"^│ (work(?:_\d+)?) ", shown, re.MULTILINE)
    # The failed one (the 251st task) first, then the others in run order up to 200 rows.
    assert listed == ["work", *(f"work_{n}" for n in range(2, 200)), "work_251"], shown
    assert "ValueError: item 250 is bad" in shown
    assert f"100 more tasks not listed (100 success); `suiro show {run_id} --all` lists every one." in shown
    every = cli.ok("show", run_id, "--all").stdout
    assert len(re.findall(r"^│ work", every, re.MULTILINE)) == 300 and "more tasks not listed" not in every
    assert len(cli.json("show", run_id)["tasks"]) == 300
