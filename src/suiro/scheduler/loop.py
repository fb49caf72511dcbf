"""The scheduler's loop: lease, reap, decide ticks, launch them, and sleep until something is due.

One pass (``Scheduler.run_pass``): take or renew the ``scheduler`` lease (a standby does nothing
else); reap dead runs (``crashes.reap``), mark ended ticks done and relaunch orphans; for each
unpaused deployment that is due, record the ticks its schedule and catch-up policy give
(``schedules.due``) with its cursor, in one fenced transaction (``ticks.create``); poll file and
upstream triggers (``seams.scan``); launch queued ticks within ``max_active_runs``, each in its own
child process (``launch``); check for late runs (``seams.check_late``).

Idle cost is what the issue bounds (< 1 % of a core with 1,000 deployments), so nothing is
recomputed per wake: each deployment's next fire time is computed once, when it is loaded or
fires; deployments are reloaded only when ``deployments.last_change`` moves (and once a minute);
the queue is read only when something may have made a tick launchable (ticks created, a run
ended, a tick added from outside: a new highest tick id). A wake between fire times costs two
small queries ("deployments changed?", "a new tick?"). ``serve`` sleeps
until the earliest next fire time, at most ``poll`` seconds, so a ``suiro trigger`` or a new
deployment is seen within ``poll``.

Never a double run (G6): ticks are UNIQUE per (deployment, logical time) and event key, created
under the lease's fencing token; a tick is launched by compare-and-set, and relaunched only when
its launcher and child are dead and its run row never appeared, under the same run id.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from suiro import clock
from suiro.errors import StoreError, SuiroError
from suiro.faults import fault
from suiro.scheduler import seams
from suiro.scheduler.children import Children
from suiro.scheduler.plans import Plan, plan_of, same

if TYPE_CHECKING:
    from suiro.store.deployments import DeploymentRow
    from suiro.store.leases import Lease

log = logging.getLogger("suiro.scheduler")

#: Seconds a lease lasts without renewal: a standby takes over at most this long after the leader died.
LEASE_TTL = 30.0
#: Longest sleep between two looks at "deployments changed?" and "a new tick?".
POLL = 1.0
#: Seconds between reaping dead runs, settling ended ticks and relaunching orphans.
REAP_EVERY = 10.0
#: Seconds between full reloads of the deployments, changed or not.
RELOAD_EVERY = 60.0
#: Seconds between polls of file and upstream triggers.
TRIGGER_EVERY = 5.0
#: Runs one scheduler has started and that still run, at most (the rest of the queue waits).
MAX_CHILDREN = 16
#: Seconds between checks for late runs.
LATE_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did: whether it led, ticks created and dropped (catch-up), runs launched."""

    leader: bool
    created: int = 0
    dropped: int = 0
    launched: int = 0


class Scheduler:
    """Turns the deployments of a suiro home into runs.

    Args:
        home: the suiro home (default ``$SUIRO_HOME``); the database is ``$SUIRO_DB`` if set.
        ttl: the lease's time to live (seconds).
        poll: the longest sleep of ``serve`` between looks for new work.
        launch: False records ticks but launches nothing (they stay queued): a dry planner.
        holder: this scheduler's name in the lease (default ``host:pid:random``).
        max_children: at most this many runs started by this scheduler at once (a catch-up of
            hundreds of ticks without ``max_active_runs`` must not fork hundreds of processes).
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        ttl: float = LEASE_TTL,
        poll: float = POLL,
        launch: bool = True,
        holder: str | None = None,
        max_children: int = MAX_CHILDREN,
    ):
        from suiro.store import leases
        from suiro.store.home import Store

        self.store = Store(home)
        self.db = self.store.db
        self.ttl, self.poll, self.launching, self.max_children = ttl, poll, launch, max_children
        self.holder = holder or leases.new_holder()
        self.lease: Lease | None = None
        self._plans: dict[str, Plan] = {}
        self._seen: tuple[int, float] | None = None
        self._children = Children(self.db, self.store.home, warm=launch)
        self._mark = -1  # the highest tick id at the last look at the queue
        self._blocked = False  # the last look left launchable ticks (no process or slot then)
        self._due = {"reap": -1.0, "scan": -1.0, "late": -1.0, "reload": -1.0}

    # -- one pass -------------------------------------------------------------------------------

    def run_pass(self, now: float | None = None) -> PassReport:
        """One pass at ``now`` (default: the clock's); see the module docstring.

        Raises:
            StoreError: the database cannot be read or written (the pass is retried by ``serve``).
        """
        from suiro.store.leases import LeaseLostError

        now = clock.now() if now is None else now
        if not self._lead(now):
            return PassReport(leader=False)
        try:
            changed = self._refresh(now)
            exited = self._children.poll()
            changed |= self._housekeeping(now, force=exited)
            created, dropped = self._decide(now)
            created += self._scan(now)
            launched = 0
            if self.launching and self._queue_moved(changed or exited or created > 0):
                launched = self._launch(now)
                self._children.prepare()  # a warm child for the next tick
            self._late(now)
        except LeaseLostError as exc:
            log.warning("%s", exc)
            self._stand_by()
            return PassReport(leader=False)
        return PassReport(leader=True, created=created, dropped=dropped, launched=launched)

    def _lead(self, now: float) -> bool:
        """Hold the lease: renewed once a third of its time has passed; taken when free."""
        from suiro.store import leases

        if self.lease is not None and self.lease.expires - now > self.ttl * 2 / 3:
            return True
        held = leases.acquire(self.db, self.holder, self.ttl, now=now)
        if held is None:
            if self.lease is not None:
                log.warning("lost the scheduler lease to %s; standing by", self._other())
            self._stand_by()
            return False
        if self.lease is None or held.token != self.lease.token:
            log.info("leading as %s (lease token %d)", self.holder, held.token)
            self._seen = None  # cursors may have moved under another leader: reload everything
        self.lease = held
        return True

    def _other(self) -> str:
        from suiro.store import leases

        current = leases.current(self.db)
        return current.holder if current else "nobody"

    def _stand_by(self) -> None:
        self.lease, self._plans, self._seen = None, {}, None

    def _queue_moved(self, changed: bool) -> bool:
        """Whether the queue may hold something launchable that the last look did not: something
        changed here, or a tick was added from outside (``suiro trigger``: a new highest id)."""
        from suiro.store import ticks

        mark = ticks.last_id(self.db)
        moved = changed or mark != self._mark or self._blocked
        self._mark = mark
        return moved

    def _refresh(self, now: float) -> bool:
        """Reload the deployments when they changed (one cheap query when they did not), and every
        ``RELOAD_EVERY`` seconds anyway: two changes stamped with the same ``updated`` time would
        look like one. A row that did not change keeps its plan (no schedule parsed again)."""
        from suiro.store import deployments

        seen = deployments.last_change(self.db)
        if seen == self._seen and now < self._due["reload"]:
            return False
        plans = {}
        for row in deployments.all_deployments(self.db):
            old = self._plans.get(row.name)
            plans[row.name] = old if old is not None and same(old.row, row) else plan_of(row)
        self._plans, self._seen = plans, seen
        self._due["reload"] = now + RELOAD_EVERY
        return True

    def _decide(self, now: float) -> tuple[int, int]:
        """Record the ticks of every due deployment, moving each cursor to ``now`` with them, all in
        one transaction (one commit however many deployments fire at this instant)."""
        from suiro.schedules import due
        from suiro.store import ticks

        batches, dropped = [], 0
        for name, plan in self._plans.items():
            if plan.row.paused or plan.next_fire is None or plan.next_fire > now:
                continue
            found, missed = [], 0
            if plan.schedule is not None:
                try:
                    # Never looked at: its ticks since it was deployed are due under its policy (a
                    # nightly job deployed in the afternoon, the scheduler started next morning, has
                    # missed that night, and catchup decides), not only one at most a minute old.
                    found, missed = due(
                        plan.schedule,
                        cursor=plan.cursor if plan.cursor is not None else _deployed(plan.row, now),
                        now=now,
                        catchup=plan.row.catchup,
                        max_catchup_runs=plan.row.max_catchup_runs,
                    )
                except SuiroError as exc:  # a row no deploy would write: it must not stop the others
                    log.error("deployment %s skipped: %s", name, exc)
                    plan.next_fire = now + RELOAD_EVERY
                    continue
            if missed:
                log.info("%s: %d missed tick(s) dropped by catchup=%s", name, missed, plan.row.catchup)
            batches.append((name, found, now))
            dropped += missed
        if not batches:
            return 0, 0
        made = ticks.create_many(self.db, batches, now=now, lease=self.lease)
        for name, _, _ in batches:
            plan = self._plans[name]
            plan.cursor = now
            plan.next_fire = plan.schedule.next_after(now) if plan.schedule is not None else None
        return sum(map(len, made.values())), dropped

    def _scan(self, now: float) -> int:
        """Poll the deployments' file and upstream triggers (every ``TRIGGER_EVERY`` seconds)."""
        from suiro.store import ticks

        if now < self._due["scan"]:
            return 0
        self._due["scan"] = now + TRIGGER_EVERY
        created = 0
        for name, plan in self._plans.items():
            if plan.row.paused or not plan.row.triggers:
                continue
            found = seams.scan(self.db, plan.row, now)
            if found:
                created += len(ticks.create(self.db, name, found, now=now, lease=self.lease))
        return created

    def _housekeeping(self, now: float, *, force: bool = False) -> bool:
        """Reap dead runs, mark ended ticks done and relaunch orphans (every ``REAP_EVERY`` s);
        whether it ran (runs may have ended: the queue is looked at again)."""
        from suiro import crashes
        from suiro.store import ticks

        if now < self._due["reap"] and not force:
            return False
        self._due["reap"] = now + REAP_EVERY
        crashes.reap(self.db)
        ticks.settle(self.db)
        if not self.launching:
            return True
        for orphan in ticks.orphans(self.db):
            if ticks.relaunch(self.db, orphan, pid=os.getpid(), now=now):
                log.warning(
                    "run %s of %s: its process died before it started; relaunched",
                    orphan.run_id,
                    orphan.deployment,
                )
                self._children.start(orphan.run_id)
        return True

    def _launch(self, now: float) -> int:
        """Launch queued ticks, oldest first, within each deployment's ``max_active_runs``."""
        from suiro.store import ticks

        queue = ticks.queued(self.db, backfill=False)
        self._blocked = False
        if not queue:
            return 0
        active = ticks.active(self.db)
        launched = 0
        for tick in queue:
            plan = self._plans.get(tick.deployment)
            if plan is None or plan.row.paused:
                continue  # deleted or paused: its queued ticks wait
            if len(self._children) >= self.max_children:
                self._blocked = True  # look again next pass: a child may have ended by then
                break
            limit = plan.row.max_active_runs
            if limit is not None and active.get(tick.deployment, 0) >= limit:
                continue
            if not ticks.claim(self.db, tick.run_id, pid=os.getpid(), now=now, lease=self.lease):
                continue  # another launcher (a backfill, `suiro trigger --wait`) has it
            fault("scheduler.tick_claimed")
            if not self._children.start(tick.run_id):
                self._blocked = True
                break  # the machine cannot start processes now: the rest wait for the next pass
            active[tick.deployment] = active.get(tick.deployment, 0) + 1
            launched += 1
            log.info("launched run %s of %s (%s)", tick.run_id, tick.deployment, tick.trigger)
        return launched

    def _late(self, now: float) -> None:
        if now >= self._due["late"]:
            self._due["late"] = now + LATE_EVERY
            seams.check_late(self.db, now)

    # -- the loop -------------------------------------------------------------------------------

    def next_wake(self, now: float) -> float:
        """When the next pass is needed: the earliest next fire time, at most ``poll`` from ``now``."""
        wake = now + self.poll
        for plan in self._plans.values():
            if not plan.row.paused and plan.next_fire is not None and plan.next_fire < wake:
                wake = plan.next_fire
        if self.lease is not None:
            wake = min(wake, self.lease.expires - self.ttl * 2 / 3)
        return max(wake, now)

    def serve(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop`` is set; then give the lease up (running runs go on).

        A database error (disk full, locked too long) is logged and the pass retried at the next
        wake: the scheduler outlives a bad minute of its database.
        """
        try:
            while not stop.is_set():
                try:
                    self.run_pass()
                except (StoreError, SuiroError) as exc:
                    log.error("pass failed, retrying: %s", exc)
                except Exception:  # a bug must not stop every schedule: logged whole, retried
                    log.exception("pass failed unexpectedly (a suiro bug: please report it); retrying")
                now = clock.now()
                stop.wait(max(0.0, self.next_wake(now) - now))
        finally:
            self.close()

    def close(self) -> None:
        """Give the lease up (a standby takes over at once) and close the database."""
        from suiro.store import leases

        if self.lease is not None:
            try:
                leases.release(self.db, self.lease, now=clock.now())
            except StoreError as exc:
                log.warning("could not release the lease (it expires by itself): %s", exc)
            self.lease = None
        self._children.close()
        self.store.close()

    @property
    def children(self) -> dict[str, int]:
        """The child processes this scheduler started that are still running: pid by run id."""
        return self._children.running()


def _deployed(row: DeploymentRow, now: float) -> float | None:
    """When a deployment was first deployed, as the cursor of its first look (None if not before
    ``now``: a clock that went back, or a row without the time)."""
    created = row.created
    return created if created is not None and created < now else None
