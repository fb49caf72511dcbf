"""The arguments and options several commands share, as ``Annotated`` types.

Imports typer only: every command module imports this one, and none of them imports
``cli/app.py`` (the composition root imports them).
"""

from __future__ import annotations

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
