"""The Typer application and what every command shares: error handling and output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="suiro",
    help="Machine-learning pipelines as plain Python: trace, run, retry, cache, resume.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Target = Annotated[
    str | None,
    typer.Argument(
        metavar="[FILE.py[:PIPELINE]]",
        help="FILE.py[:PIPELINE] or module:PIPELINE; the built-in pipeline if omitted.",
    ),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Tracebacks and task output.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def errors(verbose: bool = False) -> Iterator[None]:
    """Print a suiro error as one line and exit 2; the traceback only with --verbose."""
    from suiro.errors import SuiroError

    try:
        yield
    except SuiroError as exc:
        from suiro.cli.terminal import printable

        if verbose:
            import traceback

            print(printable(_masked(traceback.format_exc()), newlines=True), end="", file=sys.stderr)
        print(f"error: {printable(_masked(str(exc)))}", file=sys.stderr)
        raise typer.Exit(2) from None


def _masked(text: str) -> str:
    """``text`` with secrets masked (a --set value may be one); as it is if they cannot be read."""
    from suiro.errors import SuiroError
    from suiro.secrets import mask

    try:
        return mask(text)
    except SuiroError:  # the error being reported is the unreadable secrets file itself
        return text


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (bytes shown as their length)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


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
    import suiro.cli.check
    import suiro.cli.models
    import suiro.cli.records
    import suiro.cli.running  # noqa: F401 - registers the commands

    app()
