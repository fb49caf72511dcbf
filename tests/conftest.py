"""Shared fixtures: every test gets its own SUIRO_HOME in a temporary folder; ``manual_clock``
gives a test suiro's injectable clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from suiro import clock
from suiro.clock import ManualClock


@pytest.fixture(autouse=True)
def suiro_home(tmp_path, monkeypatch):
    home = tmp_path / "suiro-home"
    monkeypatch.setenv("SUIRO_HOME", str(home))
    return home


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    """Time that moves only when suiro sleeps on it (a retry's delay) or the test advances it.

    Everything suiro times in this process follows it: retry delays are slept on it at once
    (``manual_clock.sleeps`` lists them), and events and records are stamped with its time.
    """
    with clock.use(ManualClock(start=1_000_000.0)) as manual:
        yield manual
