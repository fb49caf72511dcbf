"""Commands that start runs of deployments: ``scheduler``, ``trigger``, ``backfill``.

``scheduler`` runs in the foreground until Ctrl-C or SIGTERM (then it gives its lease up and
leaves running runs to finish in their own processes); ``--once`` does one pass, for cron-driven
setups and tests. The logic lives in ``suiro.scheduler``; this module parses and prints.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from suiro.cancel import sigterm_as_ctrl_c
from suiro.cli.options import LeaseTtl, Verbose
from suiro.cli.output import errors, when
from suiro.cli.terminal import survive_closed_stdout

if TYPE_CHECKING:
    from suiro.scheduler.manual import Backfill

commands = typer.Typer()

Name = Annotated[str, typer.Argument(metavar="NAME", help="The deployment's name.")]


@commands.command()
def scheduler(
    once: Annotated[
        bool, typer.Option("--once", help="Do one pass (create and launch what is due), then exit.")
    ] = False,
    lease_ttl: LeaseTtl = 30.0,
    verbose: Verbose = False,
) -> None:
    """Run deployments on their schedules and triggers, each run in its own process (Ctrl-C stops)."""
    import logging
    import threading

    from suiro.scheduler import Scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with errors(verbose):
        sched = Scheduler(ttl=lease_ttl)
        if once:
            report = sched.run_pass()
            sched.close()
            if not report.leader:
                print("another scheduler holds the lease; this pass did nothing.")
                return
            print(f"created {report.created} run(s), launched {report.launched}.")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: stop.set())
        print(
            f"scheduler started for {sched.store.home} as {sched.holder}; Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        sched.serve(stop)
        print("scheduler stopped; runs it started go on in their own processes.", file=sys.stderr)


@commands.command()
def trigger(
    name: Name,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Set a parameter for this run: name=value.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Run it now in this process and wait for it (no scheduler needed).")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Queue one run of a deployment now; the scheduler starts it (or --wait runs it here)."""
    from suiro.scheduler import manual
    from suiro.store.home import Store

    with errors(verbose):
        store = Store()
        run_id = manual.trigger(store, name, set_ or ())
        if not wait:
            waiting = manual.why_waiting(store, name)
            print(
                f"queued run {run_id} of {name}; "
                + (f"{waiting}." if waiting else "the scheduler starts it.")
            )
            return
        print(f"running {run_id} of {name} ...", flush=True)
        ok = manual.run_now(store, run_id)
        print(f"run {run_id} {'succeeded' if ok else 'did not succeed'}; see: suiro show {run_id}")
        raise typer.Exit(0 if ok else 1)


@commands.command()
def backfill(
    name: Name,
    start: Annotated[
        str, typer.Option("--start", help="First time (ISO, e.g. 2026-11-01; the schedule's zone).")
    ],
    end: Annotated[
        str, typer.Option("--end", help="Last time, included (ISO; a date alone: that whole day).")
    ],
    max_active: Annotated[int, typer.Option("--max-active", min=1, help="Runs at once.")] = 2,
    verbose: Verbose = False,
) -> None:
    """Create one run per schedule tick in a range (idempotent), then run them; rerun to resume."""
    from suiro.scheduler import manual
    from suiro.store.home import Store

    survive_closed_stdout()  # `suiro backfill ... | head`: the runs go on
    sigterm_as_ctrl_c()  # a service manager's stop: the same way out as Ctrl-C
    with errors(verbose):
        store = Store()
        plan = manual.plan_backfill(store, name, start, end)
        print(f"backfill of {name}: {plan.total} tick(s) in range, {plan.created} new.", flush=True)
        if plan.cut_at is not None:
            print(
                f"--end is in the future: ticks after now ({when(plan.cut_at)}) are left to the "
                "schedule, which runs each when its time comes.",
                flush=True,
            )
        try:
            with _progress() as show:
                done = manual.run_backfill(store, plan, max_active=max_active, on_progress=show)
        except KeyboardInterrupt:
            print(
                f"backfill interrupted; started runs go on. Resume it with: suiro backfill {name} "
                f"--start {start} --end {end}",
                file=sys.stderr,
            )
            raise typer.Exit(130) from None
        _summary(done)
        raise typer.Exit(0 if not done.unsuccessful else 1)


@contextmanager
def _progress() -> Iterator[Callable[[Backfill], None]]:
    """A Rich progress bar on a terminal; elsewhere a plain line each time the count changes."""
    if not sys.stdout.isatty():
        last = [-1]

        def line(plan: Backfill) -> None:
            if plan.ended != last[0]:
                last[0] = plan.ended
                print(f"{plan.ended}/{plan.total} ended", flush=True)

        yield line
        return
    from rich.progress import Progress

    with Progress() as progress:
        task = progress.add_task("backfill", total=None)
        yield lambda plan: progress.update(task, total=plan.total, completed=plan.ended)


def _summary(done: Backfill) -> None:
    print(f"{done.succeeded}/{done.total} succeeded.")
    for run_id, state, logical in done.unsuccessful:
        print(f"  {run_id} {state} (logical time {logical}): suiro show {run_id}, suiro resume {run_id}")
