"""Who may use the UI: the token, where it comes from, how a request proves it has it (S1, S2).

With no token configured the UI is for this machine only (``check_bind`` refuses any other
address) and read-only: the write routes answer 403. With a token (``SUIRO_UI_TOKEN`` or a
``0600`` token file) every route but ``EXEMPT`` needs it, as ``Authorization: Bearer <token>``
or as the session cookie the login form sets; never from a query string (URLs end up in logs
and browser history). Comparisons are constant-time (``hmac.compare_digest``). The cookie holds
a value derived from the token, not the token; forms carry a CSRF value derived the same way,
checked on every write made with the cookie (a header cannot be sent cross-site without CORS).
The check is middleware, so a new route is protected without anyone remembering to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from suiro.errors import UiError

#: The environment variable holding the token.
TOKEN_VARIABLE = "SUIRO_UI_TOKEN"
#: The flag that allows a non-loopback address without a token.
INSECURE_FLAG = "--insecure-allow-remote"
#: Paths anyone may request: the health check and the login form (which checks the token itself).
EXEMPT = frozenset({"/health", "/login"})
#: The session cookie's name.
COOKIE = "suiro_session"
#: Shortest token accepted: a guessable token is no protection.
MIN_TOKEN_LENGTH = 16


def load_token(token_file: Path | None = None) -> str | None:
    """The token: ``$SUIRO_UI_TOKEN``, else the token file (made, ``0600``, if missing), else None.

    Raises:
        UiError: the token is too short, or the token file can be read by other users or is empty.
    """
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    where = TOKEN_VARIABLE
    if not token and token_file is not None:
        token, where = _read_token_file(token_file), str(token_file)
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise UiError(
            f"the token in {where} is shorter than {MIN_TOKEN_LENGTH} characters; use a long random one"
            ' (python -c "import secrets; print(secrets.token_urlsafe(32))").'
        )
    return token


def _read_token_file(path: Path) -> str:
    """The token in ``path``; a new random one written there (mode 0600) if the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        return token
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UiError(
            f"the token file {path} can be read by other users (mode {mode:04o}); run: chmod 600 {path}"
        )
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise UiError(f"the token file {path} is empty; write a long random token into it, or delete it.")
    return token


def check_bind(host: str, token: str | None, *, allow_remote: bool = False) -> None:
    """Refuse to listen on an address other machines can reach when no token protects it (S1).

    Raises:
        UiError: ``host`` is not a loopback address, no token is set and ``allow_remote`` is False.
    """
    from suiro.server.serving import is_loopback

    if token is None and not allow_remote and not is_loopback(host):
        raise UiError(
            f"suiro ui will not listen on {host} without a token: anyone who can reach this machine could"
            f" read every run; set {TOKEN_VARIABLE} or --token-file, or pass {INSECURE_FLAG}."
        )


def derived(token: str, purpose: str) -> str:
    """A value derived from the token for one purpose (the cookie, the CSRF field)."""
    return hmac.new(token.encode(), f"suiro-ui-{purpose}".encode(), hashlib.sha256).hexdigest()


def same(given: str | None, expected: str) -> bool:
    """Constant-time equality of a presented secret and the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class TokenGuard:
    """ASGI middleware: every request but ``EXEMPT`` paths must carry the token (when one is set).

    Sets ``scope["state"]["auth"]`` to ``"header"``, ``"cookie"`` or ``"none"`` (no token
    configured), which the write routes read to decide whether a CSRF field is needed.
    """

    def __init__(self, app: Any, token: str | None):
        self.app = app
        self.token = token
        self.session = derived(token, "session") if token else None

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if self.token is None:
            state["auth"] = "none"
        elif (how := self._how(scope)) is not None:
            state["auth"] = how
        elif scope["path"] not in EXEMPT:
            await self._refuse(scope, send)
            return
        await self.app(scope, receive, send)

    def _how(self, scope: dict[str, Any]) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and same(bearer[7:].strip(), self.token or ""):
            return "header"
        if same(_cookie(headers.get("cookie", ""), COOKIE), self.session or ""):
            return "cookie"
        return None

    async def _refuse(self, scope: dict[str, Any], send: Callable) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        if scope.get("method") == "GET" and "text/html" in headers.get("accept", ""):
            location = "/login?next=" + quote(scope["path"], safe="/")
            await _send(send, 303, b"", [(b"location", location.encode())])
            return
        body = json.dumps({"detail": "this suiro UI needs its token: log in, or send Authorization: Bearer"})
        await _send(send, 401, body.encode(), [(b"www-authenticate", b"Bearer")], "application/json")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _send(
    send: Callable, status: int, body: bytes, headers: list[tuple[bytes, bytes]], kind: str = "text/plain"
) -> None:
    head = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
