"""Dead runs found and announced: the reaper's verdicts, each sent once as a crash alert (G8).

The dying process cannot say it died, so whoever reaps does. The store's reaper
(``suiro.store.reaper``) records verdicts and sends nothing (the store imports no alerting);
the callers that reap — ``suiro runs`` and ``show`` before printing (``suiro.history``),
``resume`` (``suiro.api``), gc, later the scheduler — call ``reap`` here, which alerts for each
verdict it won. Verdicts are compare-and-set, so every crash is announced exactly once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from suiro.states import RunState
from suiro.store import reaper
from suiro.store.reaper import Crash

if TYPE_CHECKING:
    from suiro.store.db import Database


def reap(db: Database) -> list[Crash]:
    """Record every dead ``running`` run as ``crashed`` and announce each verdict this call won."""
    crashes = reaper.reap(db)
    for crash in crashes:
        announce(crash)
    return crashes


def announce(crash: Crash) -> None:
    """The crash alert, best effort: its delivery can never change the run's state.

    ``suiro.alerts`` (urllib, http.client, ssl: ~40 ms) is imported only here, when a crash is
    found, not by every command that reads the record.
    """
    from suiro.alerts import AlertDeliveryError, send_alert

    message = (
        f"suiro run {crash.run_id} of {crash.pipeline} crashed: {crash.reason}; "
        f"resume it with: suiro resume {crash.run_id}"
    )
    details = {
        "run_id": crash.run_id,
        "pipeline": crash.pipeline,
        "state": RunState.CRASHED.value,
        "reason": crash.reason,
    }
    try:
        send_alert(
            message, details=details, level="error", idempotency_key=f"suiro-run-{crash.run_id}-crashed"
        )
    except AlertDeliveryError as exc:
        logging.getLogger("suiro.reaper").error("%s", exc)
