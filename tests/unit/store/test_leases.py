"""The scheduler's lease: one holder at a time, takeover only after expiry, a token that grows with
each new holder, and fencing that stops a holder that lost the lease from writing as leader."""

from __future__ import annotations

import pytest

from suiro.store import leases
from suiro.store.db import Database
from suiro.store.leases import LeaseLostError


@pytest.fixture
def db(tmp_path):
    database = Database.open(f"sqlite:///{tmp_path / 'suiro.db'}")
    yield database
    database.close()


def test_one_holder_at_a_time_and_takeover_only_after_expiry(db):
    first = leases.acquire(db, "a", 10.0, now=100.0)
    assert first is not None and first.token == 1 and first.expires == 110.0
    assert leases.acquire(db, "b", 10.0, now=105.0) is None  # a holds it
    renewed = leases.acquire(db, "a", 10.0, now=108.0)
    assert renewed is not None and renewed.token == 1 and renewed.expires == 118.0
    assert leases.acquire(db, "b", 10.0, now=117.9) is None
    taken = leases.acquire(db, "b", 10.0, now=118.0)
    assert taken is not None and taken.holder == "b" and taken.token == 2
    assert leases.acquire(db, "a", 10.0, now=119.0) is None  # a lost it: no renewal
    assert leases.current(db) == taken


def test_a_released_lease_is_taken_over_at_once_with_the_next_token(db):
    held = leases.acquire(db, "a", 60.0, now=0.0)
    assert leases.release(db, held, now=1.0)
    taken = leases.acquire(db, "b", 60.0, now=1.0)
    assert taken is not None and taken.token == 2
    assert not leases.release(db, held, now=2.0)  # a's lease is gone: releasing it changes nothing
    assert leases.current(db).holder == "b"


def test_a_holder_that_lost_the_lease_is_fenced(db):
    old = leases.acquire(db, "a", 5.0, now=0.0)
    leases.acquire(db, "b", 5.0, now=10.0)
    with db.write() as tx:
        assert not leases.holds(tx, old)
    with pytest.raises(LeaseLostError, match="lost the scheduler lease"), db.write() as tx:
        leases.fence(tx, old)


def test_an_expired_lease_no_one_took_still_fences_nothing(db):
    """Expiry alone does not fence: while the token matches, no other leader exists."""
    held = leases.acquire(db, "a", 5.0, now=0.0)
    with db.write() as tx:
        leases.fence(tx, held)
    assert leases.acquire(db, "a", 5.0, now=50.0).token == 1  # renewed late, same token
