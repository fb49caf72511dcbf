"""Attempts between the runner's decision to run them and their outcome.

Owns the queue of units ready to run, each task's ``max_concurrency``, how many attempts are in
flight, where an attempt runs (in the runner's own thread when the executor can and nothing else
could happen until it ends, else submitted), and the queue their outcomes come back through.

Must not decide states, retries or what a node does next, nor report anything: the runner does
that with the outcomes ``take`` hands back. Never calls an executor's capability it has not
declared (see ``Executor``).
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from suiro.cancel import Cancellation, Interrupted
from suiro.executors.base import Executor, Outcome, Work, cancelled_error, error_info


@dataclass(slots=True)
class Unit:
    """One attempt-able piece of work: a plain node (``map_index`` -1), or one item of a mapped node."""

    key: str
    map_index: int
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: The attempt running or last run (0: none yet).
    attempt: int = 0
    #: Attempts that ended because their process died (their own retry budget).
    infra_failures: int = 0
    #: Where the current attempt's lines go (None: not written to a file).
    log_path: str | None = None
    #: When the current attempt started, on the run's monotonic clock.
    started: float = 0.0
    #: A sensor's pokes that found nothing (attempts that spend no retry).
    pokes: int = 0
    #: When the first of those pokes started (a sensor's timeout counts from it); None: no poke yet.
    waiting_since: float | None = None
    #: It waits for its next poke (its last attempt found nothing), not for a retry after an error.
    poked: bool = False
    #: The current attempt's timeout was cut to what was left of the run's deadline.
    capped: bool = False


class Attempts:
    """The units waiting for a worker, the attempts in flight, and the ones that ended.

    Args:
        executor: where attempts run.
        cancellation: the run's stop request: an attempt running in this thread is run so that
            a signal's request interrupts it, and ``take`` stops at a request.
        limits: ``max_concurrency`` of each task that has one.
    """

    def __init__(self, executor: Executor, cancellation: Cancellation, limits: Mapping[str, int]):
        self.executor = executor
        self._cancellation = cancellation
        self._limits = limits
        #: Units to start, in order (a retry that fell due, a unit freed by its task's limit, first).
        self.ready: deque[Unit] = deque()
        #: Attempts started and not yet taken, by (task, item).
        self.active: dict[tuple[str, int], Unit] = {}
        self.inflight = 0
        self._waiting: dict[str, deque[Unit]] = {}
        self._running: dict[str, int] = {}
        #: Ended attempts; None only wakes a wait (a cancel).
        self._ended: queue.SimpleQueue[tuple[Unit, Outcome] | None] = queue.SimpleQueue()

    def wake(self) -> None:
        """End a wait at once; safe in a signal handler (``SimpleQueue.put`` is reentrant)."""
        self._ended.put(None)

    def next(self) -> Unit | None:
        """The next unit to start now; None when every worker is busy or nothing is ready.

        A unit whose task is at its ``max_concurrency`` is set aside; it is ready again, first,
        when an attempt of its task ends.
        """
        while self.ready and self.inflight < self.executor.workers:
            unit = self.ready.popleft()
            limit = self._limits.get(unit.key)
            if limit and self._running.get(unit.key, 0) >= limit:
                self._waiting.setdefault(unit.key, deque()).append(unit)
                continue
            return unit
        return None

    def start(self, unit: Unit, work: Work, *, alone: bool) -> None:
        """Start ``work``, the unit's next attempt; its outcome comes back through ``take``.

        ``alone``: nothing else can fall due meanwhile (no retry waits). If nothing else runs or
        is ready either, the loop would only wait for this attempt, so an executor that can
        (threads) runs it here, saving two thread hand-offs. A task running in this thread (so,
        or in the ``submit`` of an executor that ``runs_inline``) can be interrupted only there,
        by a signal's stop request; it then stays active, for the cancel path to end.
        """
        self.active[(unit.key, unit.map_index)] = unit
        self.inflight += 1
        self._running[unit.key] = self._running.get(unit.key, 0) + 1
        executor = self.executor
        try:
            if executor.runs_inline:  # its submit runs the attempt here anyway
                future = self._cancellation.interruptible(executor.submit, work)
            else:
                if alone and self.inflight == 1 and not self.ready:
                    outcome = self._cancellation.interruptible(executor.run_here, work)
                    if outcome is not None:
                        self._ended.put((unit, outcome))
                        return
                future = executor.submit(work)
        except Interrupted:
            return
        future.add_done_callback(lambda f, u=unit: self._ended.put((u, _outcome_of(f))))

    def take(self, timeout: float | None) -> Iterator[tuple[Unit, Outcome]]:
        """Wait up to ``timeout`` seconds (None: no limit) for an attempt to end, then yield it and
        every other that ended meanwhile, each no longer in flight.

        Stops at a stop request: an outcome not yet taken then stays for ``ended_ok`` (the
        signal may have caused it).
        """
        try:
            item = self._ended.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if item is not None:  # None: a cancel's wake-up
                if self._cancellation.requested:
                    self._ended.put(item)
                    return
                self._forget(item[0])
                yield item
            try:
                item = self._ended.get_nowait()
            except queue.Empty:
                return

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` while nothing runs; a cancel's wake-up ends the wait at once."""
        try:
            item = self._ended.get(timeout=seconds)
        except queue.Empty:
            return
        if item is not None:  # cannot come while nothing runs; kept for ``take`` all the same
            self._ended.put(item)

    def drop_queued(self) -> list[Unit]:
        """Take every unit that waits for a worker out of the queue (nothing new will start)."""
        units = [*self.ready, *(u for waiting in self._waiting.values() for u in waiting)]
        self.ready.clear()
        self._waiting.clear()
        return units

    def ended_ok(self) -> list[tuple[Unit, Outcome]]:
        """After a cancel: the attempts that succeeded and were not taken, no longer in flight.

        Failures that arrived are dropped and their units stay ``active``: the cancel may have
        caused them (a terminal's Ctrl-C reaches the programs a task runs too).
        """
        ended = []
        while True:
            try:
                item = self._ended.get_nowait()
            except queue.Empty:
                return ended
            if item is not None and item[1].ok:
                self._forget(item[0])
                ended.append(item)

    def abandon(self) -> list[Unit]:
        """After a cancel: forget every attempt still in flight; returns their units."""
        units = list(self.active.values())
        self.active.clear()
        return units

    def _forget(self, unit: Unit) -> None:
        """An attempt ended: free its worker and its place under its task's limit."""
        self.inflight -= 1
        self.active.pop((unit.key, unit.map_index), None)
        left = self._running[unit.key] - 1
        if left:
            self._running[unit.key] = left
        else:  # not kept at 0: a 1,000,000-task chain would keep a key per task
            del self._running[unit.key]
        waiting = self._waiting.get(unit.key)
        if waiting:
            self.ready.appendleft(waiting.popleft())


def _outcome_of(future: Future[Outcome]) -> Outcome:
    if future.cancelled():  # dropped by a cancel before it started
        return Outcome(error=cancelled_error("not started"))
    exc = future.exception()
    if exc is None:
        return future.result()
    return Outcome(error=error_info(exc, retry_on=()))
