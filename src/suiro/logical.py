"""Logical-time parameter defaults: ``def daily(day: str = suiro.logical.ds)``.

A scheduled run stands for a tick (its logical time) and a data interval, which are not the time
it happens to run: a backfill of 30 November runs on 5 December, and must still process
30 November's data. A parameter whose default is one of these markers gets that value when the
run's parameters are resolved (``suiro.config.resolve_params(..., scheduled=...)``), in the
deployment's time zone; a run started by hand gets the current time in the machine's zone.
Because the value is a parameter, it is recorded with the run, shown by ``suiro show``, can be
overridden with ``--set``, and is part of every cache key that reads it.

Owns the markers and what each stands for; resolves nothing by itself (config does). Imports
only the clock; zoneinfo only for a scheduled run's zone.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from suiro import clock

if TYPE_CHECKING:
    from suiro.runinfo import Scheduled

__all__ = ["MARKERS", "Logical", "date", "ds", "interval_end", "interval_start", "is_marker", "time"]

_SAMPLE_TIME = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True, eq=False)
class Logical:
    """A parameter default standing for a part of the run's logical time (``suiro.logical.ds``).

    Attributes:
        name: which part: ``date``, ``ds``, ``time``, ``interval_start`` or ``interval_end``.
        kind: what its value is, for messages (``text such as '2026-11-30'``).
    """

    name: str
    kind: str

    def __repr__(self) -> str:
        return f"suiro.logical.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # pickled as the module's own marker: identity survives a process pool

    def value(self, scheduled: Scheduled | None, now: float | None = None) -> Any:
        """What the marker stands for in a run for ``scheduled`` (None: a run started by hand at
        ``now``, default the clock's time, in the machine's time zone)."""
        if scheduled is None:
            at = clock.now() if now is None else now
            local = _dt.datetime.fromtimestamp(at).astimezone()
            moments = {"time": local, "interval_start": local, "interval_end": local}
        else:
            zone = _zone(scheduled.timezone)
            tick = _dt.datetime.fromtimestamp(scheduled.logical_time, zone)
            start, end = scheduled.interval_start, scheduled.interval_end
            moments = {
                "time": tick,
                "interval_start": tick if start is None else _dt.datetime.fromtimestamp(start, zone),
                "interval_end": tick if end is None else _dt.datetime.fromtimestamp(end, zone),
            }
        if self.name == "date":
            return moments["time"].date()
        if self.name == "ds":
            return moments["time"].date().isoformat()
        return moments[self.name]

    def sample(self) -> Any:
        """A value of the marker's type, to check at definition time that it fits an annotation."""
        return self.value(None, _SAMPLE_TIME.timestamp()) if self.name in ("date", "ds") else _SAMPLE_TIME


#: The run's logical date (a ``datetime.date`` in the deployment's zone).
date = Logical("date", "a date")
#: The run's logical date as text ``YYYY-MM-DD`` (Airflow's ``ds``).
ds = Logical("ds", "text such as '2026-11-30'")
#: The run's logical time (an aware ``datetime`` in the deployment's zone).
time = Logical("time", "an aware datetime")
#: Start of the run's data interval (the previous tick; the logical time if there is none).
interval_start = Logical("interval_start", "an aware datetime")
#: End of the run's data interval (the tick itself for a scheduled run).
interval_end = Logical("interval_end", "an aware datetime")

MARKERS = (date, ds, time, interval_start, interval_end)


def is_marker(value: Any) -> bool:
    """True for ``suiro.logical.*`` markers."""
    return isinstance(value, Logical)


def _zone(name: str) -> _dt.tzinfo:
    if name == "UTC":
        return _dt.UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
