"""The README's example pipeline is real: extracted from README.md and run as written."""

from __future__ import annotations

import re
from pathlib import Path

import suiro
from suiro.states import TaskState

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_runs_and_branches_as_described(tmp_path):
    code = re.search(r"```python\n# train\.py\n(.*?)```", README.read_text(), re.S).group(1)
    (tmp_path / "train.py").write_text(code)
    pipe = suiro.load_pipeline(str(tmp_path / "train.py"))

    passed = suiro.run(pipe, environ={}, home=tmp_path / "home")  # max score 148.5 >= 100
    assert passed.ok and passed.output == "registered 148.5"
    assert passed.tasks["train"].item_states == [TaskState.SUCCESS] * 3

    alerted = suiro.run(pipe, overrides=["threshold=200"], environ={}, home=tmp_path / "home")
    assert alerted.ok and alerted.output == "too low: 148.5"
    assert alerted.tasks["register"].state is TaskState.SKIPPED
    assert alerted.tasks["collect"].state is TaskState.CACHED  # nothing upstream changed


def test_the_readme_dynamic_example_runs_and_a_second_run_is_all_cache_hits(tmp_path):
    code = re.search(r"```python\n# select\.py\n(.*?)```", README.read_text(), re.S).group(1)
    (tmp_path / "select.py").write_text(code)
    pipe = suiro.load_pipeline(str(tmp_path / "select.py"))

    first = suiro.run(pipe, environ={}, home=tmp_path / "home")
    assert first.ok and first.output == "rf"
    assert list(first.tasks) == ["load", "train", "train_2", "evaluate", "evaluate_2"]

    again = suiro.run(pipe, environ={}, home=tmp_path / "home")
    assert {t.state for t in again.tasks.values()} == {TaskState.CACHED}
    only_lr = suiro.run(pipe, overrides=["model_types=['lr']"], environ={}, home=tmp_path / "home")
    assert only_lr.output == "lr" and list(only_lr.tasks) == ["load", "train", "evaluate"]


def test_the_readme_schedule_example_processes_the_logical_day(tmp_path):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from suiro.clock import ManualClock
    from suiro.runinfo import Scheduled
    from suiro.schedules import Schedule

    code = re.search(r"```python\n# daily\.py\n(.*?)```", README.read_text(), re.S).group(1)
    (tmp_path / "daily.py").write_text(code)
    pipe = suiro.load_pipeline(str(tmp_path / "daily.py"))
    assert pipe.schedule == Schedule.parse("0 2 * * *", timezone="Asia/Tokyo")
    assert pipe.schedule.describe() == "at 02:00 every day (Asia/Tokyo)"

    tick = dt.datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp()
    interval_start, _ = pipe.schedule.interval(tick)
    nightly = Scheduled(
        deployment="daily",
        logical_time=tick,
        interval_start=interval_start,
        interval_end=tick,
        timezone="Asia/Tokyo",
    )
    run = suiro.run(pipe, scheduled=nightly, environ={}, home=tmp_path / "home")
    assert run.output == "rows of 2026-11-30"
    noon = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
    with suiro.clock.use(ManualClock(start=noon.timestamp())):
        by_hand = suiro.run(pipe, environ={}, home=tmp_path / "home")
    assert by_hand.output == f"rows of {noon.astimezone().date().isoformat()}"
