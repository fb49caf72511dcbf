"""The ``suiro`` command: parse arguments, call ``suiro.api``, render the result.

No logic lives here: every command is one library call plus rendering. Heavy
modules are imported inside commands so ``suiro --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

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
    typer.Argument(help="FILE.py[:PIPELINE] or module:PIPELINE; the built-in pipeline if omitted."),
]


class ExecutorName(StrEnum):
    sequential = "sequential"
    threads = "threads"
    processes = "processes"


class GraphFormat(StrEnum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"


@contextmanager
def _errors(verbose: bool) -> Iterator[None]:
    """Print a suiro error as one line and exit 2; the traceback only with --verbose."""
    from suiro.errors import SuiroError

    try:
        yield
    except SuiroError as exc:
        if verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


@app.command()
def run(
    target: Target = None,
    config: Annotated[
        Path | None, typer.Option("-c", "--config", help="YAML file of parameter values.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Set a parameter: name=value (a.b=1 for dict keys).")
    ] = None,
    executor: Annotated[ExecutorName, typer.Option("--executor", "-e", help="Where tasks run.")] = (
        ExecutorName.threads
    ),
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Tasks run at once.")] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Start nothing new after a failure.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Tracebacks and task output.")] = False,
) -> None:
    """Run a pipeline and show its tasks live; exit 0 only if the run succeeded."""
    from suiro import api
    from suiro.cli.view import make_view, render_summary
    from suiro.runner import new_run_id

    with _errors(verbose):
        pipe = api.load_pipeline(target)
        view = make_view(pipe.graph)
        with view:
            result = api.run(
                pipe,
                config_file=config,
                overrides=set_ or (),
                executor=executor.value,
                workers=workers,
                fail_fast=fail_fast,
                observers=[view],
                run_id=new_run_id(),
            )
    render_summary(result, view.console, verbose=verbose)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def graph(
    target: Target = None,
    format_: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = GraphFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Print a pipeline's DAG as text, Mermaid or Graphviz DOT, without running it."""
    from suiro import api

    with _errors(verbose):
        g = api.load_pipeline(target).graph
    text = {"text": g.to_text, "mermaid": g.to_mermaid, "dot": g.to_dot}[format_.value]()
    sys.stdout.write(text)


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


def main() -> None:
    """Console-script entry point."""
    app()
