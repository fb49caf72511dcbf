"""``suiro server``: the scheduler, the web UI and its JSON API in one process.

Imports only typer at the top; the server and the scheduler load when the command runs.
"""

from __future__ import annotations

import typer

from suiro.cli.options import Host, InsecureAllowRemote, LeaseTtl, Port, TokenFile, Verbose
from suiro.cli.output import errors

commands = typer.Typer()


@commands.command()
def server(
    host: Host = "127.0.0.1",
    port: Port = 8080,
    token_file: TokenFile = None,
    insecure_allow_remote: InsecureAllowRemote = False,
    lease_ttl: LeaseTtl = 30.0,
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
