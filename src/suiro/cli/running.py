"""Commands that run pipelines: ``run``, ``resume``, ``graph``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from suiro.cli.app import Target, Verbose, app, errors


class ExecutorName(StrEnum):
    sequential = "sequential"
    threads = "threads"
    processes = "processes"


class GraphFormat(StrEnum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"


Executor = Annotated[
    ExecutorName | None,
    typer.Option("--executor", "-e", help="Where tasks run (default: the pipeline's choice, else threads)."),
]
Workers = Annotated[int | None, typer.Option("--workers", "-w", help="Tasks run at once.")]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Start nothing new after a failure.")]
RecomputeCorrupt = Annotated[
    bool,
    typer.Option(
        "--recompute-corrupt",
        help="Re-hash every output before reusing it; rerun the task of any corrupt one.",
    ),
]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="Set a parameter: name=value (a.b=1 for dict keys).")
]


@app.command()
def run(
    target: Target = None,
    config: Annotated[
        Path | None, typer.Option("-c", "--config", help="YAML file of parameter values.")
    ] = None,
    set_: Sets = None,
    executor: Executor = None,
    workers: Workers = None,
    fail_fast: FailFast = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore cached outputs; run every task.")] = False,
    recompute_corrupt: RecomputeCorrupt = False,
    new_records: Annotated[
        bool,
        typer.Option(
            "--new-records",
            help="Start a new database although suiro.db is missing or empty beside stored outputs.",
        ),
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Run a pipeline and show its tasks live; exit 0 only if the run succeeded."""
    from suiro import api
    from suiro.cli.view import make_view, render_summary
    from suiro.executors import make_executor

    with errors(verbose):
        pipe = api.load_pipeline(target)
        # Made before the live view starts its thread: process workers can then be forked.
        ex = make_executor(executor.value if executor else pipe.executor or "threads", workers)
        view = make_view()
        try:
            with view:
                result = api.run(
                    pipe,
                    config_file=config,
                    overrides=set_ or (),
                    executor=ex,
                    fail_fast=fail_fast,
                    fresh=fresh,
                    recompute_corrupt=recompute_corrupt,
                    observers=[view],
                    new_records=new_records,
                )
        finally:
            ex.shutdown()
    render_summary(result, view.console, verbose=verbose)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def resume(
    run_id: Annotated[str | None, typer.Argument(help="The run to resume (id, prefix, or 'last').")] = None,
    last: Annotated[
        str | None, typer.Option("--last", help="Resume the latest failed run of FILE.py[:PIPELINE].")
    ] = None,
    set_: Sets = None,
    executor: Executor = None,
    workers: Workers = None,
    fail_fast: FailFast = False,
    recompute_corrupt: RecomputeCorrupt = False,
    verbose: Verbose = False,
) -> None:
    """Re-run only what did not succeed in a failed or crashed run, reusing what did."""
    from suiro import api
    from suiro.cli.view import make_view, render_summary
    from suiro.executors import make_executor

    if run_id is None and last is None:
        print("error: give a RUN id (or 'last'), or --last FILE.py[:PIPELINE].", file=sys.stderr)
        raise typer.Exit(2)
    with errors(verbose):
        pipeline = api.load_pipeline(last) if last else None
        found = api.run_to_resume(run_id, last=last, pipeline=pipeline)
        # As for `run`: made before the live view starts its thread, so workers can be forked.
        ex = make_executor(executor.value if executor else found["executor"] or "threads", workers)
        view = make_view()
        try:
            with view:
                result = api.resume(
                    found["id"],
                    pipeline=pipeline,
                    overrides=set_ or (),
                    executor=ex,
                    workers=workers,
                    fail_fast=fail_fast,
                    recompute_corrupt=recompute_corrupt,
                    observers=[view],
                )
        finally:
            ex.shutdown()
    render_summary(result, view.console, verbose=verbose)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def graph(
    target: Target = None,
    format_: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = GraphFormat.text,
    verbose: Verbose = False,
) -> None:
    """Print a pipeline's DAG as text, Mermaid or Graphviz DOT, without running it."""
    from suiro import api
    from suiro.cli.terminal import printable

    with errors(verbose):
        g = api.load_pipeline(target).graph
    text = {"text": g.to_text, "mermaid": g.to_mermaid, "dot": g.to_dot}[format_.value]()
    sys.stdout.write(printable(text, newlines=True))
