"""The ``check`` command: list every broken invariant of the store; exit 1 if there is one."""

from __future__ import annotations

import typer

from suiro.cli.app import Json, Verbose, app, errors, print_json


@app.command()
def check(json_: Json = False, verbose: Verbose = False) -> None:
    """Check the store: outputs present and hash-valid, one success per task, no dead running run.

    Prints one line per problem (nothing is repaired) and exits 1 if there is any, 0 if none.
    """
    from suiro import history
    from suiro.cli.terminal import printable

    with errors(verbose):
        problems = history.check()
    if json_:
        print_json(problems)
    else:
        for problem in problems:
            print(printable(f"{problem['kind']}: {problem['message']}"))
        if not problems:
            print("no problems found")
    raise typer.Exit(1 if problems else 0)
