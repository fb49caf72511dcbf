"""``suiro server``: the scheduler, the web UI and its JSON API in one process.

Imports only typer at the top; the server and the scheduler load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from suiro.cli.options import Verbose
from suiro.cli.output import errors

commands = typer.Typer()


@commands.command()
def server(
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
    lease_ttl: Annotated[
        float,
        typer.Option(
            "--lease-ttl",
            min=1.0,
            help="Seconds a standby scheduler waits before taking over a dead one's lease.",
        ),
    ] = 30.0,
    verbose: Verbose = False,
) -> None:
    """Run the scheduler and the web UI (and its API) in one process; Ctrl-C stops both.

    As `suiro scheduler` plus `suiro ui`: deployments run on their schedules and triggers, each
    run in its own process; a second server on the same database stands by.
    """
    import logging
    import sys

    from suiro.ui.serve import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with errors(verbose):
        serve(
            host=host,
            port=port,
            token_file=token_file,
            allow_remote=insecure_allow_remote,
            scheduler=True,
            lease_ttl=lease_ttl,
        )
