"""The JSON API under ``/api/v1``: what the pages show, as data (the same ``reads`` calls).

Reads return the ``reads`` functions' results unchanged. The two writes (promote, rollback)
take a small JSON body and the token in the ``Authorization`` header (``actions``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from suiro.ui import actions, reads

router = APIRouter(prefix="/api/v1")


class Promotion(BaseModel):
    """A promote request: which version, to which stage, and why."""

    version: str = Field(max_length=100)
    stage: str = Field(default="production", max_length=40)
    reason: str | None = Field(default=None, max_length=actions.MAX_REASON)


class Rollback(BaseModel):
    """A rollback request: why."""

    reason: str | None = Field(default=None, max_length=actions.MAX_REASON)


@router.get("/runs")
def runs(
    request: Request,
    pipeline: str | None = None,
    state: str | None = None,
    page: int = 1,
    deployment: str | None = None,
) -> Any:
    """One page of runs, newest first (``more`` says whether another page follows)."""
    registry = request.app.state.registry
    return reads.runs(registry, pipeline=pipeline, state=state, page=page, deployment=deployment)


@router.get("/runs/{run_id}")
def run(request: Request, run_id: str) -> Any:
    """A run: parameters, tasks, attempts with tracebacks, logs, metrics, outputs and graph."""
    return reads.run(request.app.state.registry, actions.check_run_id(run_id), log_tail=None)


@router.get("/runs/{run_id}/states")
def run_states(request: Request, run_id: str) -> Any:
    """A run's state and its tasks' states (what the live view streams)."""
    return reads.run_states(request.app.state.registry, actions.check_run_id(run_id))


@router.get("/runs/{run_id}/logs")
def logs(request: Request, run_id: str, task: str | None = None, attempt: int | None = None) -> Any:
    """Each attempt's log lines, with the error and traceback of a failed one."""
    registry = request.app.state.registry
    return reads.logs(registry, actions.check_run_id(run_id), task=task, attempt=attempt)


@router.get("/pipelines")
def pipelines(request: Request) -> Any:
    """Every pipeline with a recorded run."""
    return reads.pipelines(request.app.state.registry)


@router.get("/pipelines/{name:path}")
def pipeline(request: Request, name: str) -> Any:
    """A pipeline's graph, parameters and recent runs."""
    return reads.pipeline(request.app.state.registry, name)


@router.get("/models")
def models(request: Request) -> Any:
    """Every registered model."""
    return reads.models(request.app.state.registry)


@router.get("/models/{name}")
def model(request: Request, name: str) -> Any:
    """A model's versions and stage history."""
    return reads.model(request.app.state.registry, name)


@router.post("/models/{name}/promote")
def promote(request: Request, name: str, body: Promotion) -> Any:
    """Move a version to a stage (into production, the current production version is archived)."""
    actions.check_api_write(request)
    registry = request.app.state.registry
    return actions.promote(registry, name, body.version, body.stage, body.reason).to_dict()


@router.post("/models/{name}/rollback")
def rollback(request: Request, name: str, body: Rollback) -> Any:
    """Put the previous production version back into production."""
    actions.check_api_write(request)
    return actions.rollback(request.app.state.registry, name, body.reason).to_dict()
