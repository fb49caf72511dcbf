"""Two or more runs, or two or more versions of a model, side by side: what the compare pages,
``/api/v1/compare`` and ``/api/v1/models/NAME/compare`` show (one read each).

Both line parameters up by name (``present`` says which have it; ``differs`` when not all have
the same value) and metrics by name with each one's value and its delta from the first one's
(``param_rows``, ``metric_rows``: the same code for runs and versions). Runs add their tasks by
key with each run's state, attempts and cache hit (``cached_from``); versions add their stage
and its last change (who, when, why), their data digest (``other_data``: trained on other data
than the first) and their lineage (the run and task that registered them, the run that run
resumed). Reads only: ``queries`` and ``search`` on the read-only handle, and the registry's
reads (``Registry.get``, ``transitions``), which use it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suiro.errors import SuiroError
from suiro.store import queries, search

if TYPE_CHECKING:
    from suiro.registry import Registry

#: At most this many runs (or versions) side by side (a page stays readable at 1280 px, the reads bounded).
MAX_COMPARED = 8
_MISSING = object()


class CompareError(SuiroError, ValueError):
    """The runs or model versions to compare were not given as the page needs them."""


def compare(registry: Registry, run_ids: list[str]) -> dict[str, Any]:
    """``run_ids`` (2 to ``MAX_COMPARED``, each an id or unique part of one) side by side.

    Raises:
        CompareError: fewer than two runs, or more than ``MAX_COMPARED``.
        RunNotFoundError: a run is not recorded.
    """
    run_ids = list(dict.fromkeys(r for r in run_ids if r))
    _check_count(len(run_ids), "runs", "tick them in the runs list, or pass ?run=ID&run=ID")
    db = registry.reader
    runs = [queries.get_run(db, run_id) for run_id in run_ids]
    metrics = [search.latest_metrics(db, run["id"]) for run in runs]
    return {
        "runs": [
            {k: run[k] for k in ("id", "pipeline", "state", "started", "ended", "duration", "params")}
            for run in runs
        ],
        "params": param_rows([run["params"] for run in runs]),
        "metrics": metric_rows(metrics),
        "tasks": _tasks(runs),
    }


def compare_versions(registry: Registry, name: str, selectors: list[str]) -> dict[str, Any]:
    """Versions of model ``name`` (2 to ``MAX_COMPARED``: numbers, ``latest`` or a stage) side by side,
    in the order given (deltas are from the first).

    Raises:
        CompareError: fewer than two distinct versions, or more than ``MAX_COMPARED``.
        ModelNotFoundError: no such model, or no such version.
        RegistryError: an invalid model name or version selector.
    """
    selectors = list(dict.fromkeys(s.strip() for s in selectors if s and s.strip()))
    hint = "tick them on the model's page, or pass ?version=1&version=2"
    _check_count(len(selectors), "versions", hint)
    found = {v.version: v for v in (registry.get(name, s) for s in selectors)}  # "2" and "latest" once
    _check_count(len(found), "versions", hint)
    versions = [v.to_dict() for v in found.values()]
    history = registry.transitions(name)
    first_data = versions[0]["data_digest"]
    for version in versions:
        changes = [t for t in history if t["version"] == version["version"]]  # registered, promoted, ...
        version["stage_change"] = changes[-1] if changes else None
        digest = version["data_digest"]
        version["other_data"] = None if digest is None or first_data is None else digest != first_data
        version["run"] = (
            queries.run_summary(registry.reader, version["run_id"]) if version["run_id"] else None
        )
    return {
        "name": versions[0]["name"],
        "versions": versions,
        "params": param_rows([v["params"] for v in versions]),
        "metrics": metric_rows([v["metrics"] for v in versions]),
    }


def _check_count(count: int, what: str, hint: str) -> None:
    if not 2 <= count <= MAX_COMPARED:
        raise CompareError(
            f"compare needs at least two {what} and at most {MAX_COMPARED} (got {count}); {hint}."
        )


def param_rows(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parameters by name: each one's values (None where absent), ``present`` and ``differs``."""
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


def metric_rows(metrics: list[dict[str, float | None]]) -> list[dict[str, Any]]:
    """Metrics by name: each one's value (None where absent) and its delta from the first's."""
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
