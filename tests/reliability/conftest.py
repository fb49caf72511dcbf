"""Every reliability test ends with ``suiro check`` clean on each store it used.

Faults are injected on purpose; what must hold afterwards is that no store is left broken once
a reader has looked at it (``suiro runs`` declares the runs the tests killed crashed, as it would
for a user). A test that plants problems to see them reported says so with
``@pytest.mark.leaves_problems``.
"""

from __future__ import annotations

import pytest

from suiro import history


@pytest.fixture(autouse=True)
def every_store_checked(request, tmp_path):
    yield
    if request.node.get_closest_marker("leaves_problems") is not None:
        return
    for db in sorted(tmp_path.rglob("suiro.db")):
        history.runs(home=db.parent)  # reaps the runs a test killed
        problems = history.check(home=db.parent)
        assert problems == [], f"suiro check on {db.parent} after {request.node.name}: {problems}"
