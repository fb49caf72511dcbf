"""The scheduler: turns deployments into runs, on time, at most once each (G6).

``Scheduler`` (``loop``) decides ticks (``plans``: what it keeps per deployment) and launches
them; each run executes in its own child process (``child``, started by ``launch``, tracked by
``children``) so a pipeline that crashes or leaks cannot take the scheduler down; ``seams`` calls
the triggers and late-run checks of other parts; ``manual`` holds ``suiro trigger`` and
``suiro backfill``. What is recorded, and
the compare-and-set rules that keep every tick to one run, live in ``suiro.store.ticks`` and
``suiro.store.leases``.
"""

from __future__ import annotations

from suiro.scheduler.loop import Scheduler

__all__ = ["Scheduler"]
