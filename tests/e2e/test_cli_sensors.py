"""Sensors and run deadlines as a user meets them on the command line: ``suiro show`` tells that a
sensor waits, a file written by another process ends the wait, every poke is in ``suiro logs``,
and a run past its ``timeout`` exits non-zero with the reason. The CLI runs in a subprocess on
files in tmp_path."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from pipelines.cli_harness import RUN_ID, Cli


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


SENSING = """
    from pathlib import Path

    from suiro import pipeline, task
    from suiro.sensors import wait_for_file


    @task
    def count_rows(paths: list[str]) -> int:
        return sum(len(Path(p).read_text().splitlines()) for p in paths)


    @pipeline
    def sensing():
        return count_rows(wait_for_file("incoming/*.csv", poke_interval=0.2, timeout=30))
"""


def test_a_waiting_sensor_shows_in_show_and_every_poke_is_in_the_logs(cli):
    cli.write("sensing.py", SENSING)
    (cli.root / "incoming").mkdir()
    run = subprocess.Popen(
        cli.argv("run", "sensing.py"), env=cli.env(), cwd=cli.root, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        show = ""
        while "waiting: poke" not in show and time.monotonic() < deadline:
            show = cli("show", "last").stdout
        # Another process (this one) delivers the file while the sensor waits.
        (cli.root / "incoming" / "day.tmp").write_text("a\nb\n")
        (cli.root / "incoming" / "day.tmp").rename(cli.root / "incoming" / "day.csv")
        out, _ = run.communicate(timeout=30)
    finally:
        run.kill()
        run.wait()

    pattern = re.escape(str(cli.root / "incoming" / "*.csv"))
    assert re.search(
        r"wait_for_file[\s│]+retrying[\s│]+\d+[\s│]+waiting: poke \d+ at \d\d:\d\d:\d\d: no file matches",
        show,
    ), show
    assert run.returncode == 0, out
    assert "output: 2" in out
    # The plain view (stdout is a pipe) says the sensor waits, not that it failed and retries.
    assert re.search(
        r"wait_for_file  retrying  attempt 1  - waiting: poke 1 at .*; next poke in 0\.2 s", out
    ), out
    assert "retry in" not in out
    run_id = RUN_ID.search(out).group(0)
    logs = cli.ok("logs", run_id, "wait_for_file").stdout
    at = r"\d\d:\d\d:\d\d"
    pokes = re.findall(
        rf"^poke (\d+) at {at}: no file matches '{pattern}'; next poke in 0\.2 s \(at {at}\)$",
        logs,
        flags=re.MULTILINE,
    )
    assert len(pokes) >= 1 and [int(n) for n in pokes] == list(range(1, len(pokes) + 1)), logs
    assert "== wait_for_file attempt 1 (retrying)" in logs, logs
    assert re.search(rf"^found 1 file matching '{pattern}': .*day\.csv$", logs, flags=re.MULTILINE), logs


SLOW = """
    import time

    from suiro import pipeline, task


    @task
    def hang() -> int:
        time.sleep(30)
        return 1


    @pipeline(timeout=1)
    def slow():
        return hang()
"""


def test_a_run_past_its_timeout_exits_non_zero_with_the_reason(cli):
    cli.write("slow.py", SLOW)
    started = time.monotonic()
    result = cli.expect(1, "run", "slow.py")

    assert time.monotonic() - started < 20
    assert "error: run exceeded its timeout of 1 s" in result.stdout + result.stderr, str(result)
    show = cli.ok("show", "last").stdout
    assert "error: run exceeded its timeout of 1 s" in show, show


def test_the_readme_sensor_example_waits_for_its_file_and_gives_up_on_the_run_clock(tmp_path):
    import suiro
    from suiro import clock
    from suiro.clock import ManualClock
    from suiro.states import RunState, TaskState

    readme = Path(__file__).resolve().parents[2] / "README.md"
    code = re.search(r"```python\n# wait\.py\n(.*?)```", readme.read_text(), re.S).group(1)
    (tmp_path / "wait.py").write_text(code)
    pipe = suiro.load_pipeline(str(tmp_path / "wait.py"))
    assert pipe.timeout == 7200.0
    incoming = tmp_path / "data" / "incoming"
    incoming.mkdir(parents=True)
    params = {"pattern": str(incoming / "*.csv")}

    with clock.use(ManualClock()) as manual:  # an hour of pokes, at once
        waited = suiro.run(pipe, params, environ={}, home=tmp_path / "home")
    assert waited.state is RunState.FAILED and waited.tasks["wait_for_file"].attempts == 61
    assert sum(manual.sleeps) == 3600

    (incoming / "2026-12-01.csv").write_text("a\nb\nc\n")
    found = suiro.run(pipe, params, environ={}, home=tmp_path / "home")
    assert found.ok and found.output == 3
    assert found.tasks["wait_for_file"].state is TaskState.SUCCESS
