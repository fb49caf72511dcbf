"""What the scheduler keeps per deployment between passes: its row, parsed schedule, cursor and
next fire time, so an idle pass recomputes nothing (a cron is parsed when its row changes only)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from suiro.errors import SuiroError

if TYPE_CHECKING:
    from suiro.schedules import Schedule
    from suiro.store.deployments import DeploymentRow

log = logging.getLogger("suiro.scheduler")


@dataclass
class Plan:
    """What the loop keeps per deployment: its row, parsed schedule, cursor and next fire time."""

    row: DeploymentRow
    schedule: Schedule | None
    cursor: float | None
    next_fire: float | None


def same(kept: DeploymentRow, row: DeploymentRow) -> bool:
    """Whether ``row`` is ``kept`` but for its cursor (which this scheduler moved itself)."""
    return dataclasses.replace(kept, cursor=row.cursor, updated=row.updated) == row


def plan_of(row: DeploymentRow) -> Plan:
    """A deployment's plan: a new one (no cursor) is looked at at once, to set its cursor."""
    from suiro.schedules import Schedule

    schedule = None
    if row.schedule is not None:
        try:
            schedule = Schedule.from_json(row.schedule)
        except SuiroError as exc:  # e.g. its zone left tzdata: the others go on
            log.error("deployment %s: its schedule is unusable, skipped: %s", row.name, exc)
    if row.cursor is None:
        next_fire: float | None = -1.0
    elif schedule is not None:
        next_fire = schedule.next_after(row.cursor)
    else:
        next_fire = None
    return Plan(row=row, schedule=schedule, cursor=row.cursor, next_fire=next_fire)
