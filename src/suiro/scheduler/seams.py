"""Where the scheduler calls the other parts of automation each pass: triggers and late runs.

``suiro.triggers.scan`` (file and upstream triggers) and ``suiro.notices.check_late`` (late-run
notifications) are polled once per pass. A call that raises is logged and does not stop the
pass: a broken trigger or an unreachable mail server must not stop the schedules.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suiro.runinfo import Tick
    from suiro.store.db import Database
    from suiro.store.deployments import DeploymentRow

log = logging.getLogger("suiro.scheduler")


def scan(db: Database, row: DeploymentRow, now: float) -> list[Tick]:
    """The ticks ``row``'s triggers give at ``now`` (none when it has no trigger)."""
    if not row.triggers:
        return []
    from suiro import triggers

    try:
        return list(triggers.scan(db, row, now))
    except Exception as exc:  # one deployment's trigger must not stop the others
        log.error("deployment %s: its triggers could not be polled: %s", row.name, exc)
        return []


def check_late(db: Database, now: float) -> int:
    """Send one "late" notification for each scheduled run past its deployment's SLA."""
    from suiro import notices

    try:
        return int(notices.check_late(db, now))
    except Exception as exc:  # a notification problem must not stop the schedules
        log.error("late runs could not be checked: %s", exc)
        return 0
