"""S8 (schedules): a malformed cron, an unknown time zone or an interval of zero is refused where it
is written, in one sentence naming it and the fix; never accepted to fail silently at 2 a.m.

``@pipeline(schedule="not a cron at all")`` used to be accepted and do nothing: it now fails at
definition time naming the pipeline and its line, and ``suiro run`` on such a file prints that one
line and exits 2 without recording anything.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pipelines.cli_harness import Cli

from suiro import pipeline, task
from suiro.errors import DefinitionError, ScheduleError
from suiro.schedules import Schedule, due, to_epoch

HERE = Path(__file__)


@task
def one() -> int:
    return 1


BAD = [
    (
        "not a cron at all",
        r"the cron expression 'not a cron at all' is not valid \(bad minute\); write 5 fields",
    ),
    ("61 * * * *", r"the cron expression '61 \* \* \* \*' is not valid \(bad minute\)"),
    ("0 25 * * *", r"is not valid \(bad hour\)"),
    ("0 0 31 2 *", r"is not valid \(bad day-of-month\)"),
    ("* * * *", r"the cron expression '\* \* \* \*' has 4 fields, not 5; write 5 fields"),
    ("0 0 * * * *", r"has 6 fields, not 5"),
    ("", r"the cron expression '' has 0 fields, not 5"),
    ("@dayly", r"unknown cron alias '@dayly' \(did you mean \"@daily\"\?\); use one of @yearly"),
    ("every 0h", r"the interval '0h' is not positive; give a positive duration such as 'every 6h'"),
    ("every 0", r"the interval '0' is not positive"),
    ("every -5m", r"the interval '-5m' is not a duration; write a number and a unit"),
    ("every six hours", r"the interval 'six hours' is not a duration"),
    ("every 6 fortnights", r"the interval '6 fortnights' is not a duration"),
    ({"every": 0}, r"the interval 0 is not positive"),
    ({"every": "6h", "cron": "0 2 * * *"}, r"a schedule needs exactly one of cron and every"),
    ({"cron": "0 2 * * *", "tz": "Asia/Tokyo"}, r"unknown schedule key 'tz'; use cron, every, timezone"),
    ({"timezone": "UTC"}, r"a schedule needs exactly one of cron and every"),
    (42, r"a schedule cannot be a int; give a cron expression such as '0 2 \* \* \*'"),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_a_bad_schedule_is_refused_in_one_sentence_naming_it(spec, message):
    with pytest.raises(ScheduleError, match=message) as caught:
        Schedule.parse(spec)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        (
            "Europe/Berln",
            r"unknown time zone 'Europe/Berln' \(did you mean \"Europe/Berlin\"\?\); give an IANA name",
        ),
        (
            "Mars/Olympus_Mons",
            r"unknown time zone 'Mars/Olympus_Mons'; give an IANA name such as 'Europe/Berlin'",
        ),
        ("../../etc/passwd", r"unknown time zone '../../etc/passwd'"),
        ("", r"unknown time zone ''"),
    ],
)
def test_an_unknown_time_zone_is_refused_with_the_closest_name(zone, message):
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse("0 2 * * *", timezone=zone)
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse({"every": "1h", "timezone": zone})


def test_bounds_that_are_not_times_or_are_reversed_are_refused():
    with pytest.raises(
        ScheduleError, match=r"the schedule's start 'next tuesday' is not a time; give ISO text such as"
    ):
        Schedule.parse("@daily", start="next tuesday")
    with pytest.raises(
        ScheduleError, match=r"start \(2026-12-01 00:00\) is after its end \(2026-11-01 00:00\)"
    ):
        Schedule.parse("@daily", start="2026-12-01", end="2026-11-01")
    with pytest.raises(ScheduleError, match=r"the time nan is not a time"):
        to_epoch(float("nan"))


def test_a_stored_schedule_is_checked_again_when_read():
    with pytest.raises(ScheduleError, match=r"unknown time zone 'Nowhere/Town'"):
        Schedule.from_json({"cron": "0 2 * * *", "timezone": "Nowhere/Town"})


def test_a_wrong_catch_up_policy_is_refused():
    daily = Schedule.parse("@daily")
    with pytest.raises(
        ScheduleError, match=r"unknown catch-up policy 'every'; use 'latest', 'all' or 'none'"
    ):
        due(daily, cursor=0, now=86400, catchup="every")
    with pytest.raises(ScheduleError, match=r"max_catchup_runs is 2.5"):
        due(daily, cursor=0, now=86400, catchup="all", max_catchup_runs=2.5)  # type: ignore[arg-type]


def test_refusing_a_bad_cron_takes_milliseconds():
    started = time.perf_counter()
    for spec, _ in BAD:
        with pytest.raises(ScheduleError):
            Schedule.parse(spec)
    assert time.perf_counter() - started < 0.5


def test_a_pipeline_with_a_malformed_schedule_fails_at_definition_naming_pipeline_and_line():
    with pytest.raises(ScheduleError) as caught:

        @pipeline(schedule="not a cron at all")  # nightly-definition
        def nightly():
            return one()

    line = next(
        n for n, text in enumerate(HERE.read_text().splitlines(), 1) if "# nightly-definition" in text
    )
    assert str(caught.value).startswith(f"pipeline nightly at {HERE}:{line} has a bad schedule: ")
    assert "the cron expression 'not a cron at all' is not valid (bad minute)" in str(caught.value)
    assert isinstance(caught.value, DefinitionError)
    assert (caught.value.task, caught.value.location) == ("nightly", f"{HERE}:{line}")


def test_a_pipeline_schedule_is_kept_parsed():
    @pipeline(schedule={"cron": "0 2 * * *", "timezone": "Asia/Tokyo"})
    def tokyo():
        return one()

    @pipeline(schedule="every 6h")
    def often():
        return one()

    @pipeline
    def unscheduled():
        return one()

    assert tokyo.schedule == Schedule.parse("0 2 * * *", timezone="Asia/Tokyo")
    assert often.schedule == Schedule(every=21600.0)
    assert unscheduled.schedule is None


def test_suiro_run_of_a_file_with_a_bad_schedule_prints_one_line_and_records_nothing(tmp_path):
    cli = Cli(tmp_path)
    cli.write(
        "nightly.py",
        """
        from suiro import pipeline, task

        @task
        def one():
            return 1

        @pipeline(schedule="0 2 * * *", executor="sequential")
        def fine():
            return one()

        @pipeline(schedule={"cron": "30 2 * * *", "timezone": "Europe/Berln"})
        def nightly():
            return one()
        """,
    )
    line = cli.error(2, "run", "nightly.py:fine")
    assert line.startswith(f"error: pipeline nightly at {cli.root / 'nightly.py'}:11 has a bad schedule: ")
    assert "unknown time zone 'Europe/Berln' (did you mean \"Europe/Berlin\"?)" in line
    assert cli.json("runs") == []
