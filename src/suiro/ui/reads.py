"""What each page and each ``/api/v1`` route shows, read once here for both (never two copies).

Each function takes the app's ``Registry`` (its ``reader`` is the read-only handle on the
store's database) and returns plain JSON-able data: the JSON API returns it as it is, the
pages render it. Every read is a ``suiro.store.queries`` (or registry) function on the
read-only handle; nothing here writes, reaps or alerts.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from suiro.brief import brief
from suiro.states import RunState, TaskState
from suiro.store import queries, search
from suiro.store.search import RunFilter
from suiro.ui import preview

if TYPE_CHECKING:
    from suiro.registry import Registry

#: Runs per page of the runs list.
PAGE_SIZE = 50
#: A log shown in a page keeps its last this many lines (the JSON API has them all).
LOG_TAIL = 2000
#: A run page explains the cache decision of at most this many tasks (each costs two reads).
EXPLAINED = 100
#: Task rows a run's page lists (``?tasks=all`` lists every one): a 20,000-task run's page was
#: 14 MB and took 4 s, every task's log file read.
PAGE_TASKS = 500
RUN_STATES = [s.value for s in RunState]
TASK_STATES = [s.value for s in TaskState]


def runs(
    registry: Registry, *, page: int = 1, where: RunFilter | None = None, **fields: Any
) -> dict[str, Any]:
    """One page of runs matching ``where`` (or a ``RunFilter`` of ``fields``: ``pipeline=``,
    ``state=``, ...), newest first or by a metric, with what the filters may choose from."""
    where = where or RunFilter(**{k: v or None for k, v in fields.items()})
    page = max(page, 1)
    rows = search.search_runs(registry.reader, where, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return {
        "runs": rows[:PAGE_SIZE],
        "page": page,
        "more": len(rows) > PAGE_SIZE,
        "pipeline": where.pipeline,
        "state": where.state,
        "filter": {**asdict(where), "params": dict(where.params)},
        "pipelines": search.pipeline_names(registry.reader),
        "states": RUN_STATES,
        "metrics": search.metric_names(registry.reader),
        "deployment": where.deployment,
        "deployments": deployment_names(registry),
    }


def run(
    registry: Registry,
    run_id: str,
    *,
    log_tail: int | None = LOG_TAIL,
    tasks: int | None = None,
    find: str | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """A run with its tasks, attempts (with tracebacks), logs, metrics, outputs, graph and, per
    task, why it was or was not a cache hit (``explain``).

    ``find`` (a part of a task's key) and ``state`` keep only the tasks that match; with
    ``tasks``, more matching tasks than that are cut to that many (``suiro.brief``: those that did
    not succeed first) and ``tasks_left`` counts the others by state. Only the kept tasks' logs and
    outputs are read; ``task_count`` is the run's number of tasks.

    Raises:
        RunNotFoundError: no such run.
    """
    db = registry.reader
    data = queries.get_run(db, run_id)
    for attempt in data["attempts"]:
        attempt.pop("log_path", None)  # where the file is on disk is not the reader's business
    every = data["tasks"]
    kept = [t for t in every if (not find or find in t["task_key"]) and (not state or t["state"] == state)]
    data["task_count"], data["tasks_left"] = len(every), {}
    listed = None
    if len(kept) < len(every) or (tasks is not None and len(kept) > tasks):
        data["tasks"], data["tasks_left"] = brief(kept, len(kept) if tasks is None else tasks)
        data["every_task"] = every  # the graph's boxes show every task's state
        listed = {t["task_key"] for t in data["tasks"]}
    logs = queries.logs(db, data["id"], within=registry.store.home, tasks=listed)
    if log_tail is not None:
        for entry in logs:
            entry["lines"] = entry["lines"][-log_tail:]
    data["logs"] = logs
    data["metrics"] = queries.metrics(db, data["id"])
    data["outputs"] = [
        o for o in queries.artifacts(db, data["id"]) if listed is None or o["task_key"] in listed
    ]
    for output in data["outputs"][: preview.MAX_PREVIEWS]:  # verified against its digest, size-limited
        output["preview"] = preview.of_output(registry.store, output, data["id"])
    data["graph"] = queries.run_graph(db, data["id"])
    data["explain"] = {  # why each task was or was not a cache hit, as `suiro explain` says it
        t["task_key"]: queries.explain(db, data["id"], t["task_key"])["reason"]
        for t in data["tasks"][:EXPLAINED]
    }
    return data


def run_states(registry: Registry, run_id: str) -> dict[str, Any]:
    """A run's and its tasks' states (what the live view sends)."""
    return queries.run_states(registry.reader, run_id)


def logs(
    registry: Registry, run_id: str, *, task: str | None = None, attempt: int | None = None
) -> list[dict[str, Any]]:
    """Every attempt's log lines and, for a failed one, its error and traceback."""
    return queries.logs(registry.reader, run_id, task, attempt, within=registry.store.home)


def pipelines(registry: Registry) -> list[dict[str, Any]]:
    """Each pipeline with a recorded run, with its run count and latest run."""
    return queries.list_pipelines(registry.reader)


def pipeline(registry: Registry, name: str, *, recent: int = 20, metric: str | None = None) -> dict[str, Any]:
    """A pipeline: its graph and parameters (as its latest run recorded them), its recent runs, and
    one metric across its runs (``metric``, else the one its latest run logged last).

    Raises:
        RunNotFoundError: no run of ``name`` is recorded.
    """
    graph = queries.pipeline_graph(registry.reader, name)
    recent_runs = queries.list_runs(registry.reader, pipeline=name, limit=recent)
    latest = queries.get_run(registry.reader, recent_runs[0]["id"]) if recent_runs else None
    logged = queries.metrics(registry.reader, latest["id"]) if latest else []
    names = sorted({m["name"] for m in logged})
    metric = metric or (logged[-1]["name"] if logged else None)
    return {
        "name": name,
        "graph": graph,
        "params": graph.get("params", []),
        "runs": recent_runs,
        "latest": latest,
        "metric": metric,
        "metric_names": names,
        "metric_history": search.metric_history(registry.reader, name, metric) if metric else [],
    }


def models(registry: Registry) -> list[dict[str, Any]]:
    """Every registered model: its versions' count, latest version and production version."""
    by_name: dict[str, dict[str, Any]] = {}
    for version in registry.versions():
        entry = by_name.setdefault(version.name, {"name": version.name, "versions": 0, "production": None})
        entry["versions"] += 1
        entry["latest"] = version.version
        entry["latest_created"] = version.created
        if version.stage == "production":
            entry["production"] = version.version
    return list(by_name.values())


def model(registry: Registry, name: str) -> dict[str, Any]:
    """A model's versions (metrics, parameters, lineage) and its stage history, oldest first.

    Raises:
        ModelNotFoundError: no model has that name.
    """
    history = registry.transitions(name)
    return {
        "name": name,
        "versions": [v.to_dict() for v in registry.versions(name)],
        "history": history,
    }


def deployment_names(registry: Registry) -> list[str]:
    """Every deployment's name, sorted (the runs filter's choices)."""
    from suiro.store import deployments as rows

    return rows.names(registry.reader)


def deployments(registry: Registry) -> list[dict[str, Any]]:
    """Every deployment: its schedule in words, next three fire times, paused, triggers, latest run
    (what ``suiro deployments`` lists, read without reaping)."""
    from suiro.deployments.view import summaries

    return summaries(registry.reader)


def deployment(registry: Registry, name: str, *, recent: int = 20) -> dict[str, Any]:
    """One deployment as ``suiro deployments show`` has it (next five fire times in its zone and
    UTC, its recent runs with their logical times), and its queued ticks.

    Raises:
        DeploymentError: no such deployment.
    """
    from suiro.deployments.view import described
    from suiro.store import ticks

    found = described(registry.reader, name, runs=recent)
    found["queued_ticks"] = [
        {
            "run_id": t.run_id,
            "logical_time": t.logical_time,
            "trigger": t.trigger,
            "created": t.created,
            "params": t.params,
            "timezone": found["timezone"],
        }
        for t in ticks.queued_of(registry.reader, name)
    ]
    return found
