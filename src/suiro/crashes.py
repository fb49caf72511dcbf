"""Dead runs found and announced: the reaper's verdicts, each sent once as a ``crashed`` notification (G8).

The dying process cannot say it died, so whoever reaps does. The store's reaper
(``suiro.store.reaper``) records verdicts and sends nothing (the store imports no alerting);
the callers that reap — ``suiro runs`` and ``show`` before printing (``suiro.history``),
``resume`` (``suiro.api``), gc, later the scheduler — call ``reap`` here, which alerts for each
verdict it won. Verdicts are compare-and-set, so every crash is announced exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suiro.store import reaper
from suiro.store.reaper import Crash

if TYPE_CHECKING:
    from suiro.store.db import Database


def reap(db: Database, *, quiet: bool = False) -> list[Crash]:
    """Record every dead ``running`` run as ``crashed`` and announce each verdict this call won
    (``quiet``: a verdict that cannot be written is not logged, see ``reaper.reap``)."""
    crashes = reaper.reap(db, quiet=quiet)
    for crash in crashes:
        announce(crash, db)
    return crashes


def announce(crash: Crash, db: Database) -> None:
    """The ``crashed`` notification, best effort: its delivery can never change the run's state.

    It goes to the routes the run started with (``runs.notify``), its deployment's and the
    project's, once per address (``deliveries``); ``suiro.notices`` (and, when there is somewhere
    to send, urllib or smtplib) is imported only here, when a crash is found, not by every
    command that reads the record.
    """
    from suiro import notices

    notices.announce_crash(crash, db)
