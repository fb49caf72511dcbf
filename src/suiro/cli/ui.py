"""``suiro ui``: the web UI and JSON API over this suiro home, in a browser.

Imports only typer at the top; the server (FastAPI, uvicorn, Jinja2) loads when the command runs.
"""

from __future__ import annotations

import typer

from suiro.cli.options import Host, InsecureAllowRemote, Port, TokenFile, Verbose
from suiro.cli.output import errors

commands = typer.Typer()


@commands.command()
def ui(
    host: Host = "127.0.0.1",
    port: Port = 8080,
    token_file: TokenFile = None,
    insecure_allow_remote: InsecureAllowRemote = False,
    verbose: Verbose = False,
) -> None:
    """Open the web UI: runs, a run's graph, timeline, logs and metrics, pipelines, models.

    The token comes from SUIRO_UI_TOKEN or --token-file; without one the UI is read-only and
    only this machine can reach it.
    """
    from suiro.ui.serve import serve

    with errors(verbose):
        serve(host=host, port=port, token_file=token_file, allow_remote=insecure_allow_remote)
