"""A run's identity: one rule names each attempt's log file, one mints run ids."""

from __future__ import annotations

import re

from suiro.labels import task_label
from suiro.runinfo import RunInfo, new_run_id


def test_each_attempt_has_its_own_log_file_under_the_run_s_folder():
    run = RunInfo(run_id="r", log_dir="/home/logs/r")
    assert run.log_path("train", -1, 2) == "/home/logs/r/train.2.log"
    assert run.log_path("score", 3, 1) == "/home/logs/r/score[3].1.log"
    assert run.log_path("train", -1, 0) is None, "no attempt, no file"
    assert RunInfo(run_id="r").log_path("train", -1, 1) is None, "a run kept in memory writes none"


def test_run_ids_are_sortable_by_time_and_unique():
    # 5,000 in about a second: with 24 random bits, two would be equal about half the time.
    ids = {new_run_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)
    assert (task_label("t", -1), task_label("t", 4)) == ("t", "t[4]")
