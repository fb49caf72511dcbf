"""The JSON API under ``/api/v1``: what the pages show, as data (the same ``reads`` calls).

Reads return the ``reads`` functions' results unchanged. The two writes (promote, rollback)
take a small JSON body and the token in the ``Authorization`` header (``actions``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from suiro.states import TaskState
from suiro.ui import actions, compare, filters, reads

router = APIRouter(prefix="/api/v1")


class Promotion(BaseModel):
    """A promote request: which version, to which stage, and why."""

    #: ``{"version": 3}`` as well as ``"3"``, ``"latest"`` or a stage
    version: Annotated[str, Field(max_length=100)] | Annotated[int, Field(ge=1)]
    stage: str = Field(default="production", max_length=40)
    reason: str | None = Field(default=None, max_length=actions.MAX_REASON)


class Rollback(BaseModel):
    """A rollback request: why."""

    reason: str | None = Field(default=None, max_length=actions.MAX_REASON)


@router.get(
    "/runs",
    response_description=(
        "{runs, page, more, filter, pipelines, states, metrics, deployments}; each run "
        "has its params, and metric (the sort metric's value) when sorted"
    ),
)
def runs(
    request: Request,
    pipeline: str | None = None,
    state: str | None = None,
    deployment: str | None = None,
    since: str | None = Query(None, description="a date (2026-11-30) or local time (2026-11-30T08:00)"),
    until: str | None = Query(None, description="a date (included) or local time (excluded)"),
    metric: str | None = Query(None, description="only runs whose latest value of it is in [min, max]"),
    low: float | None = Query(None, alias="min"),
    high: float | None = Query(None, alias="max"),
    sort: str | None = Query(None, description="a metric name to order by (else newest first)"),
    order: str = Query("desc", pattern="^(desc|asc)$"),
    page: filters.Page = 1,
) -> Any:
    """One page of runs (``more`` says whether another page follows). ``param.NAME=VALUE`` (up to
    three, VALUE as JSON when it is JSON) keeps the runs whose parameter NAME equals VALUE."""
    where = filters.parse(dict(request.query_params))
    return reads.runs(request.app.state.registry, page=page, where=where)


@router.get(
    "/runs/{run_id}",
    response_description=(
        "the run with tasks, attempts (with tracebacks), logs, metrics, outputs (the "
        "first 12 with a preview), graph, explain"
    ),
)
def run(
    request: Request,
    run_id: str,
    tasks: Annotated[
        int | None, Query(ge=1, description="list at most this many tasks, those that did not succeed first")
    ] = None,
    find: Annotated[str | None, Query(max_length=200, description="tasks whose key contains this")] = None,
    state: Annotated[TaskState | None, Query(description="only tasks in this state")] = None,
) -> Any:
    """A run: parameters, tasks, attempts with tracebacks, logs, metrics, outputs and graph.

    Every task by default. A run of thousands of tasks answers in megabytes: ``tasks``, ``find``
    and ``state`` keep fewer (``task_count`` is the run's number of tasks, ``tasks_left`` counts
    the matching ones not listed, by state), and only the kept tasks' logs and outputs are read;
    ``/runs/RUN/states`` has every task's state.
    """
    data = reads.run(
        request.app.state.registry,
        actions.check_run_id(run_id),
        log_tail=None,
        tasks=tasks,
        find=find,
        state=state.value if state else None,
    )
    data.pop("every_task", None)  # the pages' graph needs it; here it would double the answer
    return data


@router.get("/runs/{run_id}/states", response_description="{id, state, tasks: [{task_key, state, ...}]}")
def run_states(request: Request, run_id: str) -> Any:
    """A run's state and its tasks' states (what the live view streams)."""
    return reads.run_states(request.app.state.registry, actions.check_run_id(run_id))


@router.get(
    "/runs/{run_id}/logs",
    response_description=(
        "[{task_key, map_index, attempt, state, lines, error_type, error_message, traceback}]"
    ),
)
def logs(request: Request, run_id: str, task: str | None = None, attempt: filters.Attempt = None) -> Any:
    """Each attempt's log lines, with the error and traceback of a failed one."""
    registry = request.app.state.registry
    return reads.logs(registry, actions.check_run_id(run_id), task=task, attempt=attempt)


@router.get(
    "/compare",
    response_description=(
        "{runs, params: [{name, values, present, differs}], metrics: [{name, values, "
        "deltas}], tasks: [{task_key, runs}]}"
    ),
)
def compare_runs(request: Request, run: Annotated[list[str] | None, Query()] = None) -> Any:
    """Two or more runs (``?run=ID&run=ID``) side by side: parameters (``differs``), metrics with
    deltas from the first run, and each task's state and cache hit."""
    return compare.compare(request.app.state.registry, [actions.check_run_id(r) for r in run or []])


@router.get("/pipelines", response_description="[{name, runs, latest run}]")
def pipelines(request: Request) -> Any:
    """Every pipeline with a recorded run."""
    return reads.pipelines(request.app.state.registry)


@router.get(
    "/pipelines/{name:path}",
    response_description=(
        "{name, graph, params, runs, latest, metric, metric_names, metric_history: [{id, "
        "started, state, value}]}"
    ),
)
def pipeline(request: Request, name: str, metric: str | None = None) -> Any:
    """A pipeline's graph, parameters, recent runs and a metric across its runs (``metric_history``)."""
    return reads.pipeline(request.app.state.registry, name, metric=metric or None)


@router.get("/models", response_description="[{name, versions, latest, latest_created, production}]")
def models(request: Request) -> Any:
    """Every registered model."""
    return reads.models(request.app.state.registry)


@router.get(
    "/models/{name}",
    response_description=(
        "{name, versions: [{version, stage, metrics, params, data_digest, run_id, "
        "task_key, ...}], history: [{version, action, from_stage, to_stage, time, actor, "
        "reason}]}"
    ),
)
def model(request: Request, name: str) -> Any:
    """A model's versions and stage history."""
    return reads.model(request.app.state.registry, name)


@router.get("/models/{name}/compare", response_description="{name, versions, params, metrics}")
def compare_versions(
    request: Request,
    name: str,
    version: Annotated[list[str] | None, Query(description="a version number, latest or a stage")] = None,
) -> Any:
    """Two or more versions (``?version=1&version=2``) side by side: each version's stage and its
    last change (``stage_change``: who, when, why), metrics, parameters, data digest (``other_data``
    when it differs from the first version's), and lineage (``run``: the run it was registered
    from, with the run that run resumed); ``params`` (``differs``) and ``metrics`` with deltas from
    the first version."""
    return compare.compare_versions(request.app.state.registry, name, version or [])


@router.post("/models/{name}/promote", response_description="the promoted version")
def promote(request: Request, name: str, body: Promotion) -> Any:
    """Move a version to a stage (into production, the current production version is archived)."""
    actions.check_api_write(request)
    registry = request.app.state.registry
    return actions.promote(registry, name, str(body.version), body.stage, body.reason).to_dict()


@router.post("/models/{name}/rollback", response_description="the version back in production")
def rollback(request: Request, name: str, body: Rollback) -> Any:
    """Put the previous production version back into production."""
    actions.check_api_write(request)
    return actions.rollback(request.app.state.registry, name, body.reason).to_dict()
