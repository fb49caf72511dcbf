"""The ``leases`` table: a named role (``scheduler``) held by one process at a time, with fencing.

Two schedulers on one database must never both act as the leader (G6, test R6). The leader holds
a row here with an expiry it renews; a standby takes the role over only once that expiry has
passed. Each change of holder increases ``token`` (the fencing token), and every write the
leader makes in its role (``ticks.create``, ``ticks.claim``) checks, inside its own transaction,
that the row still names it with the token it got (``holds``): a leader that was paused past its
expiry and lost the role cannot write as leader when it wakes up.

Every statement is a compare-and-set, so it is correct under SQLite (one writer at a time, by
``BEGIN IMMEDIATE``) and PostgreSQL alike (an UPDATE takes the row's lock and re-reads the row
once the lock is free, so of two standbys exactly one takeover matches). A released lease keeps
its row (expired), so the token keeps growing across holders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from suiro.errors import StoreError
from suiro.store.db import Database, Tx, this_host

#: The scheduler's role.
SCHEDULER = "scheduler"


class LeaseLostError(StoreError):
    """The process no longer holds the lease it acts under (another holder took it over)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as held: ``token`` proves it in each write made under it."""

    name: str
    holder: str
    token: int
    acquired: float
    expires: float


def new_holder() -> str:
    """A holder name that says where it runs and is unique to this process: ``host:pid:random``."""
    return f"{this_host()}:{os.getpid()}:{os.urandom(3).hex()}"


def current(db: Database, name: str = SCHEDULER) -> Lease | None:
    """The lease row of ``name`` (expired or not), or None if no one ever held it."""
    rows = db.query(
        "SELECT name, holder, token, acquired, expires FROM leases WHERE name = :name", {"name": name}
    )
    return Lease(**rows[0]) if rows else None


def acquire(db: Database, holder: str, ttl: float, *, now: float, name: str = SCHEDULER) -> Lease | None:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``; None while another holds it.

    The holder that already has it keeps its token (a renewal); a new holder, of a free or an
    expired lease, gets the next token.
    """
    expires = now + ttl
    values = {"name": name, "holder": holder, "now": now, "expires": expires}
    with db.write() as tx:
        rows = tx.query("SELECT holder, token, expires FROM leases WHERE name = :name", {"name": name})
        if not rows:
            created = tx.execute(
                "INSERT INTO leases (name, holder, token, acquired, expires)"
                " VALUES (:name, :holder, 1, :now, :expires) ON CONFLICT DO NOTHING",
                values,
            )
            return Lease(name, holder, 1, now, expires) if created else None
        seen = rows[0]
        if seen["holder"] == holder:
            won = tx.execute(
                "UPDATE leases SET expires = :expires"
                " WHERE name = :name AND holder = :holder AND token = :token",
                {**values, "token": seen["token"]},
            )
            return _held(tx, name) if won else None
        if seen["expires"] > now:
            return None
        won = tx.execute(
            "UPDATE leases SET holder = :holder, token = token + 1, acquired = :now, expires = :expires"
            " WHERE name = :name AND token = :token AND expires <= :now",
            {**values, "token": seen["token"]},
        )
        return _held(tx, name) if won else None


def _held(tx: Tx, name: str) -> Lease:
    row = tx.query(
        "SELECT name, holder, token, acquired, expires FROM leases WHERE name = :name", {"name": name}
    )
    return Lease(**row[0])


def release(db: Database, lease: Lease, *, now: float) -> bool:
    """Give the lease up (it expires now, so a standby takes over at once); False if already lost."""
    with db.write() as tx:
        return bool(
            tx.execute(
                "UPDATE leases SET expires = :now WHERE name = :name AND holder = :holder AND token = :token",
                {"name": lease.name, "holder": lease.holder, "token": lease.token, "now": now},
            )
        )


def holds(tx: Tx, lease: Lease) -> bool:
    """Whether ``lease`` is still held as it was got: for a check inside the caller's transaction.

    An UPDATE that changes nothing, not a SELECT: on PostgreSQL it locks the row until the
    caller commits, so a takeover cannot slip in between this check and the caller's writes. On
    SQLite the transaction holds the write lock already. Expiry is not checked: a token that still
    matches means no one else has taken over, so what the caller writes is still the only leader's.
    """
    return bool(
        tx.execute(
            "UPDATE leases SET token = token WHERE name = :name AND holder = :holder AND token = :token",
            {"name": lease.name, "holder": lease.holder, "token": lease.token},
        )
    )


def fence(tx: Tx, lease: Lease | None) -> None:
    """Raise unless ``lease`` (if any) is still held: the first statement of a leader's write.

    Raises:
        LeaseLostError: another process has taken the lease over.
    """
    if lease is not None and not holds(tx, lease):
        raise LeaseLostError(
            f"this process lost the {lease.name} lease (token {lease.token}) to another holder; nothing was "
            "written; it stands by until the lease is free again."
        )
