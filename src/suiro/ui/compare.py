"""Two or more runs side by side: what the compare page and ``/api/v1/compare`` show (one read).

Parameters are lined up by name (``present`` says which runs have it; ``differs`` when not
every run has the same value), metrics by name with each run's latest value and its delta from
the first run's, and tasks by key with each run's state, attempts and cache hit
(``cached_from``). Reads only, through
``queries.get_run`` and ``search.latest_metrics`` on the read-only handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suiro.errors import SuiroError
from suiro.store import queries, search

if TYPE_CHECKING:
    from suiro.registry import Registry

#: At most this many runs side by side (a page stays readable at 1280 px, and the reads bounded).
MAX_RUNS = 8
_MISSING = object()


class CompareError(SuiroError, ValueError):
    """The runs to compare were not given as the page needs them."""


def compare(registry: Registry, run_ids: list[str]) -> dict[str, Any]:
    """``run_ids`` (2 to ``MAX_RUNS``, each an id or unique part of one) side by side.

    Raises:
        CompareError: fewer than two runs, or more than ``MAX_RUNS``.
        RunNotFoundError: a run is not recorded.
    """
    run_ids = list(dict.fromkeys(r for r in run_ids if r))
    if not 2 <= len(run_ids) <= MAX_RUNS:
        raise CompareError(
            f"compare needs at least two runs and at most {MAX_RUNS} (got {len(run_ids)}); "
            "tick them in the runs list, or pass ?run=ID&run=ID."
        )
    db = registry.reader
    runs = [queries.get_run(db, run_id) for run_id in run_ids]
    metrics = [search.latest_metrics(db, run["id"]) for run in runs]
    return {
        "runs": [
            {k: run[k] for k in ("id", "pipeline", "state", "started", "ended", "duration", "params")}
            for run in runs
        ],
        "params": _params([run["params"] for run in runs]),
        "metrics": _metrics(metrics),
        "tasks": _tasks(runs),
    }


def _params(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = sorted({name for p in params for name in p})
    rows = []
    for name in names:
        values = [p.get(name, _MISSING) for p in params]
        differs = any(v != values[0] or type(v) is not type(values[0]) for v in values)
        rows.append(
            {
                "name": name,
                "values": [None if v is _MISSING else v for v in values],
                "present": [v is not _MISSING for v in values],
                "differs": differs,
            }
        )
    return rows


def _metrics(metrics: list[dict[str, float]]) -> list[dict[str, Any]]:
    rows = []
    for name in sorted({name for m in metrics for name in m}):
        values = [m.get(name) for m in metrics]
        first = values[0]
        deltas = [None] + [None if v is None or first is None else v - first for v in values[1:]]
        rows.append({"name": name, "values": values, "deltas": deltas})
    return rows


def _tasks(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = list(dict.fromkeys(t["task_key"] for run in runs for t in run["tasks"]))
    by_run = [{t["task_key"]: t for t in run["tasks"]} for run in runs]
    rows = []
    for key in keys:
        cells = []
        for tasks in by_run:
            task = tasks.get(key)
            cells.append(
                None
                if task is None
                else {
                    k: task[k] for k in ("state", "attempts", "duration", "cached_from", "map_size", "items")
                }
            )
        rows.append({"task_key": key, "runs": cells})
    return rows
