"""Commands that read the record: runs, show, logs, metrics, artifacts, explain, gc."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from suiro.cli.app import Json, Verbose, app, errors, print_json

RunId = Annotated[str, typer.Argument(help="A run id, a unique prefix or suffix of one, or 'last'.")]


def _console() -> Any:
    """Rich console; piped output gets a wide page so ids and times are never cut."""
    import sys

    from suiro.cli.terminal import console

    return console(width=None if sys.stdout.isatty() else 200)


def _table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Any:
    """A table whose first column (a run id, a task) is never cut, so it can be copied."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(
            column,
            no_wrap=i == 0,
            min_width=max((len(str(r[0])) for r in rows), default=0) if i == 0 else None,
        )
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


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
    return row["task_key"] + (f"[{row['map_index']}]" if row["map_index"] >= 0 else "")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def _secs(value: float | None) -> str:
    return f"{value:.3f}s" if value is not None else ""


@app.command()
def runs(
    pipeline: Annotated[str | None, typer.Option("--pipeline", "-p", help="Only this pipeline.")] = None,
    state: Annotated[str | None, typer.Option("--state", "-s", help="Only runs in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs.")] = 20,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """List recent runs, newest first."""
    from suiro import history

    rows = _read(
        lambda: history.runs(pipeline=pipeline, state=state, limit=limit), verbose=verbose, json_=json_
    )
    if rows is None:
        return
    _console().print(
        _table(
            None,
            ["run", "pipeline", "state", "started", "time", "resumes"],
            [
                [
                    r["id"],
                    r["pipeline"],
                    r["state"],
                    _when(r["started"]),
                    _secs(r["duration"]),
                    r["parent_run_id"],
                ]
                for r in rows
            ],
        )
    )


@app.command()
def show(run_id: RunId, json_: Json = False, verbose: Verbose = False) -> None:
    """Show a run: its parameters and every task's state, attempts, time, errors, cache hits."""
    from suiro import history

    run = _read(lambda: history.show(run_id), verbose=verbose, json_=json_)
    if run is None:
        return
    console = _console()
    console.print(
        f"run {run['id']}  pipeline {run['pipeline']}  {run['state']}  started {_when(run['started'])}"
        f"  {_secs(run['duration'])}" + (f"  resumes {run['parent_run_id']}" if run["parent_run_id"] else "")
    )
    if run["error"]:  # why it ended so: cancelled by a signal, fenced, an unreadable output
        console.print(f"reason: {run['error']}", markup=False, highlight=False)
    console.print(f"params: {run['params']}", markup=False)
    if run["error"]:
        console.print(f"error: {run['error']}", markup=False, highlight=False)
    rows = []
    for t in run["tasks"]:
        note = ", ".join(f"{n} {s}" for s, n in t["items"].items())
        if t["map_size"] is not None:
            note = f"{t['map_size']} items" + (f": {note}" if note else "")
        if t["cached_from"]:
            note = (note + "  " if note else "") + f"from {t['cached_from']}"
        failed = [e for e in t["errors"] if e["state"] == "failed"]
        if failed:
            note = (
                note + "  " if note else ""
            ) + f"{failed[-1]['error_type']}: {failed[-1]['error_message']}"[:160]
        rows.append([t["task_key"], t["state"], t["attempts"] or "", _secs(t["duration"]), note])
    console.print(_table(None, ["task", "state", "attempts", "time", "note"], rows))
    if verbose:
        for t in run["tasks"]:
            for e in t["errors"]:
                console.print(
                    f"{t['task_key']} attempt {e['attempt']}: {e['error_type']}: {e['error_message']}",
                    markup=False,
                )


@app.command()
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
    from suiro.cli.terminal import printable

    with errors(verbose):
        attempts = history.logs(run_id, task, attempt=attempt)
    for attempt in attempts:
        item = f"[{attempt['map_index']}]" if attempt["map_index"] >= 0 else ""
        print(printable(f"== {attempt['task_key']}{item} attempt {attempt['attempt']} ({attempt['state']})"))
        for line in attempt["lines"]:
            print(printable(line))


@app.command()
def metrics(run_id: RunId, json_: Json = False, verbose: Verbose = False) -> None:
    """List the metrics a run's tasks logged."""
    from suiro import history

    rows = _read(lambda: history.metrics(run_id), verbose=verbose, json_=json_)
    if rows is None:
        return
    _console().print(
        _table(
            None,
            ["task", "name", "value", "step"],
            [
                [
                    _label(r),
                    r["name"],
                    f"{r['value']:.6g}",
                    r["step"],
                ]
                for r in rows
            ],
        )
    )


@app.command()
def artifacts(
    run_id: Annotated[str, typer.Argument(help="A run id (prefix, suffix or 'last'), or 'verify'.")],
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """List the stored outputs of a run's tasks; ``artifacts verify`` re-hashes every stored one.

    ``verify`` prints one line per missing or corrupt artifact or model and exits 1 if there is
    any (``suiro check`` also checks the records); ``run --recompute-corrupt`` redoes them.
    """
    from suiro import history

    if run_id == "verify":
        with errors(verbose):
            problems = history.verify_artifacts()
        if json_:
            print_json(problems)
        from suiro.cli.terminal import printable

        for problem in [] if json_ else problems:
            print(printable(f"{problem['kind']}: {problem['message']}"))
        if not problems and not json_:
            print("every stored artifact is intact")
        raise typer.Exit(1 if problems else 0)
    rows = _read(lambda: history.artifacts(run_id), verbose=verbose, json_=json_)
    if rows is None:
        return
    _console().print(
        _table(
            None,
            ["task", "digest", "serializer", "type", "bytes", "from"],
            [
                [
                    _label(r),
                    r["digest"][:16],
                    r["serializer"],
                    r["kind"],
                    r["size"],
                    r["cached_from"] or "",
                ]
                for r in rows
            ],
        )
    )


@app.command()
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
    from suiro.cli.terminal import printable

    print(printable(f"{result['task']} in run {result['run_id']}: {result['state']}"))
    print(printable(result["reason"]))
    if result["compared_with"]:
        print(f"(compared with run {result['compared_with']})")


@app.command()
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
