"""The UI's FastAPI app: routes from ``pages``, ``jsonapi`` and ``live``, behind ``auth.TokenGuard``.

Owns what every response shares: the middleware order (token first, so an unauthenticated
body is never read; then the body limit, S8), the security headers (no framing, no inline
script, no referrer), and how a suiro error becomes a response (404 for an unknown run or
model, 400 for a bad request; JSON under ``/api/``, a page elsewhere). There is no Swagger
page (it loads its script from a CDN): ``/api/v1/docs`` is our own page, rendered on the server
from the OpenAPI description (``apidocs``), which is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from suiro.errors import ModelNotFoundError, RunNotFoundError, SuiroError
from suiro.registry import Registry
from suiro.server.serving import BodyLimit
from suiro.ui import automation, jsonapi, live, pages
from suiro.ui.auth import TokenGuard
from suiro.ui.render import render

#: Request bodies over this are refused with 413: the UI's forms and JSON bodies are small.
MAX_BODY_BYTES = 64 * 1024
#: Sent with every response.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def create_app(
    home: str | Path | None = None,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The UI over the suiro home ``home`` (default ``$SUIRO_HOME``; ``$SUIRO_DB`` for the database).

    Args:
        token: required on every route but ``/health`` and ``/login`` when set; without it the
            UI is read-only (promote and rollback answer 403).
        allowed_hosts: the only ``Host`` headers answered (others get 400). ``serve`` passes the
            loopback names when it listens on loopback, so a web page cannot read the UI through
            a name it rebinds to 127.0.0.1 (DNS rebinding), which matters most without a token.
    """
    app = FastAPI(title="suiro", docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json")
    app.state.registry = Registry(home)
    app.state.token = token
    app.include_router(pages.router)
    app.include_router(live.router)
    app.include_router(jsonapi.router)
    app.include_router(automation.router)
    app.include_router(automation.api)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_exception_handler(SuiroError, _error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, advice="send a shorter reason or fewer values")
    app.add_middleware(TokenGuard, token=token)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(_Headers)
    return app


async def _error(request: Request, exc: Exception) -> Response:
    status = 404 if isinstance(exc, RunNotFoundError | ModelNotFoundError) else 400
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": str(exc)}, status_code=status)
    html = render(request, "error.html", {"status": status, "message": str(exc)})
    return HTMLResponse(html, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    """A refusal (400, 403, ...) as JSON under ``/api/``, as a page elsewhere (a form's answer)."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    html = render(request, "error.html", {"status": exc.status_code, "message": exc.detail})
    return HTMLResponse(html, status_code=exc.status_code, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    """A request whose parameters or body FastAPI could not read (``?page=x``, ``?tasks=0``): one
    sentence naming each bad value — JSON with status 422 under ``/api/`` (``errors`` keeps
    FastAPI's list for programs), a page with status 400 elsewhere, not a JSON dump in the browser.
    """
    assert isinstance(exc, RequestValidationError)
    errors = _one_per_value(list(exc.errors()))
    message = "; ".join(_problem(error) for error in errors[:_PROBLEMS])
    if len(errors) > _PROBLEMS:
        message += f"; and {len(errors) - _PROBLEMS} more"
    if request.url.path.startswith("/api/"):
        listed = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors]
        return JSONResponse({"detail": message + ".", "errors": listed}, status_code=422)
    html = render(request, "error.html", {"status": 400, "message": message + "."})
    return HTMLResponse(html, status_code=400)


#: Bad values named in one refusal; more are counted.
_PROBLEMS = 5
#: The names pydantic gives the members of a union in an error's location (``constrained-str``).
_MEMBER = re.compile(r"^(constrained-\w+|str|int|float|bool|list\[.*\]|dict\[.*\]|function-\w+\[.*\])$")


def _one_per_value(errors: list[Any]) -> list[Any]:
    """One error per bad value: a union fails once per member (``version``: a text of at most 100
    characters, or a number), each under the member's name; a failed constraint says most."""
    chosen: dict[tuple[Any, ...], Any] = {}
    for error in errors:
        loc = tuple(p for p in error.get("loc", ()) if not (isinstance(p, str) and _MEMBER.match(p)))
        error = {**error, "loc": loc}
        known = chosen.get(loc)
        if known is None or (known["type"].endswith("_type") and not error["type"].endswith("_type")):
            chosen[loc] = error
    return list(chosen.values())


def _problem(error: Any) -> str:
    """One bad value of a request, e.g. ``query parameter page: Input should be a valid integer
    (got 'x')``; what was sent is cut to 40 characters (it may be anything)."""
    where, *name = [str(part) for part in error.get("loc", ())] or ["request"]
    what = f"{where} parameter {'.'.join(name)}" if where in ("query", "path") else " ".join([where, *name])
    text = f"{what}: {error.get('msg', 'not valid')}"
    sent = error.get("input")
    if where in ("query", "path") and isinstance(sent, str):
        text += f" (got {sent if len(sent) <= 40 else sent[:37] + '...'!r})"
    return text


class _Headers:
    """ASGI middleware adding ``SECURITY_HEADERS`` to every response."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)
