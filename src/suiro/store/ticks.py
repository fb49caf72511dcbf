"""The ``ticks`` table: each run a deployment should get, recorded at most once (G6).

Whatever decides runs (the schedule, a backfill, a file or upstream trigger, ``suiro trigger``)
hands ``runinfo.Tick``s to ``create``. The table's UNIQUE constraints do the rest: one tick per
(deployment, logical time) and per (deployment, event key), whoever inserts it and however often.
A tick's ``run_id`` is minted with it and is UNIQUE too, so a tick launched twice can still only
ever record one run.

A tick's life: ``queued`` (created) -> ``launched`` (claimed by a launcher, compare-and-set, with
the launcher's pid; the child process that runs it sets its own pid the same way) -> ``done``
(its run ended) or ``failed`` (its run could not start: the pipeline no longer loads, a parameter
no longer fits). A launched tick whose process is gone and whose run row never appeared is
relaunched under the same run id (``orphans``, ``relaunch``).

Every SQL statement on ``ticks`` lives here; writes take a ``BEGIN IMMEDIATE`` transaction each.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from suiro.faults import fault
from suiro.runinfo import Tick, new_run_id
from suiro.store import reaper
from suiro.store.db import Database, Tx, this_host
from suiro.store.leases import Lease, fence

QUEUED, LAUNCHED, DONE, FAILED = "queued", "launched", "done", "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TickRow:
    """One row of ``ticks``, its params decoded."""

    id: int
    deployment: str
    logical_time: float
    run_id: str
    state: str
    created: float
    interval_start: float | None = None
    interval_end: float | None = None
    trigger: str = "schedule"
    event_key: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    token: int | None = None
    launched: float | None = None
    host: str | None = None
    pid: int | None = None


def _row(found: dict[str, Any]) -> TickRow:
    found["params"] = json.loads(found["params"] or "{}")
    return TickRow(**found)


def create(
    db: Database,
    deployment: str,
    ticks: Sequence[Tick],
    *,
    now: float,
    lease: Lease | None = None,
    cursor: float | None = None,
) -> list[str]:
    """Record ``ticks`` of ``deployment`` as queued, each at most once; the run ids of those created.

    One transaction for all of them (a 10,000-tick backfill commits once). A tick whose logical
    time or event key the deployment already has is skipped (``ON CONFLICT DO NOTHING``): a
    restarted scheduler, a second scheduler and a repeated backfill create nothing twice.

    Args:
        db: the database.
        deployment: the deployment's name.
        ticks: the ticks to record.
        now: the creation time recorded.
        lease: the scheduler's lease: checked in the same transaction (fencing), so a scheduler
            that lost it creates nothing.
        cursor: moved forward to this in the same transaction (``deployments.cursor``: every
            tick up to it has been decided), so a crash cannot separate the two.

    Raises:
        LeaseLostError: ``lease`` is no longer held (nothing was written).
    """
    return create_many(db, [(deployment, ticks, cursor)], now=now, lease=lease)[deployment]


def create_many(
    db: Database,
    batches: Sequence[tuple[str, Sequence[Tick], float | None]],
    *,
    now: float,
    lease: Lease | None = None,
) -> dict[str, list[str]]:
    """``create`` for several deployments in one transaction: ``(deployment, ticks, cursor)`` each;
    the run ids created, by deployment.

    The scheduler records every deployment due in a pass at once: one commit (one fsync) whether
    one deployment fires or a thousand do at midnight, so the last of them is not late. Fault
    point ``scheduler.tick_created`` after each deployment's ticks (inside the transaction).

    Raises:
        LeaseLostError: ``lease`` is no longer held (nothing was written).
    """
    created: dict[str, list[str]] = {}
    with db.write() as tx:
        fence(tx, lease)
        for deployment, ticks, cursor in batches:
            made = created.setdefault(deployment, [])
            for tick in ticks:
                run_id = _insert(tx, deployment, tick, now=now, token=lease.token if lease else None)
                if run_id is not None:
                    made.append(run_id)
            if cursor is not None:
                tx.execute(
                    "UPDATE deployments SET cursor = :cursor WHERE name = :name"
                    " AND (cursor IS NULL OR cursor < :cursor)",
                    {"cursor": cursor, "name": deployment},
                )
            fault("scheduler.tick_created")
    return created


def _insert(tx: Tx, deployment: str, tick: Tick, *, now: float, token: int | None) -> str | None:
    """Insert one tick; its run id, or None if the deployment has it already.

    Run ids carry six random hex digits, so in a large backfill two may collide: that insert
    also changes nothing, and is retried with a new id when the tick itself is not there yet.
    """
    values = {
        "deployment": deployment,
        "logical_time": tick.logical_time,
        "interval_start": tick.interval_start,
        "interval_end": tick.interval_end,
        "trigger": tick.trigger,
        "event_key": tick.event_key,
        "params": json.dumps(tick.params, sort_keys=True),
        "token": token,
        "created": now,
    }
    for _ in range(10):
        values["run_id"] = new_run_id()
        if tx.execute(
            'INSERT INTO ticks (deployment, logical_time, interval_start, interval_end, "trigger", event_key,'
            " params, run_id, token, created) VALUES (:deployment, :logical_time, :interval_start,"
            " :interval_end, :trigger, :event_key, :params, :run_id, :token, :created)"
            " ON CONFLICT DO NOTHING",
            values,
        ):
            return values["run_id"]
        if tx.query(
            "SELECT 1 AS x FROM ticks WHERE deployment = :deployment AND (logical_time = :logical_time"
            " OR event_key = :event_key)",
            values,
        ):
            return None
    raise AssertionError("ten random run ids in a row were taken")  # pragma: no cover


def queued(db: Database, *, backfill: bool = True) -> list[TickRow]:
    """Every queued tick, oldest logical time first (the order they are launched in); without
    ``backfill`` ticks (the scheduler's view: ``suiro backfill`` launches its own)."""
    if backfill:
        found = db.query(
            'SELECT id, deployment, logical_time, interval_start, interval_end, "trigger", event_key, params,'
            " run_id, state, token, launched, host, pid, created FROM ticks WHERE state = 'queued'"
            " ORDER BY logical_time, id"
        )
    else:
        found = db.query(
            'SELECT id, deployment, logical_time, interval_start, interval_end, "trigger", event_key, params,'
            " run_id, state, token, launched, host, pid, created FROM ticks WHERE state = 'queued'"
            " AND \"trigger\" <> 'backfill' ORDER BY logical_time, id"
        )
    return [_row(r) for r in found]


def queued_of(db: Database, deployment: str, *, limit: int = 50) -> list[TickRow]:
    """The first ``limit`` queued ticks of ``deployment``, oldest logical time first (the web UI's
    deployment page: the runs decided and waiting to start)."""
    found = db.query(
        'SELECT id, deployment, logical_time, interval_start, interval_end, "trigger", event_key, params,'
        " run_id, state, token, launched, host, pid, created FROM ticks WHERE state = 'queued'"
        " AND deployment = :deployment ORDER BY logical_time, id LIMIT :limit",
        {"deployment": deployment, "limit": limit},
    )
    return [_row(r) for r in found]


def last_id(db: Database) -> int:
    """The highest tick id (0: none): a tick added by anyone moves it (one index lookup)."""
    return int(db.query("SELECT max(id) AS n FROM ticks")[0]["n"] or 0)


def get(db: Database, run_id: str) -> TickRow | None:
    """The tick whose run id is ``run_id``, or None."""
    found = db.query(
        'SELECT id, deployment, logical_time, interval_start, interval_end, "trigger", event_key, params,'
        " run_id, state, token, launched, host, pid, created FROM ticks WHERE run_id = :run_id",
        {"run_id": run_id},
    )
    return _row(found[0]) if found else None


def run_exists(db: Database, run_id: str) -> bool:
    """Whether the run ``run_id`` has its row (its process got as far as starting it)."""
    return bool(db.query("SELECT 1 AS x FROM runs WHERE id = :run_id", {"run_id": run_id}))


def between(db: Database, deployment: str, start: float, end: float) -> list[dict[str, Any]]:
    """The ticks of ``deployment`` with logical times in ``[start, end]``, each with its run's state
    (``run_state``, None while no run row exists) and the newest resume of it that succeeded
    (``resumed``: a resume keeps its run's deployment and logical time), oldest first."""
    return db.query(
        'SELECT t.run_id, t.logical_time, t.state, t."trigger", r.state AS run_state, r.timezone,'
        " (SELECT x.id FROM runs x WHERE x.deployment = t.deployment AND x.logical_time = t.logical_time"
        " AND x.parent_run_id IS NOT NULL AND x.state = 'success' ORDER BY x.started DESC LIMIT 1)"
        " AS resumed FROM ticks t"
        " LEFT JOIN runs r ON r.id = t.run_id WHERE t.deployment = :deployment"
        " AND t.logical_time >= :start AND t.logical_time <= :end ORDER BY t.logical_time",
        {"deployment": deployment, "start": start, "end": end},
    )


def claim(
    db: Database, run_id: str, *, pid: int, now: float, lease: Lease | None = None, host: str | None = None
) -> bool:
    """Compare-and-set one tick ``queued`` -> ``launched`` by the launcher ``pid``; whether this call won.

    Of two launchers (two schedulers, a scheduler and a backfill) exactly one wins a tick.

    Raises:
        LeaseLostError: ``lease`` is no longer held (nothing was written).
    """
    with db.write() as tx:
        fence(tx, lease)
        return bool(
            tx.execute(
                "UPDATE ticks SET state = 'launched', pid = :pid, host = :host, launched = :now,"
                " token = :token"
                " WHERE run_id = :run_id AND state = 'queued'",
                {
                    "run_id": run_id,
                    "pid": pid,
                    "host": host or this_host(),
                    "now": now,
                    "token": lease.token if lease else None,
                },
            )
        )


def unclaim(db: Database, run_id: str, *, pid: int) -> bool:
    """Put a tick the launcher ``pid`` claimed back in the queue: no process could be started for
    it (out of memory, too many processes); a later pass tries again."""
    with db.write() as tx:
        return bool(
            tx.execute(
                "UPDATE ticks SET state = 'queued', pid = NULL, host = NULL, launched = NULL"
                " WHERE run_id = :run_id AND state = 'launched' AND pid = :pid",
                {"run_id": run_id, "pid": pid},
            )
        )


def start(db: Database, run_id: str, *, launcher: int, pid: int, now: float) -> bool:
    """The child that runs a tick takes it over from its launcher (compare-and-set on the launcher's
    pid); False when a relauncher has replaced that launcher meanwhile: then this child must not run."""
    with db.write() as tx:
        return bool(
            tx.execute(
                "UPDATE ticks SET pid = :pid, host = :host, launched = :now"
                " WHERE run_id = :run_id AND state = 'launched' AND pid = :launcher",
                {"run_id": run_id, "pid": pid, "host": this_host(), "now": now, "launcher": launcher},
            )
        )


def fail(db: Database, run_id: str, *, pid: int, run: dict[str, Any] | None = None) -> bool:
    """Its run could not start (the child ``pid`` found the pipeline or a parameter wrong): ``failed``.

    With ``run`` (``pipeline``, ``target``, ``params``, ``timezone``, ``error``, ``now``), a
    ``failed`` run is recorded under the tick's run id, with no task, in the same transaction:
    ``suiro runs``, ``show``, the deployment's latest run and the UI say it, where before only
    the child's output file did.
    """
    with db.write() as tx:
        changed = bool(
            tx.execute(
                "UPDATE ticks SET state = 'failed'"
                " WHERE run_id = :run_id AND state = 'launched' AND pid = :pid",
                {"run_id": run_id, "pid": pid},
            )
        )
        if changed and run is not None:
            tx.execute(
                "INSERT INTO runs (id, pipeline, target, params, state, started, ended, host, pid, error,"
                ' deployment, logical_time, interval_start, interval_end, "trigger", timezone)'
                " SELECT run_id, :pipeline, :target, :params, 'failed', :now, :now, :host, :pid, :error,"
                ' deployment, logical_time, interval_start, interval_end, "trigger", :timezone FROM ticks'
                " WHERE run_id = :run_id AND NOT EXISTS (SELECT 1 FROM runs WHERE id = :run_id)",
                {
                    **run,
                    "params": json.dumps(run["params"], default=repr),
                    "run_id": run_id,
                    "pid": pid,
                    "host": this_host(),
                },
            )
        return changed


def active(db: Database) -> dict[str, int]:
    """Launched ticks per deployment whose run has not ended (or not started yet): what counts
    against ``max_active_runs``."""
    found = db.query(
        "SELECT t.deployment, count(*) AS n FROM ticks t LEFT JOIN runs r ON r.id = t.run_id"
        " WHERE t.state = 'launched' AND (r.state IS NULL OR r.state NOT IN"
        " ('success', 'failed', 'cancelled', 'crashed')) GROUP BY t.deployment"
    )
    return {r["deployment"]: int(r["n"]) for r in found}


def settle(db: Database) -> int:
    """Mark ``done`` every launched tick whose run has ended; how many. Keeps ``launched`` small, so
    counting active runs stays cheap however many runs a deployment has had."""
    ended = db.query(
        "SELECT t.run_id FROM ticks t JOIN runs r ON r.id = t.run_id WHERE t.state = 'launched'"
        " AND r.state IN ('success', 'failed', 'cancelled', 'crashed')"
    )
    if not ended:
        return 0
    with db.write() as tx:
        for row in ended:
            tx.execute(
                "UPDATE ticks SET state = 'done' WHERE run_id = :run_id AND state = 'launched'",
                {"run_id": row["run_id"]},
            )
    return len(ended)


def orphans(db: Database) -> list[TickRow]:
    """Launched ticks whose launcher or child died on this host before their run row appeared.

    Only those can be relaunched safely: a live process may still record the run, and a process
    on another host cannot be checked from here (such a tick waits for a scheduler there).
    """
    found = db.query(
        'SELECT t.id, t.deployment, t.logical_time, t.interval_start, t.interval_end, t."trigger",'
        " t.event_key, t.params, t.run_id, t.state, t.token, t.launched, t.host, t.pid, t.created"
        " FROM ticks t LEFT JOIN runs r ON r.id = t.run_id WHERE t.state = 'launched' AND r.id IS NULL"
    )
    dead = []
    for row in found:
        if row["host"] == this_host() and row["pid"] == os.getpid():
            continue  # launched by this very process, whose child has not taken it over yet
        owner = {"host": row["host"], "pid": row["pid"], "started": row["launched"]}
        if reaper.owner_alive(owner) is False:
            dead.append(_row(row))
    return dead


def relaunch(db: Database, tick: TickRow, *, pid: int, now: float) -> bool:
    """Hand an orphaned tick to the launcher ``pid`` (compare-and-set on the dead one); whether this won.

    A child the dead launcher started that has not taken the tick over yet now never will
    (``start`` compares with the dead launcher's pid), so the tick runs once, under its run id.
    """
    with db.write() as tx:
        if tx.query("SELECT 1 AS x FROM runs WHERE id = :run_id", {"run_id": tick.run_id}):
            return False  # it appeared after all: the run is recorded, its reaper decides
        return bool(
            tx.execute(
                "UPDATE ticks SET pid = :pid, host = :host, launched = :now"
                " WHERE run_id = :run_id AND state = 'launched' AND pid = :old",
                {"run_id": tick.run_id, "pid": pid, "host": this_host(), "now": now, "old": tick.pid},
            )
        )
