"""Deployments, and starting runs from the browser: pages and their ``/api/v1`` twins.

Pages: the deployments (``/deployments``), one deployment (``/deployments/NAME``: what
``suiro deployments show`` says, its upcoming fire times, recent runs, queued ticks), pausing
and resuming one, the trigger form (``/trigger?deployment=``, ``?pipeline=``, ``?run=``: one field
per parameter of the pipeline's signature) and the re-run and resume buttons of a run's page.
Reads go through ``reads``; every write passes ``actions.check_form`` (token, CSRF) or
``actions.check_api_write`` (token in the header), and starting a run is ``launches``' job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from suiro.errors import DeploymentError, ParameterError, RunNotFoundError, SuiroError, UnknownDeploymentError
from suiro.ui import actions, forms, launches, reads
from suiro.ui.render import render

if TYPE_CHECKING:
    from suiro.registry import Registry

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1")


# -- what a trigger form is about ----------------------------------------------------------------


@dataclass
class Trigger:
    """A trigger form: a deployment's run, a pipeline's run, or a re-run of a recorded run."""

    kind: str  # "deployment", "pipeline" or "run"
    name: str
    target: str
    pipeline: str
    values: dict[str, Any] = field(default_factory=dict)
    executor: str | None = None
    fields: list[dict[str, Any]] = field(default_factory=list)


def prepare(
    registry: Registry, *, deployment: str | None = None, pipeline: str | None = None, run: str | None = None
) -> Trigger:
    """The form for one of ``deployment``, ``pipeline`` or ``run``, its pipeline loaded now (its
    current signature is what the run will be checked against).

    Raises:
        SuiroError: nothing named, no such deployment, pipeline or run, or the pipeline no longer loads.
    """
    from suiro import api as suiro_api
    from suiro.scheduler import manual
    from suiro.store import queries

    if deployment:
        try:
            row = manual.deployment(registry.reader, deployment)
        except UnknownDeploymentError as exc:
            raise HTTPException(404, str(exc)) from None
        found = Trigger("deployment", row.name, row.target, row.pipeline, dict(row.params))
    elif pipeline or run:
        if pipeline:
            latest = queries.list_runs(registry.reader, pipeline=pipeline, limit=1)
            if not latest:
                raise RunNotFoundError(
                    f"no run of pipeline {pipeline!r} is recorded; run it once with suiro run."
                )
            run = latest[0]["id"]
        recorded = queries.get_run(registry.reader, actions.check_run_id(run or ""))
        if not recorded.get("target"):
            raise SuiroError(
                f"run {recorded['id']} was started with a pipeline object; start this one from Python."
            )
        values = recorded["params"] if not pipeline else {}
        kind, name = ("pipeline", recorded["pipeline"]) if pipeline else ("run", recorded["id"])
        found = Trigger(kind, name, recorded["target"], recorded["pipeline"], values, recorded["executor"])
    else:
        raise HTTPException(400, "say what to run: ?deployment=NAME, ?pipeline=NAME or ?run=RUN.")
    pipe = suiro_api.load_pipeline(found.target)
    found.fields = forms.fields(pipe.params, found.values)
    return found


#: Where the UI's parameter texts were typed, as its messages name it (``--set`` on the command line).
FORM = "the form"
#: Where the JSON API's parameter texts were given.
API = "params"


def submit(
    registry: Registry, trigger: Trigger, overrides: list[str], overrides_from: str = FORM
) -> launches.Started:
    """Start the run the form asks for, its values checked first as ``--set`` checks them (a bad
    one named as typed in ``overrides_from``).

    Raises:
        ParameterError: a value is unknown, missing or does not fit (nothing started).
    """
    if trigger.kind == "deployment":
        return launches.trigger_deployment(registry, trigger.name, overrides, overrides_from=overrides_from)
    from suiro import api as suiro_api
    from suiro.config import resolve_params

    pipe = suiro_api.load_pipeline(trigger.target)
    known = {p.name for p in pipe.params}
    values = {k: v for k, v in trigger.values.items() if k in known}
    resolve_params(
        pipe.params, pipeline=pipe.name, values=values, overrides=overrides, overrides_from=overrides_from
    )
    return launches.run_pipeline(
        registry, trigger.target, params=values, overrides=overrides, executor=trigger.executor
    )


# -- pages ---------------------------------------------------------------------------------------


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return HTMLResponse(render(request, name, context), status_code=status)


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _deployment(registry: Registry, name: str) -> dict[str, Any]:
    try:
        return reads.deployment(registry, name)
    except DeploymentError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/deployments")
def deployments_page(request: Request):
    return _page(request, "deployments.html", {"deployments": reads.deployments(request.app.state.registry)})


@router.get("/deployments/{name}")
def deployment_page(request: Request, name: str, done: str | None = None):
    found = _deployment(request.app.state.registry, name)
    return _page(request, "deployment.html", {"d": found, "done": done})


@router.post("/deployments/{name}/pause")
async def pause_form(request: Request, name: str) -> Response:
    actions.check_form(request, await _form(request))
    await run_in_threadpool(_set_paused, request.app.state.registry, name, True)
    return RedirectResponse(f"/deployments/{quote(name, safe='')}?done=paused", status_code=303)


@router.post("/deployments/{name}/resume")
async def resume_deployment_form(request: Request, name: str) -> Response:
    actions.check_form(request, await _form(request))
    await run_in_threadpool(_set_paused, request.app.state.registry, name, False)
    return RedirectResponse(f"/deployments/{quote(name, safe='')}?done=resumed", status_code=303)


def _set_paused(registry: Registry, name: str, paused: bool) -> dict[str, Any]:
    from suiro.store import deployments as rows

    if not rows.set_paused(registry.db, name, paused):
        _deployment(registry, name)  # 404 with the closest names
    return {"name": name, "paused": paused}


@router.get("/trigger")
def trigger_page(
    request: Request, deployment: str | None = None, pipeline: str | None = None, run: str | None = None
):
    trigger = prepare(request.app.state.registry, deployment=deployment, pipeline=pipeline, run=run)
    return _page(
        request, "trigger.html", {"t": trigger, "fields": trigger.fields, "error": None, "bad": None}
    )


@router.post("/trigger")
async def trigger_form(request: Request) -> Response:
    form = await _form(request)
    actions.check_form(request, form)
    registry = request.app.state.registry
    which = {k: form.get(k) or None for k in ("deployment", "pipeline", "run")}
    trigger = await run_in_threadpool(lambda: prepare(registry, **which))
    try:
        started = await run_in_threadpool(submit, registry, trigger, forms.overrides(trigger.fields, form))
    except ParameterError as exc:
        context = {"t": trigger, "fields": forms.with_texts(trigger.fields, form), "error": str(exc)}
        return _page(request, "trigger.html", {**context, "bad": exc.parameter}, status=400)
    return RedirectResponse(f"/runs/{started.run_id}", status_code=303)


@router.post("/runs/{run_id}/rerun")
async def rerun_form(request: Request, run_id: str) -> Response:
    actions.check_form(request, await _form(request))
    started = await run_in_threadpool(_rerun, request.app.state.registry, actions.check_run_id(run_id))
    return RedirectResponse(f"/runs/{started.run_id}", status_code=303)


@router.post("/runs/{run_id}/resume")
async def resume_form(request: Request, run_id: str) -> Response:
    actions.check_form(request, await _form(request))
    started = await run_in_threadpool(
        launches.resume, request.app.state.registry, actions.check_run_id(run_id)
    )
    return RedirectResponse(f"/runs/{started.run_id}", status_code=303)


def _rerun(registry: Registry, run_id: str) -> launches.Started:
    return submit(registry, prepare(registry, run=run_id), [])


# -- the JSON API --------------------------------------------------------------------------------


class TriggerBody(BaseModel):
    """What to run (one of ``deployment``, ``pipeline``, ``run``) and parameter texts, as ``--set``."""

    deployment: str | None = Field(default=None, max_length=200)
    pipeline: str | None = Field(default=None, max_length=500)
    run: str | None = Field(default=None, max_length=64)
    #: Each a text as ``--set`` reads it, or a JSON value (``{"seed": 7}``: it was "not a valid string")
    params: dict[str, Any] = Field(default_factory=dict, max_length=200)


@api.get("/deployments", response_description="as suiro deployments --json")
def deployments(request: Request) -> Any:
    """Every deployment: schedule in words, next three fire times, paused, triggers, latest run."""
    return reads.deployments(request.app.state.registry)


@api.get(
    "/deployments/{name}", response_description="as suiro deployments show NAME --json, plus queued_ticks"
)
def deployment(request: Request, name: str) -> Any:
    """A deployment: parameters, schedule, next fire times (zone and UTC), recent runs, queued ticks."""
    return _deployment(request.app.state.registry, name)


@api.post("/deployments/{name}/pause", response_description="{name, paused}")
def pause(request: Request, name: str) -> Any:
    """Pause a deployment: no new runs are decided for it (queued ones wait)."""
    actions.check_api_write(request)
    return _set_paused(request.app.state.registry, name, True)


@api.post("/deployments/{name}/resume", response_description="{name, paused}")
def resume_deployment(request: Request, name: str) -> Any:
    """Resume a paused deployment."""
    actions.check_api_write(request)
    return _set_paused(request.app.state.registry, name, False)


@api.post(
    "/trigger",
    response_description=(
        "{run_id, waiting}: waiting says why it does not start at once (paused; queued for the scheduler)"
    ),
)
def trigger(request: Request, body: TriggerBody) -> Any:
    """Start a run of a deployment, a pipeline (as its latest run loaded it) or again of a run, with
    parameter texts read as ``--set`` reads them; ``waiting`` says why it does not start at once."""
    actions.check_api_write(request)
    registry = request.app.state.registry
    found = prepare(registry, deployment=body.deployment, pipeline=body.pipeline, run=body.run)
    texts = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in body.params.items()]
    started = submit(registry, found, texts, API)
    return {"run_id": started.run_id, "waiting": started.waiting}


@api.post("/runs/{run_id}/rerun", response_description="{run_id} of the new run")
def rerun(request: Request, run_id: str) -> Any:
    """Run a recorded run's pipeline again with its parameters, as a new run."""
    actions.check_api_write(request)
    return {"run_id": _rerun(request.app.state.registry, actions.check_run_id(run_id)).run_id}


@api.post("/runs/{run_id}/resume", response_description="{run_id} of the new run")
def resume(request: Request, run_id: str) -> Any:
    """Resume a failed, crashed or cancelled run: only what did not succeed runs again."""
    actions.check_api_write(request)
    started = launches.resume(request.app.state.registry, actions.check_run_id(run_id))
    return {"run_id": started.run_id}
