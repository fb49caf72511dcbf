"""Ready-made sensors: tasks that make a pipeline wait for its data (the chapter's ``FileSensor``).

    from suiro import pipeline
    from suiro.sensors import wait_for_file

    @pipeline
    def daily():
        paths = wait_for_file("data/incoming/*.csv", poke_interval=60, timeout=3600)
        return load(paths)

A sensor works in Airflow's *reschedule* mode: each call of its function is one poke. A poke that
finds nothing raises ``SensorNotReady``; its attempt ends, and the runner pokes again after
``poke_interval`` from its retry schedule, so a waiting sensor holds no worker thread or process,
and its pokes spend none of its ``retries`` (an exception of the check itself does). The
``timeout`` counts from the first poke, and the last poke falls on it; then the sensor fails with
``SensorTimeoutError``, or, with ``soft_fail=True``, ends ``skipped`` and trigger rules decide what
runs after it. Every poke is an attempt with its own line in ``suiro logs``.

Sensors are never cache hits (``cache=False``): what they look at is outside the pipeline. A resumed
run reuses a sensor that succeeded, like any task, and pokes again for one that did not.

Must not sleep or loop: waiting is the runner's job (``suiro.retry``), so that nothing is held.
"""

from __future__ import annotations

import datetime
import glob
import os
import sys
from collections.abc import Callable
from typing import Any

from suiro.errors import DefinitionError, ParameterError, SensorNotReady
from suiro.labels import first_few
from suiro.ref import Ref
from suiro.task import Task, active_tracer, task

__all__ = ["Sensor", "wait_for_file", "wait_until"]

#: How many matched paths a successful poke of ``wait_for_file`` names in its log line.
_NAMED = 10


class Sensor(Task[..., Any]):
    """A task whose settings (``poke_interval``, ``timeout``, ``soft_fail``, ``check_fn``) are checked
    where a pipeline calls it, so a bad literal fails at that line, before anything runs."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = active_tracer.get()
        if tracer is None:  # outside a pipeline: one poke, as a plain call
            return self.fn(*args, **kwargs)
        frame = sys._getframe(1)
        location = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        try:
            bound = self.signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # a wrong call: the tracer names it (with the closest parameter)
            bound = {}
        problems = _problems({k: v for k, v in bound.items() if not _is_reference(v)})
        if problems:
            raise DefinitionError(
                f"{self.name}() at {location}: {'; '.join(problems)}.", task=self.name, location=location
            )
        return tracer.add_call(self, args, kwargs, mapped=False, max_concurrency=None, location=location)

    def with_options(self, **changes: Any) -> Sensor:
        """A copy with some ``@task`` options changed (``retries``, ``name``...), still a sensor."""
        copy = super().with_options(**changes)
        return Sensor(copy.fn, copy.options, explicit=copy.explicit)


def _sensor(fn: Callable[..., Any]) -> Sensor:
    made = task(cache=False)(fn)
    return Sensor(made.fn, made.options, explicit=made.explicit)


@_sensor
def wait_for_file(
    pattern: str,
    poke_interval: float | datetime.timedelta = 60.0,
    timeout: float | datetime.timedelta = 3600.0,
    soft_fail: bool = False,
) -> list[str]:
    """Wait until a file or folder matches ``pattern``; return every match (absolute paths, sorted).

    Args:
        pattern: a glob (``data/incoming/*.csv``; ``**`` matches folders at any depth), relative to
            the working directory of the run. Have the producer write under another name and
            rename it into place, so a half-written file never matches.
        poke_interval: seconds (or a timedelta) between pokes.
        timeout: seconds (or a timedelta) from the first poke after which the sensor gives up.
        soft_fail: give up as ``skipped`` instead of ``failed``.

    Raises:
        SensorNotReady: nothing matches yet (the runner pokes again).
    """
    interval, limit = _settings("wait_for_file", poke_interval, timeout, soft_fail)
    where = os.path.abspath(os.fspath(pattern))
    found = sorted(glob.glob(where, recursive=True))
    if not found:
        raise SensorNotReady(
            f"no file matches {where!r}", poke_interval=interval, timeout=limit, soft_fail=soft_fail
        )
    files = "file" if len(found) == 1 else "files"
    print(f"found {len(found)} {files} matching {where!r}: {first_few(found, _NAMED)}")
    return found


@_sensor
def wait_until(
    check_fn: Callable[[], Any],
    poke_interval: float | datetime.timedelta = 60.0,
    timeout: float | datetime.timedelta = 3600.0,
    soft_fail: bool = False,
) -> Any:
    """Wait until ``check_fn()`` returns something truthy; return that value.

    Args:
        check_fn: called with no arguments at each poke (bind values with a closure or
            ``functools.partial``); a falsy result means "not yet". An exception it raises is the
            task's error: retried under ``retries``/``retry_on``, never taken for "not yet".
        poke_interval: seconds (or a timedelta) between pokes.
        timeout: seconds (or a timedelta) from the first poke after which the sensor gives up.
        soft_fail: give up as ``skipped`` instead of ``failed``.

    Raises:
        SensorNotReady: the check returned something falsy (the runner pokes again).
    """
    interval, limit = _settings("wait_until", poke_interval, timeout, soft_fail, check_fn=check_fn)
    name = getattr(check_fn, "__name__", type(check_fn).__name__)
    value = check_fn()
    shown = repr(value)
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    if not value:
        raise SensorNotReady(
            f"{name}() returned {shown}", poke_interval=interval, timeout=limit, soft_fail=soft_fail
        )
    print(f"{name}() returned {shown}")
    return value


def _settings(
    sensor: str, poke_interval: Any, timeout: Any, soft_fail: Any, **more: Any
) -> tuple[float, float]:
    """``(poke_interval, timeout)`` in seconds, checked again where the poke runs (values from parameters)."""
    problems = _problems({"poke_interval": poke_interval, "timeout": timeout, "soft_fail": soft_fail, **more})
    if problems:
        raise ParameterError(f"{sensor}: {'; '.join(problems)}.")
    return _seconds(poke_interval), _seconds(timeout)


def _problems(values: dict[str, Any]) -> list[str]:
    """What is wrong with a sensor's settings among ``values``, one phrase each."""
    problems = []
    for name in ("poke_interval", "timeout"):
        if name in values:
            value = values[name]
            seconds = _seconds(value) if _is_duration(value) else None
            if seconds is None or seconds <= 0:
                problems.append(f"{name} must be a number > 0 (seconds) or a timedelta, got {value!r}")
    if "soft_fail" in values and not isinstance(values["soft_fail"], bool):
        problems.append(f"soft_fail must be True or False, got {values['soft_fail']!r}")
    if "check_fn" in values and not callable(values["check_fn"]):
        problems.append(f"check_fn must be a function, got {values['check_fn']!r}")
    return problems


def _is_duration(value: Any) -> bool:
    return isinstance(value, datetime.timedelta) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


def _seconds(value: float | datetime.timedelta) -> float:
    return value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)


def _is_reference(value: Any) -> bool:
    """A trace-time reference (a parameter or a task's output): its value is checked when the poke runs."""
    return isinstance(value, Ref)
