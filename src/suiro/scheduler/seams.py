"""Where the scheduler calls other parts of issue 13 that may not be there yet: one seam each.

``suiro.triggers.scan`` (file and upstream triggers) and ``suiro.notify.check_late`` (late-run
notifications) are built beside the scheduler; until they are, these calls do nothing. A seam
that raises is logged and does not stop the pass: a broken trigger must not stop schedules.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from suiro.runinfo import Tick
    from suiro.store.db import Database
    from suiro.store.deployments import DeploymentRow

log = logging.getLogger("suiro.scheduler")


def _find(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def scan(db: Database, row: DeploymentRow, now: float) -> list[Tick]:
    """The ticks ``row``'s triggers give at ``now`` (``suiro.triggers.scan``; none without it)."""
    found = _find("suiro.triggers", "scan")
    if found is None:
        return []
    try:
        return list(found(db, row, now))
    except Exception as exc:  # one deployment's trigger must not stop the others
        log.error("deployment %s: its triggers could not be polled: %s", row.name, exc)
        return []


def check_late(db: Database, now: float) -> int:
    """Notify runs not finished by their deadline (``suiro.notify.check_late``; 0 without it)."""
    found = _find("suiro.notify", "check_late")
    if found is None:
        return 0
    try:
        return int(found(db, now))
    except Exception as exc:  # a notification problem must not stop the schedules
        log.error("late runs could not be checked: %s", exc)
        return 0
