"""The ``suiro`` application: the composition root that puts the command modules together.

Each command module (``running``, ``records``, ``check``, ``models``, ``ui``) owns a ``commands`` Typer;
this module adds them to the root one, in the order ``suiro --help`` lists them. Imports point
one way: here to the commands, the commands to ``options`` and ``output``, never back (an
import-linter contract in pyproject.toml keeps it so). The command modules import only typer
at the top and load what a command needs when it runs, so ``suiro --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from suiro.cli import check, compiling, deploying, models, records, running, scheduling, server, ui
from suiro.cli.output import errors

app = typer.Typer(
    name="suiro",
    help="Machine-learning pipelines as plain Python: trace, run, retry, cache, resume.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for _module in (running, records, check, models, deploying, scheduling, compiling, ui, server):
    app.add_typer(_module.commands)


def _version(value: bool) -> None:
    if value:
        from suiro import __version__

        print(f"suiro {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Machine-learning pipelines as plain Python."""
    with errors():  # a bad SUIRO_* variable is one line before any command starts
        import suiro.faults  # noqa: F401 - reads SUIRO_FAULTPOINTS on import
        from suiro import envvar, secrets

        envvar.check()
        secrets.check()


def main() -> None:
    """Console-script entry point."""
    app()
