"""Commands that declare when pipelines run: ``deploy``, ``deployments`` and ``schedule preview``.

``deploy FILE:PIPELINE --cron ...`` saves one deployment, ``deploy FILE.py`` the default one of
each ``@pipeline(schedule=...)`` in it, and ``deploy`` alone the deployments of ``./suiro.yaml``
(``--file`` names another). ``deployments`` lists them (``show``, ``pause``, ``resume``,
``delete`` act on one); ``schedule preview`` prints fire times in the schedule's zone and in UTC,
of a deployment or of an expression before it is deployed. Everything is checked before anything
is saved, and a mistake is one line and exit code 2 (``cli/output.errors``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from suiro.cli.options import Json, Verbose
from suiro.cli.output import errors, print_json, table, when
from suiro.cli.terminal import console, printable

commands = typer.Typer()

Name = Annotated[str, typer.Argument(help="The deployment's name (see `suiro deployments`).")]


@commands.command()
def deploy(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE.py[:PIPELINE]]",
            help="FILE.py:PIPELINE or module:PIPELINE; FILE.py alone: every @pipeline(schedule=...) in it; "
            "nothing: the deployments of ./suiro.yaml.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Its name (default: the pipeline's).")
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help="A cron expression, e.g. '0 2 * * *' or @daily.")
    ] = None,
    every: Annotated[str | None, typer.Option("--every", help="An interval instead, e.g. 6h or 30m.")] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA time zone of the schedule (default UTC).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="No run before this (ISO date or time).")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="No run after this (ISO date or time).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="A parameter for every run: name=value.")
    ] = None,
    catchup: Annotated[
        str | None, typer.Option("--catchup", help="After downtime: latest (default), all or none.")
    ] = None,
    max_catchup: Annotated[
        int | None, typer.Option("--max-catchup", help="With --catchup all: at most this many missed runs.")
    ] = None,
    max_active: Annotated[
        int | None, typer.Option("--max-active", help="At most this many runs at once.")
    ] = None,
    executor: Annotated[
        str | None, typer.Option("--executor", "-e", help="sequential, threads or processes.")
    ] = None,
    sla: Annotated[
        str | None, typer.Option("--sla", help="Late after this long past its time, e.g. 2h.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="The project file (default ./suiro.yaml).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Check everything, save nothing (e.g. suiro.yaml in CI).")
    ] = False,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Deploy a pipeline on a schedule (or the deployments of suiro.yaml); checked before saving."""
    from suiro import deployments
    from suiro.errors import DeploymentError

    options = {
        "name": name, "cron": cron, "every": every, "timezone": tz, "start": start, "end": end,
        "catchup": catchup, "max_catchup_runs": max_catchup, "max_active_runs": max_active,
        "executor": executor, "sla": sla,
    }  # fmt: skip
    given = {key: value for key, value in options.items() if value is not None}
    with errors(verbose):
        if target is None:
            if given or set_:
                from suiro.project import FLAGS

                flag = FLAGS.get(next(iter(given), ""), "--set")
                raise DeploymentError(
                    f"{flag} needs a pipeline; give FILE.py:PIPELINE "
                    "(without one, suiro deploy reads the deployments of suiro.yaml)."
                )
            done = deployments.deploy_project(file, save=not check)
        elif file is not None:
            raise DeploymentError("give either a pipeline or --file, not both.")
        elif not given and not set_ and ":" not in target and target.endswith(".py"):
            done = deployments.deploy_scheduled(target, save=not check)
        else:
            done = [
                deployments.deploy(
                    pipeline=target, overrides=set_ or (), source="cli", save=not check, **given
                )
            ]
    if json_:
        print_json([_deployed_json(d) for d in done])
        return
    for one in done:
        _print_deployed(one, checked=check)
    if check:
        print(f"checked {len(done)} deployment(s); nothing was saved (deploy without --check to save)")
    else:
        print("Runs start when the scheduler runs: suiro scheduler")


def _deployed_json(done: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {**asdict(done.row), "new": done.new, "next": done.next_times}


def _print_deployed(done: Any, *, checked: bool = False) -> None:
    from suiro.deployments import describe_trigger
    from suiro.schedules import Schedule

    row = done.row
    verb = "deployed" if done.new else "updated"
    if checked:
        verb = "would deploy" if done.new else "would update"
    schedule = Schedule.from_json(row.schedule) if row.schedule else None
    what = schedule.describe() if schedule else "no schedule: it runs when triggered (suiro trigger NAME)"
    print(printable(f"{verb} {row.name}: {row.target}, {what}"))
    if row.params:
        print(printable(f"  params: {', '.join(f'{k}={v!r}' for k, v in row.params.items())}"))
    for spec in row.triggers:
        print(printable(f"  trigger: {describe_trigger(spec)}"))
    if schedule and done.next_times:
        shown = [_both(schedule, t) for t in done.next_times]
        print(printable(f"  next: {'; '.join(shown)}"))
    if row.paused:
        print(printable(f"  paused: resume it with suiro deployments resume {row.name}"))


def _both(schedule: Any, t: float) -> str:
    from suiro.deployments import fire_time

    return _local_and_utc(fire_time(schedule, t))


def _local_and_utc(at: dict[str, Any]) -> str:
    """``2026-12-02 02:00 JST (2026-12-01 17:00 UTC)``; once for a schedule in UTC."""
    return at["utc"] if at["local"] == at["utc"] else f"{at['local']} ({at['utc']})"


# -- suiro deployments [show|pause|resume|delete] -------------------------------------------------

group = typer.Typer(
    name="deployments",
    help="List deployments with their next fire times; show, pause, resume or delete one.",
    invoke_without_command=True,
)
commands.add_typer(group)


@group.callback(invoke_without_command=True)
def deployments_(ctx: typer.Context, json_: Json = False, verbose: Verbose = False) -> None:
    """List deployments: schedule, next three fire times (in its zone), paused, latest run."""
    if ctx.invoked_subcommand is not None:
        return
    from suiro import deployments

    with errors(verbose):
        found = deployments.listing()
    if json_:
        print_json(found)
        return
    if not found:
        print("No deployments yet; deploy one with suiro deploy FILE.py:PIPELINE --cron '0 2 * * *'.")
        return
    lines = [
        [
            d["name"],
            d["pipeline"],
            d["schedule"] + "".join(f"\n{t}" for t in d["triggers"]),
            "\n".join(t["local"] for t in d["next"]),
            "yes" if d["paused"] else "",
            _last(d["last_run"]),
        ]
        for d in found
    ]
    console().print(table(["deployment", "pipeline", "schedule", "next", "paused", "last run"], lines))


def _last(run: dict[str, Any] | None) -> str:
    return f"{run['state']} {when(run['started'])}\n{run['id']}" if run else ""


@group.command()
def show(name: Name, json_: Json = False, verbose: Verbose = False) -> None:
    """Everything about one deployment: parameters, schedule, triggers, notify, latest runs."""
    from suiro import deployments

    with errors(verbose):
        found = deployments.details(name)
    if json_:
        print_json(found)
        return
    paused = "  PAUSED" if found["paused"] else ""
    lines = [
        f"deployment {found['name']}{paused}  (from {found['source']})",
        f"pipeline: {found['target']}",
        f"schedule: {found['schedule']}",
        f"catchup: {found['catchup']}"
        + (f" (at most {found['max_catchup_runs']})" if found["max_catchup_runs"] else "")
        + f"  max active runs: {found['max_active_runs'] or 'no limit'}"
        + f"  executor: {found['executor'] or 'the pipeline choice'}",
        f"params: {found['params']}",
    ]
    lines += [f"trigger: {t}" for t in found["triggers"]]
    lines += [f"notify: {found['notify']}"] if found["notify"] else []
    lines += [f"sla: {found['sla']:g}s after its logical time"] if found["sla"] else []
    lines += [f"next: {_local_and_utc(t)}" for t in found["next"]]
    if found["paused"]:
        lines.append(f"next: none while paused (suiro deployments resume {found['name']})")
    lines += [f"queued: {found['queued']} run(s) waiting for the scheduler"] if found["queued"] else []
    if found["queued_backfill"]:  # the scheduler leaves them to the backfill, which was stopped
        lines.append(
            f"queued by a backfill: {found['queued_backfill']} run(s), started only by a backfill: run "
            f"suiro backfill {found['name']} with the same range again to run them"
        )
    out = console()
    for line in lines:
        out.print(line, markup=False, highlight=False)
    if found["runs"]:
        rows = [
            [r["id"], r["state"], r["trigger"], r["logical"], when(r["started"]), r["error"]]
            for r in found["runs"]
        ]
        out.print(table(["run", "state", "trigger", "logical time", "started", "error"], rows))


@group.command()
def pause(name: Name, verbose: Verbose = False) -> None:
    """Pause a deployment: no new runs are decided for it until it is resumed."""
    from suiro import deployments

    with errors(verbose):
        deployments.set_paused(name, True)
    print(printable(f"paused {name}; resume it with suiro deployments resume {name}"))


@group.command()
def resume(name: Name, verbose: Verbose = False) -> None:
    """Resume a paused deployment (its catch-up policy decides about the runs missed meanwhile)."""
    from suiro import deployments

    with errors(verbose):
        deployments.set_paused(name, False)
    print(printable(f"resumed {name}"))


@group.command()
def delete(name: Name, verbose: Verbose = False) -> None:
    """Delete a deployment; its runs stay in the record."""
    from suiro import deployments

    with errors(verbose):
        row = deployments.delete(name)
    print(printable(f"deleted {row.name} ({row.target}); its runs stay in the record"))


# -- suiro schedule preview -------------------------------------------------------------------------

schedule = typer.Typer(name="schedule", help="Check a schedule: its next fire times, in its zone and UTC.")
commands.add_typer(schedule)


@schedule.command()
def preview(
    what: Annotated[
        str,
        typer.Argument(
            metavar="NAME|EXPRESSION", help="A deployment, or e.g. '0 2 * * *', @daily, 'every 6h'."
        ),
    ],
    next_: Annotated[int, typer.Option("--next", "-n", help="How many fire times.")] = 10,
    tz: Annotated[
        str | None, typer.Option("--tz", help="The zone an expression is read in (default UTC).")
    ] = None,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Print the next fire times of a deployment or expression, in its zone and in UTC (check DST)."""
    from suiro import deployments

    with errors(verbose):
        found = deployments.preview(what, count=next_, timezone=tz)
    if json_:
        print_json(found)
        return
    title = f"{found['deployment']}: {found['schedule']}" if found["deployment"] else found["schedule"]
    utc = found["timezone"] == "UTC"  # one column is enough
    rows = [
        [str(i), t["utc"]] if utc else [str(i), t["local"], t["utc"]] for i, t in enumerate(found["times"], 1)
    ]
    console().print(table(["#", "UTC"] if utc else ["#", found["timezone"], "UTC"], rows, title=title))
    if not rows:
        print("It does not fire again (its end has passed).")
