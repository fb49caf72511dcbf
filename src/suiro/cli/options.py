"""The arguments and options several commands share, as ``Annotated`` types.

Imports typer only: every command module imports this one, and none of them imports
``cli/app.py`` (the composition root imports them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Target = Annotated[
    str | None,
    typer.Argument(
        metavar="[FILE.py[:PIPELINE]]",
        help="FILE.py[:PIPELINE] or module:PIPELINE; the built-in pipeline if omitted.",
    ),
]
RunId = Annotated[str, typer.Argument(help="A run id, a unique prefix or suffix of one, or 'last'.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Tracebacks and task output.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

# The web UI's and the scheduler's (``suiro ui``, ``suiro server``, ``suiro scheduler``).
Host = Annotated[
    str, typer.Option("--host", help="Address to listen on; 127.0.0.1 (the default) keeps it local.")
]
Port = Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")]
TokenFile = Annotated[
    Path | None,
    typer.Option("--token-file", help="Require the token in this file (made, mode 0600, if missing)."),
]
InsecureAllowRemote = Annotated[
    bool,
    typer.Option(
        "--insecure-allow-remote", help="Listen on a non-loopback address without a token (not advised)."
    ),
]
LeaseTtl = Annotated[
    float,
    typer.Option(
        "--lease-ttl",
        min=1.0,
        help="Seconds a standby scheduler waits before taking over a dead one's lease.",
    ),
]
