"""The retry schedule: which failed attempt gets another, after what delay, and when it falls due.

Each kind of failure spends its own budget: ``retries`` for the task's own exceptions,
``infra_retries`` for a worker process that died. A sensor's poke that found nothing spends
neither: it waits here for its next poke until its own timeout (``after_poke``). A unit waiting
for its retry holds no worker: it waits here, ordered by due time, until the runner takes it
back with ``due``.

Must not run, submit or report anything, and reads time only from the clock it is given (so a
test's ``ManualClock`` makes every delay pass at once).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from suiro import clock as clocks

if TYPE_CHECKING:
    from suiro.attempts import Unit
    from suiro.events import ErrorInfo, Poke
    from suiro.task import TaskOptions


class RetrySchedule:
    """The units of one run that wait for a retry, soonest first.

    Args:
        clock: tells the time delays count on (monotonic) and sleeps when it is not the real one.
        rng: source of the retry jitter.
    """

    def __init__(self, clock: clocks.Clock, rng: random.Random):
        self._clock = clock
        self._rng = rng
        self._due: list[tuple[float, int, Unit]] = []
        self._seq = itertools.count()  # equal due times keep their order; units never compare

    def __bool__(self) -> bool:
        return bool(self._due)

    def after_failure(self, unit: Unit, error: ErrorInfo, opts: TaskOptions) -> float | None:
        """Count the failed attempt against its budget; schedule another if one is left.

        Returns:
            the delay before the next attempt, or None when the unit gets no other attempt
            (the error is not retryable, or its budget is spent).
        """
        if error.infra:
            unit.infra_failures += 1
        if not error.retryable:
            return None
        if error.infra:
            allowed = unit.infra_failures <= opts.infra_retries
        else:
            allowed = unit.attempt - unit.infra_failures - unit.pokes <= opts.retries
        if not allowed:
            return None
        delay = opts.delay_before(unit.attempt + 1, rng=self._rng)
        heapq.heappush(self._due, (self._clock.monotonic() + delay, next(self._seq), unit))
        return delay

    def after_poke(self, unit: Unit, poke: Poke) -> float | None:
        """Count a sensor's poke that found nothing; schedule the next one unless its time is up.

        The sensor's timeout counts from the start of its first poke, and the last poke falls on
        it exactly (the delay is cut to what is left): it never gives up between two pokes.

        Returns:
            the delay before the next poke, or None when the timeout has passed.
        """
        unit.pokes += 1
        if unit.waiting_since is None:
            unit.waiting_since = unit.started
        left = poke.timeout - (self._clock.monotonic() - unit.waiting_since)
        if left <= 0:
            return None
        delay = min(poke.interval, left)
        heapq.heappush(self._due, (self._clock.monotonic() + delay, next(self._seq), unit))
        return delay

    def due(self) -> list[Unit]:
        """Take the units whose retry is due now."""
        now = self._clock.monotonic()
        units = []
        while self._due and self._due[0][0] <= now:
            units.append(heapq.heappop(self._due)[2])
        return units

    def wait_time(self) -> float | None:
        """Seconds until the first retry falls due (0 if one is due); None when none waits."""
        if not self._due:
            return None
        return max(self._due[0][0] - self._clock.monotonic(), 0.0)

    def sleep(self, block: Callable[[float], None], limit: float | None = None) -> None:
        """Wait until the first retry falls due, while nothing runs; at most ``limit`` seconds.

        On the real clock ``block(seconds)`` waits (and returns early when the run is
        cancelled); an injected clock moves time by itself instead.
        """
        seconds = self.wait_time() or 0.0
        if limit is not None:
            seconds = min(seconds, limit)
        if isinstance(self._clock, clocks.SystemClock):
            block(seconds)
        else:
            self._clock.sleep(seconds)

    def drain(self) -> list[Unit]:
        """Take every waiting unit out of the schedule (nothing new will start)."""
        units = [unit for _, _, unit in self._due]
        self._due.clear()
        return units
