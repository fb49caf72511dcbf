"""What a sensor's poke that found nothing means: its log line, its note, and whether it gave up.

Pure wording and decision over numbers the runner hands in (the delay ``RetrySchedule.after_poke``
chose, or None when the sensor's timeout passed): no clock, no I/O, no reporting. The runner writes
the line to the attempt's log, sends the note with the ``retrying`` event, or ends the task.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from suiro.events import ErrorInfo
from suiro.states import TaskState

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
        said += f"; next poke in {delay:g} s (at {clock_time(now + delay)})"
        return Verdict(said, dataclasses.replace(error, message=said), None)
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
