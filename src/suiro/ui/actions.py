"""The UI's writes (promote, rollback) and the checks every request that changes something passes.

A write needs a configured token (without one the UI is read-only: 403), and, when the
request proved the token with the session cookie, the form's CSRF field (a page on another
site can make a browser send the cookie, not read the field). The JSON API's writes need the
``Authorization`` header itself. Run ids in paths are checked here before any query (S3).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request

from suiro.registry import default_actor
from suiro.states import ModelStage
from suiro.ui.auth import TOKEN_VARIABLE, derived, same

if TYPE_CHECKING:
    from suiro.registry import ModelVersion, Registry

STAGES = [s.value for s in ModelStage]
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Longest reason kept for a promotion or rollback.
MAX_REASON = 1000


def check_run_id(run_id: str) -> str:
    """``run_id`` if it can be a run id (or a part of one, or ``last``): letters, digits, ``-``, ``_``.

    Raises:
        HTTPException: 400 otherwise (a path, a NUL byte, an over-long id).
    """
    if not _RUN_ID.fullmatch(run_id):
        raise HTTPException(400, "a run id has only letters, digits, '-' and '_' (at most 64).")
    return run_id


def check_form(request: Request, form: dict[str, str], *, write: bool = True) -> None:
    """Allow a form post only with a token configured and, with the cookie, the right CSRF field.

    Raises:
        HTTPException: 403 when writes are off or the CSRF field is missing or wrong.
    """
    token = request.app.state.token
    if token is None:
        if write:
            raise HTTPException(403, _READ_ONLY)
        return
    auth = request.scope.get("state", {}).get("auth")
    if auth == "cookie" and not same(form.get("csrf"), derived(token, "csrf")):
        raise HTTPException(403, "this form is stale or came from another site; reload the page and retry.")


def check_api_write(request: Request) -> None:
    """Allow a JSON API write only with the token in the ``Authorization`` header.

    Raises:
        HTTPException: 403 otherwise.
    """
    if request.app.state.token is None:
        raise HTTPException(403, _READ_ONLY)
    if request.scope.get("state", {}).get("auth") != "header":
        raise HTTPException(403, "API writes take the token in the Authorization header, not the cookie.")


def promote(registry: Registry, name: str, version: str, stage: str, reason: str | None) -> ModelVersion:
    """Move ``name``'s ``version`` to ``stage``, recorded as done through the UI."""
    selector: Any = int(version) if version.strip().isdigit() else version.strip()
    return registry.promote(name, selector, stage, reason=_reason(reason), actor=_actor())


def rollback(registry: Registry, name: str, reason: str | None) -> ModelVersion:
    """Put ``name``'s previous production version back, recorded as done through the UI."""
    return registry.rollback(name, reason=_reason(reason), actor=_actor())


def _reason(reason: str | None) -> str | None:
    return reason.strip()[:MAX_REASON] or None if reason else None


def _actor() -> str:
    return f"{default_actor()} (suiro ui)"


_READ_ONLY = (
    f"this suiro UI is read-only because it has no token; restart it with {TOKEN_VARIABLE} set"
    " or --token-file to promote models, start runs and pause deployments from here."
)
