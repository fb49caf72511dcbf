"""The HTML pages: runs, a run, pipelines, a pipeline, models, a model, compares, the JSON API's
documentation, and the login form.

Each page calls one ``reads`` function (the JSON API calls the same one) and renders it; the
SVG pictures come from ``dag`` and ``charts``. The only writes are a model's promote and
rollback forms, through ``actions`` (token, CSRF and body checks there).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from suiro import clock
from suiro.errors import RunNotFoundError
from suiro.ui import actions, apidocs, charts, compare, dag, filters, launches, reads
from suiro.ui.auth import COOKIE, derived, same
from suiro.ui.render import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return HTMLResponse(render(request, name, context), status_code=status)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
def runs_page(request: Request, page: filters.Page = 1):
    query = dict(request.query_params)
    data = reads.runs(request.app.state.registry, page=page, where=filters.parse(query))
    return _page(request, "runs.html", {**data, "query": filters.echo(query)})


@router.get("/runs/{run_id}")
def run_page(
    request: Request, run_id: str, tasks: str | None = None, find: str | None = None, state: str | None = None
):
    listed = None if tasks == "all" else reads.PAGE_TASKS
    try:
        run = reads.run(
            request.app.state.registry, actions.check_run_id(run_id), tasks=listed, find=find, state=state
        )
    except RunNotFoundError:  # started from this UI or queued, and not recorded yet: say so
        waiting = launches.status(request.app.state.registry, run_id)
        if waiting is None:
            raise
        return _page(request, "starting.html", {"run_id": run_id, **waiting})
    tasks = {t["task_key"]: t for t in run.pop("every_task", run["tasks"])}
    context = {
        "run": run,
        "dag": dag.svg(run["graph"], tasks, link=True),
        "gantt": charts.gantt(run, clock.now()),
        "charts": [(n, charts.metric_chart(n, s)) for n, s in charts.metric_series(run["metrics"]).items()],
        "live": run["state"] == "running",
        "find": find or "",
        "state": state or "",
        "states": reads.TASK_STATES,
    }
    return _page(request, "run.html", context)


@router.get("/compare")
def compare_page(request: Request, run: Annotated[list[str] | None, Query()] = None):
    data = compare.compare(request.app.state.registry, [actions.check_run_id(r) for r in run or []])
    return _page(request, "compare.html", data)


@router.get("/pipelines")
def pipelines_page(request: Request):
    return _page(request, "pipelines.html", {"pipelines": reads.pipelines(request.app.state.registry)})


@router.get("/pipelines/{name:path}")
def pipeline_page(request: Request, name: str, metric: str | None = None):
    data = reads.pipeline(request.app.state.registry, name, metric=metric or None)
    latest = {t["task_key"]: t for t in data["latest"]["tasks"]} if data["latest"] else {}
    chart = charts.runs_chart(data["metric"], data["metric_history"]) if data["metric"] else ""
    return _page(
        request, "pipeline.html", {**data, "dag": dag.svg(data["graph"], latest), "runs_chart": chart}
    )


@router.get("/models")
def models_page(request: Request):
    return _page(request, "models.html", {"models": reads.models(request.app.state.registry)})


@router.get("/models/{name}")
def model_page(request: Request, name: str, done: str | None = None):
    data = reads.model(request.app.state.registry, name)
    return _page(request, "model.html", {**data, "done": done, "stages": actions.STAGES})


@router.get("/models/{name}/compare")
def compare_versions_page(
    request: Request, name: str, version: Annotated[list[str] | None, Query()] = None
) -> HTMLResponse:
    data = compare.compare_versions(request.app.state.registry, name, version or [])
    return _page(request, "versions.html", data)


@router.get("/api/v1/docs")
def api_docs_page(request: Request) -> HTMLResponse:
    context = {"operations": apidocs.operations(request.app.openapi()), "code": apidocs.code}
    return _page(request, "apidocs.html", context)


@router.post("/models/{name}/promote")
async def promote_form(request: Request, name: str) -> Response:
    form = await _form(request)
    actions.check_form(request, form)
    registry = request.app.state.registry
    version = await run_in_threadpool(
        actions.promote,
        registry,
        name,
        form.get("version", ""),
        form.get("stage") or "production",
        form.get("reason"),
    )
    return RedirectResponse(f"/models/{version.name}?done=promoted", status_code=303)


@router.post("/models/{name}/rollback")
async def rollback_form(request: Request, name: str) -> Response:
    form = await _form(request)
    actions.check_form(request, form)
    version = await run_in_threadpool(actions.rollback, request.app.state.registry, name, form.get("reason"))
    return RedirectResponse(f"/models/{version.name}?done=rolled+back", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/runs"):
    return _page(request, "login.html", {"next": _local(next), "error": None})


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    token = request.app.state.token
    target = _local(form.get("next", "/runs"))
    if token is None:
        return RedirectResponse(target, status_code=303)
    if not same(form.get("token", "").strip(), token):
        context = {"next": target, "error": "That is not this UI's token."}
        return _page(request, "login.html", context, status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, derived(token, "session"), httponly=True, samesite="strict", path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    actions.check_form(request, await _form(request), write=False)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/static/live.js")
def live_script() -> Response:
    script = files("suiro.ui").joinpath("static/live.js").read_text(encoding="utf-8")
    return Response(script, media_type="text/javascript")


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (the last value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _local(target: str) -> str:
    """``target`` if it is a path on this server, else ``/runs`` (no redirect elsewhere)."""
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if local else "/runs"
