"""Run the UI with uvicorn: check the address and token first, bind, print the address, serve.

The socket is bound here, before uvicorn starts, so a port in use is one sentence (not a log
line after a printed address that never answers), and port 0 picks a free port that is then
printed (the tests use that).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from suiro.errors import UiError
from suiro.ui.auth import TOKEN_VARIABLE, check_bind, load_token


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token_file: Path | None = None,
    allow_remote: bool = False,
    home: Path | None = None,
    scheduler: bool = False,
    lease_ttl: float = 30.0,
) -> None:
    """Serve the UI until interrupted; with ``scheduler``, run the scheduler beside it (``suiro
    server``: ``background.SchedulerThread``), stopped with the web server by Ctrl-C or SIGTERM.

    Raises:
        UiError: a non-loopback ``host`` without a token, a bad token or token file, or the
            address cannot be bound.
    """
    token = load_token(token_file)
    check_bind(host, token, allow_remote=allow_remote)
    sock = _bind(host, port)
    import uvicorn

    from suiro.ui.app import create_app

    app = create_app(home, token=token, allowed_hosts=loopback_hosts(host))
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if token is None:
        note = f"read-only; set {TOKEN_VARIABLE} or --token-file to start runs and promote models from it"
    else:
        note = "log in with the token" + (f" in {token_file}" if token_file else f" in {TOKEN_VARIABLE}")
    if token is None and allow_remote and host not in ("127.0.0.1", "::1", "localhost"):
        print(f"warning: anyone who can reach {host} can read every run (no token).", file=sys.stderr)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    banner = f"http://{shown}:{bound}/ ({note})"
    if scheduler:
        from suiro.ui.background import serve_beside

        serve_beside(uvicorn.Server(config), sock, banner=banner, home=home, lease_ttl=lease_ttl)
        return
    print(f"suiro ui on {banner}; Ctrl-C stops it", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def loopback_hosts(host: str) -> list[str] | None:
    """The ``Host`` names a UI listening on loopback ``host`` answers to; None (any) elsewhere."""
    from suiro.server.serving import is_loopback

    if not is_loopback(host):
        return None
    return sorted({host.strip("[]"), "127.0.0.1", "localhost", "::1", "[::1]"})


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UiError(
            f"suiro ui cannot listen on {host}:{port} ({exc.strerror}); pick another port with --port."
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
