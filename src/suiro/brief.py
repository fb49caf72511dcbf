"""Which of a big run's task rows are shown: those that need attention first, the rest counted.

Why: ``suiro show`` printed every task; a 20,000-task run took 8 s to print, and a row in the
middle that failed was lost among the ones that succeeded. Past ``limit`` rows, the tasks that did
not succeed (failed, running, waiting, skipped...) are kept first, then the others in run order up
to the limit, and what was left out is counted by state. Pure: imports nothing from suiro.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

#: States of a task that needs no attention: it is done and its output is there.
_OK = frozenset({"success", "cached"})


def brief(tasks: Sequence[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rows to show, in run order, and how many of each state were left out ({} if none)."""
    if len(tasks) <= limit:
        return list(tasks), {}
    chosen = {i for i, t in enumerate(tasks) if t["state"] not in _OK}
    if len(chosen) > limit:
        chosen = set(sorted(chosen)[:limit])
    for i in range(len(tasks)):
        if len(chosen) >= limit:
            break
        chosen.add(i)
    shown = [t for i, t in enumerate(tasks) if i in chosen]
    left = Counter(t["state"] for i, t in enumerate(tasks) if i not in chosen)
    return shown, dict(sorted(left.items()))
