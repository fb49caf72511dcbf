"""Upkeep of the store: ``check`` lists every broken invariant, ``backup`` copies the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from suiro.cli.options import Json, Verbose
from suiro.cli.output import errors, print_json, report_problems

commands = typer.Typer()


@commands.command()
def check(json_: Json = False, verbose: Verbose = False) -> None:
    """Check the store: outputs present and hash-valid, one success per task, no dead running run.

    Prints one line per problem (nothing is repaired) and exits 1 if there is any, 0 if none.
    """
    from suiro import history

    with errors(verbose):
        problems = history.check()
    report_problems(problems, as_json=json_, none_found="no problems found")


@commands.command()
def backup(
    dest: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DEST]", help="A new file, or a folder; default <home>/backups/suiro-<time>.db."
        ),
    ] = None,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Copy the database with SQLite's backup API (safe while runs write) and say how to restore it.

    The copy is checked with PRAGMA integrity_check; a damaged database is not backed up.
    """
    from suiro import history

    with errors(verbose):
        made = history.backup(dest)
    if json_:
        print_json(made)
        return
    source = made["source"]
    print(
        f"backed up {source} to {made['path']} ({made['runs']} run{'' if made['runs'] == 1 else 's'}, "
        f"{made['size'] / 2**20:.1f} MiB, "
        f"integrity ok, {made['seconds']:.2f} s)"
    )
    print(
        f"to restore it: stop every suiro process, move {source}, {source}-wal and {source}-shm "
        f"aside, then copy {made['path']} to {source}"
    )
