"""A sensor's poke that found nothing: what it means, its log line, and whether it gave up.

Such a poke is no failure (``suiro.sensors``): the unit waits in the retry schedule for its next
poke, ``retrying`` with the poke's sentence as its note and a line in its attempt's log, until its
own timeout; then it fails, or is ``skipped`` with ``soft_fail``. It spends no retry.

``judge`` is pure wording and decision over numbers handed in (the delay
``RetrySchedule.after_poke`` chose, or None when the sensor's timeout passed); ``poked`` counts
the poke and schedules the next one, ``note`` writes the line to the attempt's log and lines. The
runner sends the ``retrying`` event or ends the task by the ``Verdict``; nothing here decides more.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from suiro.context import Capture
from suiro.events import ErrorInfo
from suiro.executors.base import Outcome
from suiro.labels import task_label
from suiro.states import TaskState

if TYPE_CHECKING:
    from suiro.attempts import Unit
    from suiro.clock import Clock
    from suiro.progress import Progress
    from suiro.retry import RetrySchedule

_SENSOR_TIMEOUT = "suiro.errors.SensorTimeoutError"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One poke that found nothing, judged."""

    #: The line added to the attempt's log (``poke 3 at 02:02:00: ...; next poke in 60 s (at 02:03:00)``).
    line: str
    #: Waits: the ``retrying`` event's error (the line as its message, ``poke`` kept). Gave up:
    #: the task's ``SensorTimeoutError``.
    error: ErrorInfo
    #: None: it waits for its next poke; else the state it ends in (``failed``, or ``skipped``
    #: with ``soft_fail``).
    ended: TaskState | None
    #: Seconds until the next poke (0 once it gave up).
    delay: float = 0.0


def poked(unit: Unit, error: ErrorInfo, retries: RetrySchedule, clock: Clock) -> Verdict:
    """Count a poke of sensor ``unit`` that found nothing, and judge it.

    Its next poke is scheduled in ``retries`` unless the sensor's timeout has passed; a unit that
    waits for it is marked ``poked`` (a stop ends it with the stop's error, as it has none).
    """
    assert error.poke is not None
    number = unit.pokes + 1
    delay = retries.after_poke(unit, error.poke)
    label = task_label(unit.key, unit.map_index)
    verdict = judge(error, label=label, number=number, delay=delay, now=clock.time())
    if verdict.ended is None:
        unit.poked = True
    return verdict


def note(unit: Unit, line: str, progress: Progress) -> None:
    """Add a line of suiro's own to the unit's current attempt: to its log file and its lines."""
    if unit.log_path is not None:
        capture = Capture(unit.log_path)
        capture.add_line(line)
        capture.close()
    progress.attempt_wrote(unit, Outcome(lines=(line,)))


def judge(error: ErrorInfo, *, label: str, number: int, delay: float | None, now: float) -> Verdict:
    """Judge poke ``number`` of sensor ``label``, which found nothing (``error.poke`` is set).

    Args:
        error: the poke's record; its message says what it looked for.
        label: the task (or ``task[i]``) the sensor is.
        number: which poke of the sensor this was (1 for the first).
        delay: seconds until the next poke, or None: the sensor's timeout has passed.
        now: the time of the poke's end (epoch seconds, on the run's clock).
    """
    poke = error.poke
    assert poke is not None
    said = f"poke {number} at {clock_time(now)}: {error.message}"
    if delay is not None:
        said += f"; next poke in {round(delay, 1):g} s (at {clock_time(now + delay)})"  # not 0.996007 s
        return Verdict(said, dataclasses.replace(error, message=said), None, delay)
    gave_up = f"sensor {label} waited {poke.timeout:g} s (from its first poke) and {error.message}"
    if poke.soft_fail:
        gave_up += "; skipped (soft_fail=True)"
    else:
        gave_up += "; raise its timeout= or check that what it waits for arrives, then resume the run"
    ended = ErrorInfo(type=_SENSOR_TIMEOUT, message=gave_up, traceback="", retryable=False)
    return Verdict(f"{said}; {gave_up}", ended, TaskState.SKIPPED if poke.soft_fail else TaskState.FAILED)


def clock_time(epoch: float) -> str:
    """``HH:MM:SS`` in local time, as a poke's line says when."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))
