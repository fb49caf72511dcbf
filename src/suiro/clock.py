"""The clock suiro reads for retry delays, heartbeats and the reaper's timeouts.

Timeouts and backoff are where bugs hide and where tests are slow: a test of "a run
whose heartbeat stopped 60 s ago is declared crashed" should not wait 60 s. Every
place that decides by elapsed time asks this module instead of ``time``, so a test
can swap in a ``ManualClock`` (``with clock.use(ManualClock()):``) and move time by
hand. Task timeouts are not on it: they bound real work in a real process, so the
executors enforce them with the operating system's own waits.

Owns the clock only; imports nothing from suiro.
"""

from __future__ import annotations

import contextlib
import threading
import time as _time
from collections.abc import Iterator
from typing import Protocol


class Clock(Protocol):
    """Wall time (epoch seconds, for records), monotonic time (for delays), and sleeping."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)
    sleep = staticmethod(_time.sleep)


class ManualClock:
    """A clock that moves only when told to: ``advance(s)``, or ``sleep(s)`` (which returns at once).

    Both kinds of time move together. ``sleeps`` lists every sleep asked of it, so a test
    can assert the delays a retry policy chose without waiting for them.
    """

    def __init__(self, start: float | None = None):
        self._wall = _time.time() if start is None else start
        self._mono = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        _time.sleep(0)  # let other threads run, as a real sleep would


SYSTEM: Clock = SystemClock()
_current: Clock = SYSTEM


def get() -> Clock:
    """The clock in use (the real one unless a test swapped it)."""
    return _current


def now() -> float:
    """Wall time in epoch seconds from the clock in use."""
    return _current.time()


@contextlib.contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Use ``clock`` for everything suiro times inside the ``with`` block (process-wide)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
