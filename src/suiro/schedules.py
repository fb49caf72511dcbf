"""When a deployment fires: cron and interval schedules in an IANA time zone, and which ticks are due.

A ``Schedule`` turns "``30 2 * * *`` in Europe/Berlin" into fire instants (epoch seconds, UTC) and
each instant into its data interval; ``due`` decides which of the ticks missed since the last look
become runs under a catch-up policy. Everything that decides runs downstream (the scheduler,
backfill, ``suiro schedule preview``) asks this module, so the DST policy lives in one place:

- a cron is a set of *wall-clock* times. A wall time that does not exist (spring-forward) fires
  once, at the first valid instant after the gap; a wall time that happens twice (fall-back) fires
  once, at its first occurrence. Several wall times mapping to one instant fire once.
- an interval (``every 6h``) is exact elapsed time from its anchor (UTC arithmetic), whatever the
  clocks on the wall do.

Cron expressions are parsed and matched by cronsim (a maintained library; we never parse cron by
hand: only the ``@daily``-style alias table is ours) and mapped to instants by ``suiro.wallclock``
(the DST policy); both import cronsim and zoneinfo on first use so ``import suiro`` does not pay
for them. Pure: no I/O besides reading the zone database, no clock reads (callers pass ``now``).
"""

from __future__ import annotations

import collections
import itertools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from suiro.errors import ScheduleError, did_you_mean
from suiro.runinfo import Tick
from suiro.wallclock import ALIASES, check_cron, cron_after, cron_at_or_before, zone_named

__all__ = [
    "ALIASES",
    "CATCHUP",
    "ON_TIME",
    "Schedule",
    "check_catchup",
    "due",
    "format_duration",
    "parse_duration",
    "to_epoch",
]

#: The catch-up policies ``due`` knows.
CATCHUP = ("latest", "all", "none")
#: A tick at most this many seconds old counts as on time, not missed (``catchup="none"``, new deployments).
ON_TIME = 60.0

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT_WORDS = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hour": "h", "day": "d", "week": "w"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


@dataclass(frozen=True)
class Schedule:
    """When a deployment fires: a cron expression or a fixed interval, in a time zone, within bounds.

    Build one with ``Schedule.parse`` (texts, datetimes, mappings); the constructor takes the
    normalised fields and validates them too, so a stored schedule (``from_json``) is checked again.

    Attributes:
        cron: a 5-field cron expression (aliases expanded), or None for an interval schedule.
        every: the interval in seconds, or None for a cron schedule.
        anchor: an instant the interval's ticks are aligned to (None: ``start``, else midnight
            1 January 1970 in the schedule's zone).
        timezone: the IANA zone the cron's wall times are read in (and times are shown in).
        start: no tick before this instant (epoch seconds; None: unbounded).
        end: no tick after this instant (None: unbounded).
    """

    cron: str | None = None
    every: float | None = None
    anchor: float | None = None
    timezone: str = "UTC"
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise ScheduleError(
                "a schedule needs exactly one of cron and every; give a cron expression such as "
                "'0 2 * * *' or an interval such as 'every 6h'",
                spec=self.cron or self.every,
            )
        zone_named(self.timezone)
        if self.cron is not None:
            object.__setattr__(self, "cron", check_cron(self.cron))
        else:
            object.__setattr__(self, "every", _check_every(self.every))
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ScheduleError(
                f"the schedule's start ({self._show(self.start)}) is after its end "
                f"({self._show(self.end)}); give a start before the end",
                spec=(self.start, self.end),
            )

    @classmethod
    def parse(
        cls,
        spec: str | Schedule | Mapping[str, Any],
        *,
        timezone: str | None = None,
        start: Any = None,
        end: Any = None,
    ) -> Schedule:
        """Read a schedule from what users write, checking it (``ScheduleError`` names what is wrong).

        Args:
            spec: a cron expression (``"30 2 * * *"``, ``"@daily"``), an interval (``"every 6h"``,
                ``"every 30m"``, ``"every 1d"``, ``"every 1h30m"``), a ``Schedule``, or a mapping with
                ``cron`` or ``every`` and optionally ``timezone``, ``start``, ``end``, ``anchor``.
            timezone: the IANA zone (overrides the spec's; default UTC).
            start: first instant that may fire: epoch seconds, a datetime, or ISO text (a naive
                one is in the schedule's zone).
            end: last instant that may fire, in the same forms.

        Raises:
            ScheduleError: malformed cron, unknown zone, interval not positive, unknown key,
                start after end.
        """
        fields: dict[str, Any]
        if isinstance(spec, Schedule):
            fields = {"cron": spec.cron, "every": spec.every, "anchor": spec.anchor}
            fields.update(timezone=spec.timezone, start=spec.start, end=spec.end)
        elif isinstance(spec, Mapping):
            fields = _from_mapping(spec)
        elif isinstance(spec, str):
            text = " ".join(spec.split())
            if text.lower().startswith("every ") or text.lower() == "every":
                fields = {"every": text[6:]}
            else:
                fields = {"cron": text}
        else:
            raise ScheduleError(
                f"a schedule cannot be a {type(spec).__name__}; give a cron expression such as "
                "'0 2 * * *', an interval such as 'every 6h', or a mapping with cron or every",
                spec=spec,
            )
        if timezone is not None:
            fields["timezone"] = timezone
        fields.setdefault("timezone", "UTC")
        if not isinstance(fields["timezone"], str):
            raise ScheduleError(
                f"the time zone {fields['timezone']!r} is not a name; "
                "give an IANA name such as 'Europe/Berlin'",
                spec=fields["timezone"],
            )
        tz = zone_named(fields["timezone"])
        for key, value in (("start", start), ("end", end)):
            if value is not None:
                fields[key] = value
        for key in ("start", "end", "anchor"):
            if fields.get(key) is not None:
                fields[key] = to_epoch(fields[key], tz, f"the schedule's {key}")
        if fields.get("every") is not None:
            fields["every"] = parse_duration(fields["every"])
        return cls(**fields)

    # -- ticks ------------------------------------------------------------------------------------

    def ticks(self, after: float, until: float) -> Iterator[float]:
        """The fire instants in ``(after, until]``, increasing, within ``start``/``end``."""
        lower = after if self.start is None else max(after, self.start - 1.0)
        upper = until if self.end is None else min(until, self.end)
        for t in self._raw(lower):
            if t > upper:
                return
            if t > after and (self.start is None or t >= self.start):
                yield t

    def next_after(self, t: float) -> float | None:
        """The first fire instant after ``t`` (None: the schedule has ended)."""
        return next(self.ticks(t, math.inf), None)

    def upcoming(self, after: float, count: int = 3) -> list[float]:
        """The next ``count`` fire instants after ``after`` (fewer if the schedule ends): a preview."""
        return list(itertools.islice(self.ticks(after, math.inf), max(count, 0)))

    def previous(self, t: float) -> float | None:
        """The latest fire instant at or before ``t`` (None: none yet within ``start``)."""
        if self.end is not None:
            t = min(t, self.end)
        found = self._raw_at_or_before(t)
        if found is None or (self.start is not None and found < self.start):
            return None
        return found

    def interval(self, tick: float) -> tuple[float | None, float]:
        """The data interval ``[previous tick, tick)`` of a run for ``tick``, as Airflow's.

        The previous tick is the expression's, regardless of ``start``, so a daily run's interval
        is always one day (on a DST day 23 or 25 hours); None only if the expression never fired
        before. A ``tick`` that is not a fire instant (a manual trigger) gets
        ``[latest tick before it, tick)``.
        """
        return self._raw_before(tick), tick

    def tick(self, at: float, trigger: str = "schedule") -> Tick:
        """The ``Tick`` (one run to create) for instant ``at``, with its data interval."""
        start, end = self.interval(at)
        return Tick(logical_time=at, interval_start=start, interval_end=end, trigger=trigger)

    def tick_range(self, after: float, until: float, *, trigger: str = "schedule") -> Iterator[Tick]:
        """The ``Tick`` of every fire instant in ``(after, until]`` (a backfill): as ``ticks`` with
        intervals, computing each interval from its neighbour instead of searching back each time."""
        for previous, t in self._pairs(after, until):
            yield Tick(logical_time=t, interval_start=previous, interval_end=t, trigger=trigger)

    # -- records and text ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The schedule as a JSON-able dict (what ``deployments.schedule`` stores); Nones left out."""
        fields = {"cron": self.cron, "every": self.every, "anchor": self.anchor}
        fields.update(timezone=self.timezone, start=self.start, end=self.end)
        return {key: value for key, value in fields.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schedule:
        """The schedule ``to_json`` wrote, validated again (a stored zone may have left tzdata)."""
        return cls.parse(data)

    def describe(self) -> str:
        """One line for people: ``"at 02:00 every day (Asia/Tokyo)"``, ``"every 6h (UTC)"``."""
        if self.cron is not None:
            from cronsim import CronSim

            text = CronSim(self.cron, datetime(2000, 1, 1)).explain()
            text = text[:1].lower() + text[1:]
        else:
            text = f"every {format_duration(self.every or 0)}"
            if self.anchor is not None:
                text += f" from {self._show(self.anchor)}"
        if self.start is not None:
            text += f", starting {self._show(self.start)}"
        if self.end is not None:
            text += f", until {self._show(self.end)}"
        return f"{text} ({self.timezone})"

    def local(self, t: float) -> datetime:
        """Instant ``t`` as an aware datetime in the schedule's zone (for display and task context)."""
        return datetime.fromtimestamp(t, zone_named(self.timezone))

    def _show(self, t: float) -> str:
        return self.local(t).strftime("%Y-%m-%d %H:%M")

    # -- the expression's own ticks, ignoring start/end ----------------------------------------------

    def _raw(self, after: float) -> Iterator[float]:
        """Every instant of the expression after ``after``, increasing, unbounded."""
        if self.every is not None:
            anchor, every = self._anchor(), self.every
            k = math.floor((after - anchor) / every) + 1
            while True:
                t = anchor + k * every
                if t > after:
                    yield t
                k += 1
        else:
            yield from cron_after(self.cron or "", zone_named(self.timezone), after)

    def _raw_at_or_before(self, t: float) -> float | None:
        if self.every is not None:
            anchor = self._anchor()
            return anchor + math.floor((t - anchor) / self.every) * self.every
        return cron_at_or_before(self.cron or "", zone_named(self.timezone), math.floor(t))

    def _raw_before(self, t: float) -> float | None:
        if self.every is not None:
            anchor = self._anchor()
            return anchor + (math.ceil((t - anchor) / self.every) - 1) * self.every
        return cron_at_or_before(self.cron or "", zone_named(self.timezone), math.ceil(t) - 1)

    def _anchor(self) -> float:
        if self.anchor is not None:
            return self.anchor
        if self.start is not None:
            return self.start
        return datetime(1970, 1, 1, tzinfo=zone_named(self.timezone)).timestamp()

    def _pairs(self, after: float, until: float) -> Iterator[tuple[float | None, float]]:
        """``(interval start, tick)`` for the ticks in ``(after, until]``: consecutive fire instants
        are each other's interval bounds (start/end only cut the ends of the sequence)."""
        previous: float | None = None
        first = True
        for t in self.ticks(after, until):
            yield (self._raw_before(t) if first else previous), t
            previous, first = t, False


def due(
    schedule: Schedule,
    *,
    cursor: float | None,
    now: float,
    catchup: str = "latest",
    max_catchup_runs: int | None = None,
    on_time: float = ON_TIME,
) -> tuple[list[Tick], int]:
    """The ticks in ``(cursor, now]`` to create as runs under a catch-up policy, and how many were dropped.

    The caller creates the returned ticks and stores ``now`` as the deployment's new cursor in the
    same transaction, so every tick is considered exactly once.

    Policies (after downtime, ``(cursor, now]`` holds several ticks):
    - ``"latest"`` (default): one run, for the latest tick; the older ones are dropped.
    - ``"all"``: a run for every tick, oldest first; with ``max_catchup_runs=N`` only the latest N
      (the older ones are dropped: ``suiro backfill`` can still create them).
    - ``"none"``: only a tick at most ``on_time`` seconds old (the pass that is merely late);
      anything older is dropped.

    With no ``cursor``, nothing was missed: only a tick at most ``on_time`` seconds old fires,
    whatever the policy (the scheduler passes a new deployment's deploy time as its cursor, so
    the ticks since then that no scheduler saw are missed ticks).

    Args:
        schedule: the deployment's schedule.
        cursor: the ``now`` of the previous call for this deployment (None: never looked).
        now: the current instant (epoch seconds, from ``suiro.clock``).
        catchup: ``"latest"``, ``"all"`` or ``"none"``.
        max_catchup_runs: at most this many ticks under ``"all"`` (None: no limit).
        on_time: how old (seconds) a tick may be and still count as on time, not missed.

    Returns:
        The ticks to create (increasing logical time, trigger ``schedule``) and the count dropped.

    Raises:
        ScheduleError: unknown policy or ``max_catchup_runs`` below 1.
    """
    check_catchup(catchup, max_catchup_runs)
    if cursor is not None and cursor >= now:
        return [], 0
    if cursor is None or catchup == "none":
        after = now - on_time if cursor is None else max(cursor, now - on_time)
        keep: int | None = 1
        seen = sum(1 for _ in schedule.ticks(cursor if cursor is not None else after, now))
    else:
        after = cursor
        keep = 1 if catchup == "latest" else max_catchup_runs
        seen = None
    kept: collections.deque[tuple[float | None, float]] = collections.deque(maxlen=keep)
    count = 0
    for pair in schedule._pairs(after, now):
        kept.append(pair)
        count += 1
    ticks = [Tick(logical_time=t, interval_start=s, interval_end=t, trigger="schedule") for s, t in kept]
    total = count if seen is None else seen
    return ticks, total - len(ticks)


def check_catchup(catchup: str, max_catchup_runs: int | None = None) -> None:
    """Refuse an unknown catch-up policy or a ``max_catchup_runs`` below 1 (``ScheduleError``)."""
    if catchup not in CATCHUP:
        raise ScheduleError(
            f"unknown catch-up policy {catchup!r}{did_you_mean(str(catchup), CATCHUP)}; "
            "use 'latest', 'all' or 'none'",
            spec=catchup,
        )
    if max_catchup_runs is not None and (
        isinstance(max_catchup_runs, bool) or not isinstance(max_catchup_runs, int) or max_catchup_runs < 1
    ):
        raise ScheduleError(
            f"max_catchup_runs is {max_catchup_runs!r}; give a whole number of at least 1, or leave it unset",
            spec=max_catchup_runs,
        )


# -- durations and instants --------------------------------------------------------------------------


def parse_duration(value: Any) -> float:
    """Seconds from ``"6h"``, ``"1h30m"``, ``"90 minutes"``, a number of seconds, or a timedelta.

    Raises:
        ScheduleError: not a duration, or not positive.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        seconds = _duration_text(value)
    else:
        raise _bad_interval(value)
    return _check_every(seconds, value)


def _duration_text(text: str) -> float:
    rest, total = text.strip().lower(), 0.0
    if re.fullmatch(r"\d+(\.\d+)?", rest):
        return float(rest)
    pos = 0
    for match in _DURATION.finditer(rest):
        if rest[pos : match.start()].strip(" ,"):
            raise _bad_interval(text)
        word = match.group(2).rstrip("s") or "s"
        unit = _UNIT_WORDS.get(word, word if word in _UNITS else None)
        if unit is None:
            raise _bad_interval(text)
        total += float(match.group(1)) * _UNITS[unit]
        pos = match.end()
    if pos == 0 or rest[pos:].strip():
        raise _bad_interval(text)
    return total


def _bad_interval(value: Any) -> ScheduleError:
    return ScheduleError(
        f"the interval {value!r} is not a duration; write a number and a unit, such as 'every 6h', "
        "'every 30m' or 'every 1d'",
        spec=value,
    )


def _check_every(seconds: Any, shown: Any = None) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise _bad_interval(seconds)
    if not math.isfinite(seconds) or seconds <= 0:
        shown = seconds if shown is None else shown
        raise ScheduleError(
            f"the interval {shown!r} is not positive; "
            "give a positive duration such as 'every 6h' or 'every 30m'",
            spec=shown,
        )
    return float(seconds)


def format_duration(seconds: float) -> str:
    """``21600`` → ``"6h"``, ``5400`` → ``"1h30m"`` (the inverse of ``parse_duration`` for whole units)."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest, parts = int(seconds), []
    for unit in ("w", "d", "h", "m", "s"):
        count, rest = divmod(rest, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def to_epoch(value: Any, zone: tzinfo | str = "UTC", what: str = "the time") -> float:
    """Epoch seconds from epoch seconds, a datetime or date, or ISO text; naive ones are in ``zone``.

    ``what`` names the value in the error (``"the schedule's start"``, ``"backfill --start"``).

    Raises:
        ScheduleError: not an instant.
    """
    if isinstance(zone, str):
        zone = zone_named(zone)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    given = value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            value = None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.timestamp()
    raise ScheduleError(
        f"{what} {given!r} is not a time; give ISO text such as '2026-11-01' or "
        "'2026-11-01T02:00', a datetime, or epoch seconds.",
        spec=given,
    )


def _from_mapping(spec: Mapping[str, Any]) -> dict[str, Any]:
    known = ("cron", "every", "timezone", "start", "end", "anchor")
    for key in spec:
        if key not in known:
            raise ScheduleError(
                f"unknown schedule key {key!r}{did_you_mean(str(key), known)}; use {', '.join(known)}",
                spec=key,
            )
    fields = {key: spec[key] for key in known if spec.get(key) is not None}
    every = fields.get("every")
    if isinstance(every, str) and every.strip().lower().startswith("every "):
        fields["every"] = every.strip()[6:]
    return fields
