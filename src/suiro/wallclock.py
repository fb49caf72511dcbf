"""Wall-clock times in an IANA zone: a cron's wall times walked by cronsim, each mapped to the
instant it fires at under suiro's DST policy (docs/scheduling.md, "Time zones and DST").

- a wall time that does not exist (spring-forward) fires at the first valid instant after the gap;
- a wall time that happens twice (fall-back) fires at its first occurrence;
- several wall times mapping to one instant are one firing.

The instant of a wall time never decreases as the wall time grows (``instant`` is monotonic), which
is what lets ``cron_at_or_before`` walk back and then forward a little. Used by
``suiro.schedules``; imports only the errors, and cronsim and zoneinfo on first use.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo

from suiro.errors import ScheduleError, did_you_mean

#: The cron aliases accepted besides 5-field expressions (Vixie cron's, less ``@reboot``).
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_HELP = (
    "write 5 fields 'minute hour day-of-month month day-of-week' (e.g. '30 2 * * *') "
    "or an alias such as @daily or @hourly"
)


def local_text(epoch: float, zone: str | None) -> str:
    """``epoch`` as a person reads it in ``zone``: ``2026-11-30 02:00 JST``, with seconds when it
    has some (``every 30s`` ticks stay apart); UTC when ``zone`` is None or names a zone this
    machine no longer knows: a record must still show."""
    try:
        tz = zone_named(zone or "UTC")
    except ScheduleError:
        tz = UTC
    at = datetime.fromtimestamp(epoch, tz)
    return f"{at:%Y-%m-%d %H:%M:%S %Z}" if at.second else f"{at:%Y-%m-%d %H:%M %Z}"


def zone_named(name: str) -> tzinfo:
    """The zone called ``name`` (``UTC`` is the fixed-offset UTC: no DST arithmetic needed)."""
    if name == "UTC":
        return UTC
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        zones = zoneinfo.available_timezones() | {"UTC"}
        same = {zone.lower(): zone for zone in zones}.get(str(name).lower())  # utc, asia/tokyo
        hint = (
            f' (did you mean "{same}"?)'
            if same
            else did_you_mean(str(name), zones)
            if isinstance(name, str)
            else ""
        )
        raise ScheduleError(
            f"unknown time zone {name!r}{hint}; give an IANA name such as 'Europe/Berlin', "
            "'America/New_York' or 'UTC'",
            spec=name,
        ) from None


def check_cron(text: str) -> str:
    """The expression normalised (alias expanded, single spaces), or ``ScheduleError``."""
    from cronsim import CronSim, CronSimError

    if not isinstance(text, str):
        raise ScheduleError(f"the cron expression {text!r} is not text; {_CRON_HELP}", spec=text)
    expr = " ".join(text.split())
    expr = ALIASES.get(expr.lower(), expr)
    fields = len(expr.split())
    if expr.startswith("@"):
        raise ScheduleError(
            f"unknown cron alias {text!r}{did_you_mean(expr.lower(), ALIASES)}; use one of "
            f"{', '.join(ALIASES)} or 5 cron fields",
            spec=text,
        )
    if fields != 5:
        raise ScheduleError(
            f"the cron expression {text!r} has {fields} fields, not 5; {_CRON_HELP}", spec=text
        )
    try:
        next(CronSim(expr, datetime(2000, 1, 1)))
    except CronSimError as exc:
        reason = str(exc).rstrip(".").lower()
        raise ScheduleError(
            f"the cron expression {text!r} is not valid ({reason}); {_CRON_HELP}", spec=text
        ) from None
    except StopIteration:
        raise ScheduleError(
            f"the cron expression {text!r} never fires; check its day-of-month and month fields",
            spec=text,
        ) from None
    return expr


def wall_time(t: float, zone: tzinfo) -> datetime:
    """The naive wall-clock time of instant ``t`` in ``zone``."""
    return datetime.fromtimestamp(t, zone).replace(tzinfo=None)


def instant_of(wall: datetime, zone: tzinfo) -> float:
    """The instant a wall time fires at: its first occurrence, or the end of the DST gap it falls in."""
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    if zone is UTC or wall_time(first, zone) == wall:
        return first
    # ``wall`` is in a gap: fold=0 read it with the offset before the jump (an instant after the
    # gap), fold=1 with the one after (before the gap). The first instant whose wall time is not
    # earlier than ``wall`` is where the gap ends; find it to the second.
    low, high = math.floor(wall.replace(tzinfo=zone, fold=1).timestamp()), math.ceil(first)
    while low + 1 < high:
        middle = (low + high) // 2
        if wall_time(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return float(high)


def cron_after(expr: str, zone: tzinfo, after: float) -> Iterator[float]:
    """The cron's instants after ``after``, increasing: wall times walked by cronsim, each mapped
    by ``instant``; an instant not later than the last one (the repeated hour, a gap's end
    reached twice) is the same firing and is skipped."""
    from cronsim import CronSim

    last = after
    for wall in CronSim(expr, wall_time(math.floor(after), zone)):
        t = instant_of(wall, zone)
        if t > last:
            last = t
            yield t


def cron_at_or_before(expr: str, zone: tzinfo, t: int) -> float | None:
    """The cron's latest instant at or before ``t`` (whole seconds)."""
    from cronsim import CronSim

    found: float | None = None
    for wall in CronSim(expr, wall_time(t, zone) + timedelta(seconds=1), reverse=True):
        candidate = instant_of(wall, zone)
        if candidate <= t:
            found = candidate
            break
    if found is None:
        return None
    # After a fall-back, wall times later than t's own map to first occurrences still <= t.
    for later in cron_after(expr, zone, found):
        if later > t:
            break
        found = later
    return found
