"""Commands that read the record: runs, show, logs, metrics, artifacts, explain; and gc.

``artifacts`` is a group: ``artifacts list RUN`` (``artifacts RUN`` for short) and
``artifacts verify``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from suiro.cli.options import Json, RunId, Verbose
from suiro.cli.output import cut, errors, logical, number, print_json, report_problems, seconds, table, when
from suiro.cli.terminal import console, printable
from suiro.labels import task_label

commands = typer.Typer()


#: Task rows ``suiro show`` lists without ``--all`` (``suiro.brief``: what needs attention first).
SHOW_TASKS = 200


def _read(call: Any, *, verbose: bool, json_: bool) -> Any:
    """Run one ``suiro.history`` read with one-line errors; with --json print it and return None."""
    with errors(verbose):
        data = call()
    if json_:
        print_json(data)
        return None
    return data


def _label(row: dict[str, Any]) -> str:
    """``task`` or ``task[i]`` for a mapped item."""
    return task_label(row["task_key"], row["map_index"])


@commands.command()
def runs(
    pipeline: Annotated[str | None, typer.Option("--pipeline", "-p", help="Only this pipeline.")] = None,
    state: Annotated[str | None, typer.Option("--state", "-s", help="Only runs in this state.")] = None,
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="Only runs this deployment started.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs.")] = 20,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """List recent runs, newest first (a scheduled run with its deployment and logical time)."""
    from suiro import history

    rows = _read(
        lambda: history.runs(pipeline=pipeline, state=state, deployment=deployment, limit=limit),
        verbose=verbose,
        json_=json_,
    )
    if rows is None:
        return
    columns = ["run", "pipeline", "state", "started", "time", "resumes"]
    lines = [
        [r["id"], r["pipeline"], r["state"], when(r["started"]), seconds(r["duration"]), r["parent_run_id"]]
        for r in rows
    ]
    if any(r["deployment"] for r in rows):  # who started it, for which tick
        columns[2:2] = ["deployment", "logical time"]
        for line, r in zip(lines, rows, strict=True):
            line[2:2] = [r["deployment"] or "", logical(r)]
    console().print(table(columns, lines))


@commands.command()
def show(
    run_id: RunId,
    all_: Annotated[
        bool, typer.Option("--all", help=f"List every task (past {SHOW_TASKS}, only some are).")
    ] = False,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Show a run: its parameters and every task's state, attempts, time, errors, cache hits.

    A run of more than 200 tasks lists those that did not succeed first, then the others up to
    200, and counts the rest by state (--all lists every one; --json always has them all).
    """
    from suiro import history
    from suiro.brief import brief

    run = _read(lambda: history.show(run_id), verbose=verbose, json_=json_)
    if run is None:
        return
    out = console()
    resumes = f"  resumes {run['parent_run_id']}" if run["parent_run_id"] else ""
    out.print(
        f"run {run['id']}  pipeline {run['pipeline']}  {run['state']}  started {when(run['started'])}"
        f"  {seconds(run['duration'])}{resumes}"
    )
    if about := _about(run):  # what the pipeline says it is, as `suiro graph` prints it
        out.print(f"about: {about}", markup=False, highlight=False)
    if run["error"]:  # a failed run's first error; why a run crashed, was fenced or was cancelled
        label = "reason" if run["state"] == "cancelled" else "error"
        out.print(f"{label}: {run['error']}", markup=False, highlight=False)
    if run.get("deployment"):  # the tick it stands for and the data it covers
        start = logical({**run, "logical_time": run["interval_start"]}) or "-"
        out.print(
            f"deployment: {run['deployment']}  ({run['trigger']})  logical time: {logical(run)}"
            f"  interval: {start} to {logical({**run, 'logical_time': run['interval_end']}) or '-'}",
            markup=False,
            highlight=False,
        )
    out.print(f"params: {run['params']}", markup=False)
    rows = []
    shown, left = brief(run["tasks"], len(run["tasks"]) if all_ else SHOW_TASKS)
    for t in shown:
        note = ", ".join(f"{n} {s}" for s, n in t["items"].items())
        if t["map_size"] is not None:
            note = f"{t['map_size']} items" + (f": {note}" if note else "")
        if t["cached_from"]:
            note = (note + "  " if note else "") + f"from {t['cached_from']}"
        failed = [e for e in t["errors"] if e["state"] == "failed"]
        if t["state"] == "retrying" and t["errors"] and t["errors"][-1]["error_type"] == _POKE:
            note = (note + "  " if note else "") + cut(f"waiting: {t['errors'][-1]['error_message']}")
        elif failed:
            note = (note + "  " if note else "") + cut(
                f"{failed[-1]['error_type']}: {failed[-1]['error_message']}"
            )
        state = f"{t['state']} (tolerated)" if t.get("tolerated") else t["state"]
        rows.append([t["task_key"], state, t["attempts"] or "", seconds(t["duration"]), note])
    out.print(table(["task", "state", "attempts", "time", "note"], rows))
    if left:
        counts = ", ".join(f"{n:,} {state}" for state, n in left.items())
        out.print(
            f"{sum(left.values()):,} more tasks not listed ({counts}); "
            f"`suiro show {run['id']} --all` lists every one.",
            markup=False,
            highlight=False,
        )
    if run.get("deliveries"):  # who was told, and whether it reached them
        out.print("notifications:")
        out.print(_deliveries(run["deliveries"], with_run=False))
    if verbose:
        for t in run["tasks"]:
            for e in t["errors"]:
                out.print(
                    f"{t['task_key']} attempt {e['attempt']}: {e['error_type']}: {e['error_message']}",
                    markup=False,
                    highlight=False,
                )
                if e.get("traceback"):
                    print(printable(e["traceback"].rstrip("\n"), newlines=True))


#: The error type a sensor's poke that found nothing is recorded with (``suiro.errors.SensorNotReady``).
_POKE = "suiro.errors.SensorNotReady"


def _deliveries(rows: list[dict[str, Any]], *, with_run: bool) -> Any:
    columns = ["event", "channel", "to", "state", "tries", "when", "error"]
    lines = [
        [
            r["event"],
            r["channel"],
            r["target"],
            r["state"],
            r["attempts"],
            when(r["updated"]),
            r["error"] or "",
        ]
        for r in rows
    ]
    if with_run:
        columns.insert(0, "run")
        for line, r in zip(lines, rows, strict=True):
            line.insert(0, r["run_id"])
    return table(columns, lines)


@commands.command()
def notifications(
    run_id: Annotated[str | None, typer.Argument(help="Only this run's (id, prefix or last).")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that failed.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many.")] = 20,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """List notifications sent (or tried) about runs, newest first, and hooks that raised."""
    from suiro import history

    rows = _read(
        lambda: history.notifications(run_id=run_id, state="failed" if failed else None, limit=limit),
        verbose=verbose,
        json_=json_,
    )
    if rows is None:
        return
    if not rows:
        console().print("no notifications" + (" failed" if failed else ""), markup=False)
        return
    console().print(_deliveries(rows, with_run=True))


def _about(run: dict[str, Any]) -> str:
    """``description (owner: x; tags: a, b)`` from what the run's pipeline has of the three."""
    extra = [f"owner: {run['owner']}"] if run.get("owner") else []
    extra += [f"tags: {', '.join(run['tags'])}"] if run.get("tags") else []
    if not run.get("description"):
        return "; ".join(extra)
    return run["description"] + (f" ({'; '.join(extra)})" if extra else "")


@commands.command()
def logs(
    run_id: RunId,
    task: Annotated[str | None, typer.Argument(help="Only this task.")] = None,
    attempt: Annotated[
        int | None, typer.Option("--attempt", "-a", help="Only attempt N (1: the first).")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Print the captured output of a run's tasks, attempt by attempt."""
    from suiro import history

    with errors(verbose):
        attempts = history.logs(run_id, task, attempt=attempt)
    told = set()
    for attempt in attempts:
        if "cached_in" in attempt and (attempt["cached_as"], attempt["run_id"]) not in told:  # whose logs
            told.add((attempt["cached_as"], attempt["run_id"]))
            reused = task_label(task, attempt["cached_as"])
            print(
                printable(
                    f"{reused} was a cache hit in run {attempt['cached_in']}; its logs are those of"
                    f" run {attempt['run_id']}, which ran it:"
                )
            )
        label = task_label(attempt["task_key"], attempt["map_index"])
        print(printable(f"== {label} attempt {attempt['attempt']} ({attempt['state']})"))
        for line in attempt["lines"]:
            print(printable(line))
        if attempt.get("traceback"):  # how a failed attempt ended: the log file has only what it printed
            print(printable(attempt["traceback"].rstrip("\n"), newlines=True))


@commands.command()
def metrics(run_id: RunId, json_: Json = False, verbose: Verbose = False) -> None:
    """List the metrics a run's tasks logged."""
    from suiro import history

    rows = _read(lambda: history.metrics(run_id), verbose=verbose, json_=json_)
    if rows is None:
        return
    lines = [[_label(r), r["name"], number(r["value"], missing="nan"), r["step"]] for r in rows]
    if any(r["cached_from"] for r in rows):  # a task reused whole: its metrics are its source run's
        lines = [[*line, r["cached_from"] or ""] for line, r in zip(lines, rows, strict=True)]
        console().print(table(["task", "name", "value", "step", "cached from"], lines))
    else:
        console().print(table(["task", "name", "value", "step"], lines))


class _RunOrCommand(TyperGroup):
    """``artifacts RUN`` is short for ``artifacts list RUN``; ``artifacts verify`` is a sub-command.

    The first argument that is not an option picks the sub-command when it names one, wherever
    it stands (``artifacts --json verify``); otherwise every argument goes to ``list`` (a run id
    is ``YYYYMMDD-HHMMSS-xxxxxx``, a part of one, or ``last``: never a sub-command's name).
    Only ``--help`` alone, or no argument, is the group's own (its help).
    """

    default = "list"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = next((i for i, arg in enumerate(args) if not arg.startswith("-")), None)
        if first is not None and args[first] in self.commands:
            args = [args[first], *args[:first], *args[first + 1 :]]
        elif first is not None or (args and "--help" not in args):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


artifacts = typer.Typer(
    name="artifacts",
    cls=_RunOrCommand,
    help="A run's stored outputs (artifacts RUN), or a check of every stored one (artifacts verify).",
    no_args_is_help=True,
)
commands.add_typer(artifacts)


@artifacts.command("list")
def list_(run_id: RunId, json_: Json = False, verbose: Verbose = False) -> None:
    """List the stored outputs of a run's tasks (``suiro artifacts RUN`` for short)."""
    from suiro import history

    rows = _read(lambda: history.artifacts(run_id), verbose=verbose, json_=json_)
    if rows is None:
        return
    columns = ["task", "digest", "serializer", "type", "bytes", "from"]
    lines = [
        [_label(r), r["digest"][:16], r["serializer"], r["kind"], r["size"], r["cached_from"] or ""]
        for r in rows
    ]
    console().print(table(columns, lines))


@artifacts.command()
def verify(json_: Json = False, verbose: Verbose = False) -> None:
    """Re-hash every stored artifact and model; one line per missing or corrupt one.

    Exits 1 if there is any (``suiro check`` also checks the records); ``run
    --recompute-corrupt`` redoes them.
    """
    from suiro import history

    with errors(verbose):
        problems = history.verify_artifacts()
    report_problems(problems, as_json=json_, none_found="every stored artifact is intact")


@commands.command()
def explain(
    run_id: RunId,
    task: Annotated[str, typer.Argument(help="The task to explain.")],
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Say why a task was or was not a cache hit, and what changed since its last run."""
    from suiro import history

    result = _read(lambda: history.explain(run_id, task), verbose=verbose, json_=json_)
    if result is None:
        return
    print(printable(f"{result['task']} in run {result['run_id']}: {result['state']}"))
    print(printable(result["reason"]))
    if result["compared_with"]:
        print(f"(compared with run {result['compared_with']})")


@commands.command()
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    min_age: Annotated[float, typer.Option("--min-age", help="Keep objects younger than this (s).")] = 600.0,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Remove stored artifacts that no run refers to."""
    from suiro import history

    result = _read(lambda: history.gc(dry_run=dry_run, min_age=min_age), verbose=verbose, json_=json_)
    if result is None:
        return
    verb = "would remove" if dry_run else "removed"
    for digest in result["removed"]:
        print(digest)
    count = len(result["removed"])
    print(f"{verb} {count} artifact{'' if count == 1 else 's'} ({result['bytes']} bytes)")
