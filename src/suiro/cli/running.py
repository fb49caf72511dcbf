"""Commands that run pipelines: ``run``, ``resume``, ``graph``.

``run`` and ``resume`` turn SIGINT and SIGTERM into a cancel of the run (see ``suiro.cancel``):
the run is recorded ``cancelled``, the command prints how to resume it and exits 130. A second
signal exits at once, the run still recorded ``cancelled``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from suiro.cli.options import Target, Verbose
from suiro.cli.output import errors
from suiro.executors import DEFAULT_EXECUTOR, EXECUTORS

if TYPE_CHECKING:
    from rich.console import Console

    from suiro.cancel import Cancellation
    from suiro.cli.view import RunView
    from suiro.executors import Executor
    from suiro.graph import Graph
    from suiro.pipeline import Pipeline
    from suiro.results import RunResult

commands = typer.Typer()

#: The ``--executor`` choices: the executors package's names, in its order.
ExecutorName = StrEnum("ExecutorName", [(name, name) for name in EXECUTORS])


class GraphFormat(StrEnum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"


ExecutorChoice = Annotated[
    ExecutorName | None,
    typer.Option(
        "--executor", "-e", help=f"Where tasks run (default: the pipeline's choice, else {DEFAULT_EXECUTOR})."
    ),
]
Workers = Annotated[int | None, typer.Option("--workers", "-w", help="Tasks run at once.")]
DaskAddress = Annotated[
    str | None,
    typer.Option(
        "--dask-address",
        help="The Dask scheduler for -e dask (tcp://host:8786; default $SUIRO_DASK_ADDRESS, "
        "else a LocalCluster on 127.0.0.1).",
    ),
]
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


@commands.command()
def run(
    target: Target = None,
    config: Annotated[
        Path | None, typer.Option("-c", "--config", help="YAML file of parameter values.")
    ] = None,
    set_: Sets = None,
    executor: ExecutorChoice = None,
    workers: Workers = None,
    dask_address: DaskAddress = None,
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
    """Run a pipeline and show its tasks live; exit 0 only if the run succeeded (130: cancelled)."""
    from suiro import api

    with errors(verbose):
        pipe = api.load_pipeline(target)
        _run_live(
            lambda ex, view, cancel: api.run(
                pipe,
                config_file=config,
                overrides=set_ or (),
                executor=ex,
                fail_fast=fail_fast,
                fresh=fresh,
                recompute_corrupt=recompute_corrupt,
                observers=[view],
                new_records=new_records,
                cancel=cancel,
            ),
            executor=executor.value if executor else pipe.executor,
            workers=workers,
            dask_address=dask_address,
            verbose=verbose,
        )


@commands.command()
def resume(
    run_id: Annotated[str | None, typer.Argument(help="The run to resume (id, prefix, or 'last').")] = None,
    last: Annotated[
        str | None, typer.Option("--last", help="Resume the latest failed run of FILE.py[:PIPELINE].")
    ] = None,
    set_: Sets = None,
    executor: ExecutorChoice = None,
    workers: Workers = None,
    dask_address: DaskAddress = None,
    fail_fast: FailFast = False,
    recompute_corrupt: RecomputeCorrupt = False,
    verbose: Verbose = False,
) -> None:
    """Re-run only what did not succeed in a failed, crashed or cancelled run, reusing what did."""
    from suiro import api

    if run_id is None and last is None:
        print("error: give a RUN id (or 'last'), or --last FILE.py[:PIPELINE].", file=sys.stderr)
        raise typer.Exit(2)
    with errors(verbose):
        pipeline = api.load_pipeline(last) if last else None
        found = api.run_to_resume(run_id, last=last, pipeline=pipeline)
        _run_live(
            lambda ex, view, cancel: api.resume(
                found["id"],
                pipeline=pipeline,
                overrides=set_ or (),
                executor=ex,
                fail_fast=fail_fast,
                recompute_corrupt=recompute_corrupt,
                observers=[view],
                cancel=cancel,
            ),
            executor=executor.value if executor else found["executor"],
            workers=workers,
            dask_address=dask_address,
            verbose=verbose,
        )


def _run_live(
    start: Callable[[Executor, RunView, Cancellation], RunResult],
    *,
    executor: str | None,
    workers: int | None,
    dask_address: str | None = None,
    verbose: bool,
) -> None:
    """Run ``start(executor, view, cancel)`` under the live view and signal handling; print, exit.

    ``run`` and ``resume`` both go through here. The executor is made first, before the signal
    watcher and the live view start their threads: process workers are forked only from a
    process with no other thread (else they start as fresh interpreters, slower and without
    what this process loaded).

    Args:
        start: calls ``suiro.api`` with the executor, the view (its observer) and the cancel.
        executor: the name asked for (the option, the pipeline's or the resumed run's);
            None: the default executor.
        workers: the executor's slots (None: its default).
        dask_address: the scheduler of the dask executor (None: its default).
        verbose: tracebacks and every output line in the summary.
    """
    from suiro.cli.terminal import survive_closed_stdout
    from suiro.cli.view import make_view
    from suiro.executors import make_executor

    survive_closed_stdout()
    chosen = executor or DEFAULT_EXECUTOR
    if dask_address is not None and chosen != "dask":
        print("error: --dask-address is for -e dask; drop it or run with -e dask.", file=sys.stderr)
        raise typer.Exit(2)
    ex = make_executor(chosen, workers, dask_address=dask_address)
    with _cancellable() as cancel:
        view = make_view()
        cancel.on_force(lambda: view.__exit__(None, None, None))
        try:
            with view:
                result = start(ex, view, cancel)
        finally:
            ex.shutdown()
        _finish(result, view.console, cancel, verbose=verbose)


#: Held by the thread that prints the resume hint and exits: the main thread or a forced stop's.
_EXITING = threading.Lock()


@contextmanager
def _cancellable() -> Iterator[Cancellation]:
    """SIGINT/SIGTERM cancel the run for the block; a second signal exits 130 at once."""
    from suiro.cancel import Cancellation, handling_signals

    cancel = Cancellation()
    cancel.on_force(lambda: _exit_cancelled(cancel, wait=False))  # runs last: after the run is recorded

    def notice(name: str) -> None:
        run = f"run {cancel.run_id}" if cancel.run_id else "the run"
        print(
            f"cancelling {run} ({name}): stopping its tasks; send {name} again to stop at once.",
            file=sys.stderr,
        )

    with handling_signals(cancel, (signal.SIGINT, signal.SIGTERM), notice=notice):
        yield cancel


def _finish(result: RunResult, console: Console, cancel: Cancellation, *, verbose: bool) -> None:
    """Print the summary and exit: 0 succeeded, 1 failed, 130 cancelled (with the resume hint)."""
    from suiro.cli.view import render_summary
    from suiro.states import RunState

    render_summary(result, console, verbose=verbose)
    if result.state is RunState.CANCELLED:
        _exit_cancelled(cancel, wait=True)
    from suiro.deadline import leave_if_stopped

    leave_if_stopped(result, 1)
    raise typer.Exit(0 if result.ok else 1)


def _exit_cancelled(cancel: Cancellation, *, wait: bool) -> None:
    """Print how to resume the cancelled run and exit 130 now.

    ``os._exit``: the record is complete, and threads still running abandoned tasks (they cannot
    be stopped) would otherwise hold the interpreter's exit until they return. Whichever thread
    gets here first exits; the other returns (``wait=False``) or waits for that exit.
    """
    if not _EXITING.acquire(blocking=wait):
        return
    if cancel.run_id is None:
        print(f"cancelled ({cancel.reason}) before the run started.", file=sys.stderr)
    else:
        print(
            f"run {cancel.run_id} cancelled ({cancel.reason}); resume it with: suiro resume {cancel.run_id}",
            file=sys.stderr,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


@commands.command()
def graph(
    target: Target = None,
    format_: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = GraphFormat.text,
    check: Annotated[
        bool,
        typer.Option("--check", help="List tasks whose output nothing uses (a missing >>?); exit 1 if any."),
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Print a pipeline's DAG as text, Mermaid or Graphviz DOT, without running it.

    The text format ends with the steps: tasks on one step share no dependency and can run at once.
    """
    from suiro import api
    from suiro.cli.terminal import printable
    from suiro.errors import SuiroError

    with errors(verbose):
        pipe = api.load_pipeline(target)
        if pipe.dynamic:
            if check:
                raise SuiroError(
                    f"pipeline {pipe.name} is dynamic: its calls are decided as it runs, so --check has "
                    "nothing to read before a run; check a static pipeline."
                )
            text = _dynamic_graph(pipe, format_.value)
        else:
            g = pipe.graph
            if check:
                _check_graph(g)
            text = {"text": g.to_text, "mermaid": g.to_mermaid, "dot": g.to_dot}[format_.value]()
            if format_ is GraphFormat.text and g.nodes:
                text += "  can run at once (each step after the one before):\n"
                text += "".join(f"    {i}: {', '.join(keys)}\n" for i, keys in enumerate(g.steps(), 1))
    sys.stdout.write(printable(text, newlines=True))


def _dynamic_graph(pipe: Pipeline, fmt: str) -> str:
    """What a dynamic pipeline's latest run called: its graph is known only after a run."""
    from suiro import drawing, history
    from suiro.errors import SuiroError

    found = history.dynamic_graph(pipe.name)
    if found is None:
        raise SuiroError(
            f"pipeline {pipe.name} is dynamic: its graph is known after a run; "
            "run it (suiro run), then suiro graph draws what that run called."
        )
    run_id, data = found
    if fmt == "text":
        note = f"(dynamic: the calls of run {run_id})\n"
        return note + drawing.text(data, [p.name for p in pipe.params])
    return drawing.mermaid(data) if fmt == "mermaid" else drawing.dot(data)


def _check_graph(g: Graph) -> None:
    """Print each task whose output nothing uses, with the ``>>`` that would order it; exit 1 if any."""
    from suiro.cli.terminal import printable

    unused = g.unused()
    for key, after in unused.items():
        if after is not None:
            hint = f"if {after} must run after it, write {key} >> {after}; if nothing must, "
        else:
            hint = f"if a task must run after it, write {key} >> TASK; if nothing must, "
        line = (
            f"task {key}'s output is used by nothing: {hint}return its output from the pipeline or drop it."
        )
        print(printable(line))
    if not unused:
        print(printable(f"pipeline {g.name}: every task's output is used."))
    raise typer.Exit(1 if unused else 0)
