"""``suiro ui``: the web UI and JSON API over this suiro home, in a browser.

Imports only typer at the top; the server (FastAPI, uvicorn, Jinja2) loads when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from suiro.cli.options import Verbose
from suiro.cli.output import errors

commands = typer.Typer()


@commands.command()
def ui(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; 127.0.0.1 (the default) keeps it local.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8080,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="Require the token in this file (made, mode 0600, if missing)."),
    ] = None,
    insecure_allow_remote: Annotated[
        bool,
        typer.Option(
            "--insecure-allow-remote", help="Listen on a non-loopback address without a token (not advised)."
        ),
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Open the web UI: runs, a run's graph, timeline, logs and metrics, pipelines, models.

    The token comes from SUIRO_UI_TOKEN or --token-file; without one the UI is read-only and
    only this machine can reach it.
    """
    from suiro.ui.serve import serve

    with errors(verbose):
        serve(host=host, port=port, token_file=token_file, allow_remote=insecure_allow_remote)
