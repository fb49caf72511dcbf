"""Deployments: named, parameterised, scheduled configurations of a pipeline, checked, then kept.

A deployment is declared in ``suiro.yaml`` (``deploy_project``), on the command line
(``suiro deploy FILE:PIPELINE --cron ...``), in Python (``deploy(...)``) or by
``@pipeline(schedule=...)`` (``deploy_scheduled``: one deployment named after each scheduled
pipeline of a file). Whatever the source, ``check`` decides *before anything is saved* that it
can run: its pipeline loads, every parameter is known and valid, its schedule parses, its
executor exists, its triggers name a parameter and a deployment that exist. A mistake is one
sentence at deploy time, never a silent miss at 2 a.m.; a batch (a project file) is saved only if
every deployment in it passes.

Owns the rows of ``suiro.store.deployments`` and the reads ``suiro deployments`` shows
(``listing``, ``details``, ``preview``). Must not decide or start runs: ``suiro.schedules``,
``suiro.triggers`` and the scheduler do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro import clock, project
from suiro.errors import DeploymentError, ParameterError, PipelineNotFoundError, ScheduleError, did_you_mean
from suiro.project import AfterTrigger, Deployment, FileTrigger
from suiro.store import deployments as rows
from suiro.store.deployments import DeploymentRow

if TYPE_CHECKING:
    from suiro.pipeline import Pipeline
    from suiro.schedules import Schedule

__all__ = [
    "Deployed",
    "Deployment",
    "check",
    "delete",
    "deploy",
    "deploy_project",
    "deploy_scheduled",
    "details",
    "get",
    "listing",
    "preview",
    "set_paused",
]


@dataclass(frozen=True)
class Deployed:
    """A deployment just saved: its row, whether it is new, and its next fire times (epoch seconds)."""

    row: DeploymentRow
    new: bool
    next_times: list[float]


def deploy(
    spec: Deployment | None = None,
    /,
    *,
    home: str | Path | None = None,
    base: str | Path | None = None,
    overrides: Sequence[str] = (),
    source: str = "python",
    save: bool = True,
    **fields: Any,
) -> Deployed:
    """Check one deployment and save it (replacing one of the same name, keeping its cursor and pause).

    Args:
        spec: the deployment; or give its fields as keywords (``name=`` (default: the pipeline's
            name), ``pipeline=`` (a target or a ``Pipeline``), ``cron=``, ``params=``, ...: see
            ``suiro.project.Deployment``; None values are left out).
        home: the suiro home (default ``$SUIRO_HOME`` or ``./.suiro``).
        base: the folder a relative pipeline file or file-trigger pattern starts from (default: cwd).
        overrides: ``name=value`` texts, as ``--set`` gives them.
        source: ``python``, ``cli`` or ``project``, recorded with it.
        save: False checks it only (``suiro deploy --check``): nothing is saved.

    Raises:
        DeploymentError: anything about it is wrong; nothing is saved then.
    """
    pipe = None
    if spec is None:
        if not isinstance(fields.get("pipeline", ""), str):  # a Pipeline object: no need to load it again
            from suiro.api import target_of

            pipe, fields["pipeline"] = fields["pipeline"], target_of(fields["pipeline"])
        if fields.get("name") is None and isinstance(fields.get("pipeline"), str):  # named after its pipeline
            try:
                pipe = pipe or _load(fields["pipeline"], Path(base) if base else None)
            except PipelineNotFoundError as exc:
                raise DeploymentError(f"{str(exc).removesuffix('.')}.") from None
            fields["name"] = pipe.name
        spec = project.deployment({k: v for k, v in fields.items() if v is not None})
    store = _store(home)
    known = set(rows.names(store.reader)) | {spec.name}
    where = Path(base) if base else None
    row = check(spec, base=where, overrides=overrides, source=source, known=known, pipe=pipe)
    return _save(store, [row], save=save)[0]


def deploy_project(
    path: str | Path | None = None, *, home: str | Path | None = None, save: bool = True
) -> list[Deployed]:
    """Check every deployment of a project file (default ``./suiro.yaml``), then save them all.

    Nothing is saved unless every deployment passes; the error names each problem with its line.
    The project's own ``notify:`` and ``smtp:`` are not copied into the deployments: runs read
    them where they start (``project.settings``). With ``save=False`` it only checks.

    Raises:
        DeploymentError: the file is missing or wrong, or a deployment in it cannot run.
    """
    found = project.load(path if path is not None else Path(project.FILENAME))
    if not found.deployments:
        raise DeploymentError(
            f"{found.label} declares no deployments; add a deployments: list (see docs/scheduling.md).",
            location=found.label,
        )
    store = _store(home)
    known = set(rows.names(store.reader)) | {d.name for d in found.deployments}
    checked, problems = [], []
    for index, spec in enumerate(found.deployments):
        try:
            row = check(spec, base=found.base, source="project", known=known, location=found.location(index))
        except DeploymentError as exc:
            problems.append(str(exc).removesuffix("."))
        else:
            checked.append(row)
    if problems:
        raise DeploymentError("; ".join(problems) + ".", location=found.label)
    return _save(store, checked, save=save)


def deploy_scheduled(source: str, *, home: str | Path | None = None, save: bool = True) -> list[Deployed]:
    """Save the default deployment of every ``@pipeline(schedule=...)`` in a file or module.

    Each is named after its pipeline and runs with the pipeline's own defaults. With
    ``save=False`` it only checks.

    Raises:
        DeploymentError: the file defines no scheduled pipeline, or one of them cannot run.
    """
    from suiro.api import pipelines_in, target_of

    try:
        found = pipelines_in(_absolute(source, None))
    except PipelineNotFoundError as exc:
        raise DeploymentError(str(exc)) from None
    scheduled = sorted((p for p in found.values() if p.schedule), key=lambda p: p.name)
    if not scheduled:
        names = ", ".join(sorted(found)) or "none"
        raise DeploymentError(
            f"{source} has no pipeline with schedule= (pipelines there: {names}); give one "
            f"with --cron or --every, as suiro deploy {source}:PIPELINE --cron '0 2 * * *'."
        )
    store = _store(home)
    known = set(rows.names(store.reader)) | {p.name for p in scheduled}
    specs = [project.deployment({"name": p.name, "pipeline": target_of(p)}) for p in scheduled]
    return _save(store, [check(spec, source="python", known=known) for spec in specs], save=save)


def check(
    spec: Deployment,
    *,
    base: Path | None = None,
    overrides: Sequence[str] = (),
    source: str = "cli",
    known: Collection[str] = (),
    location: str | None = None,
    pipe: Pipeline | None = None,
) -> DeploymentRow:
    """The row ``spec`` becomes, once everything about it is checked; nothing is saved here.

    Args:
        spec: the declared deployment.
        base: the folder relative pipeline files and file patterns start from (default: cwd).
        overrides: ``--set`` texts for its parameters.
        source: where it was declared (``python``, ``cli``, ``project``).
        known: the deployments that exist (or are deployed with it): ``after`` triggers must name one.
        location: ``suiro.yaml:LINE`` where it was declared, for messages.
        pipe: the pipeline, when the caller has it (else ``spec.pipeline`` is loaded).

    Raises:
        DeploymentError: every problem found (pipeline, parameters, schedule, triggers, sla), in
            one message naming the deployment.
    """
    prefix = f"{location}: " if location else ""

    def error(problems: list[str]) -> DeploymentError:
        text = "; ".join(p.removesuffix(".") for p in problems)
        return DeploymentError(
            f"{prefix}deployment {spec.name}: {text}.", deployment=spec.name, location=location
        )

    try:
        pipe = pipe or _load(spec.pipeline, base)
    except PipelineNotFoundError as exc:
        raise error([str(exc)]) from None
    problems: list[str] = []
    schedule = _guarded(problems, lambda: _schedule(spec, pipe))
    triggers = [_trigger(t, spec, pipe, base, known, problems) for t in spec.triggers]
    file_params = {
        t["param"]: os.path.join(t["pattern"], "file") for t in triggers if t and t["kind"] == "file"
    }
    params = _guarded(problems, lambda: _params(spec, pipe, overrides, file_params))
    sla = _guarded(problems, lambda: _sla(spec.sla))
    if problems:
        raise error(problems)
    from suiro.api import target_of

    return DeploymentRow(
        name=spec.name,
        target=target_of(pipe),
        pipeline=pipe.name,
        params=params or {},
        schedule=schedule.to_json() if schedule is not None else None,
        catchup=spec.catchup,
        max_catchup_runs=spec.max_catchup_runs,
        max_active_runs=spec.max_active_runs,
        executor=spec.executor,
        notify=spec.notify.as_dict() if spec.notify is not None else None,
        triggers=[t for t in triggers if t],
        sla=sla,
        source=source,
    )


def _guarded(problems: list[str], step: Any) -> Any:
    """``step()``, or None with its problem noted (so every problem is reported at once)."""
    try:
        return step()
    except (ParameterError, ScheduleError, DeploymentError) as exc:
        problems.append(_plain(str(exc)))
        return None


def _plain(text: str) -> str:
    """A parameter message without the source label ``value`` (the deployment's params are the source)."""
    return text.replace(", given in value;", ";").replace(" from value ", " ")


def _load(target: str, base: Path | None) -> Pipeline:
    from suiro.api import load_pipeline

    return load_pipeline(_absolute(target, base))


def _absolute(target: str, base: Path | None) -> str:
    """``target`` with a relative pipeline file made absolute against ``base`` (default: cwd)."""
    path, sep, name = target.partition(":")
    if not (path.endswith(".py") or "/" in path or os.sep in path):
        return target  # a module
    given = Path(path).expanduser()
    full = given if given.is_absolute() else (base or Path.cwd()) / given
    if not full.is_file():  # named as the user wrote it, with the folder it was looked for in
        where = "" if given.is_absolute() else f" in {(base or Path.cwd()).resolve()}"
        raise PipelineNotFoundError(f"pipeline file {path} does not exist{where}; check the path.")
    return f"{full.resolve()}{sep}{name}"


def _schedule(spec: Deployment, pipe: Pipeline) -> Schedule | None:
    from suiro.schedules import Schedule

    bounds = {"start": spec.start, "end": spec.end, "anchor": spec.anchor}
    given = {k: v for k, v in bounds.items() if v is not None}
    if spec.cron is not None or spec.every is not None:
        kind = {"cron": spec.cron} if spec.cron is not None else {"every": spec.every}
        return Schedule.parse({**kind, **given}, timezone=spec.timezone)
    if pipe.schedule:
        if "anchor" in given:
            return Schedule.parse({**_as_mapping(pipe.schedule), **given}, timezone=spec.timezone)
        return Schedule.parse(pipe.schedule, timezone=spec.timezone, start=spec.start, end=spec.end)
    if spec.timezone is not None or given:
        keys = ", ".join(k for k in ("timezone", *bounds) if getattr(spec, k) is not None)
        raise DeploymentError(
            f"sets {keys} but has no schedule, and pipeline {pipe.name} has none; add cron or every"
        )
    return None


def _as_mapping(schedule: Any) -> dict[str, Any]:
    from suiro.schedules import Schedule

    return Schedule.parse(schedule).to_json()


def _params(
    spec: Deployment, pipe: Pipeline, overrides: Sequence[str], file_params: Mapping[str, str]
) -> dict[str, Any]:
    """The parameter values to store: those given, checked against the pipeline (as its runs will be)."""
    from suiro.config import parse_override, resolve_params

    given = list(spec.params) + [parse_override(item)[0][0] for item in overrides]
    resolved = resolve_params(
        pipe.params,
        pipeline=pipe.name,
        environ={},
        values={**file_params, **spec.params},
        overrides=overrides,
    )
    kept = {name: resolved[name] for name in dict.fromkeys(given)}
    return json.loads(json.dumps(kept, default=_json_default))


def _json_default(value: Any) -> Any:
    """How a validated value is stored so its runs validate it back to the same value: a dataclass
    or pydantic model as its fields, a date or time as ISO text, anything else as its text."""
    from suiro.annotations import as_fields

    fields = as_fields(value)
    if fields is not None:
        return fields
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _trigger(
    trigger: FileTrigger | AfterTrigger,
    spec: Deployment,
    pipe: Pipeline,
    base: Path | None,
    known: Collection[str],
    problems: list[str],
) -> dict[str, Any] | None:
    """A trigger as stored (a file pattern made absolute), or None with its problem noted."""
    if isinstance(trigger, FileTrigger):
        names = [p.name for p in pipe.params]
        if trigger.param not in names:
            problems.append(
                f"its on_file trigger passes the file as parameter {trigger.param!r}"
                f"{did_you_mean(trigger.param, names)}, which pipeline {pipe.name} does not take; "
                f"name one of {', '.join(names) or 'its parameters (it has none)'} with param:"
            )
            return None
        pattern = Path(trigger.on_file).expanduser()
        pattern = pattern if pattern.is_absolute() else (base or Path.cwd()).resolve() / pattern
        return {"kind": "file", "pattern": str(pattern), "param": trigger.param}
    if trigger.after == spec.name:
        problems.append("it is triggered after itself; name another deployment in after:")
        return None
    if trigger.after not in known:
        problems.append(
            f"it is triggered after {trigger.after!r}{did_you_mean(trigger.after, known)}, which is not "
            "deployed; deploy that one first (or in the same suiro.yaml), or fix the name"
        )
        return None
    return {"kind": "after", "deployment": trigger.after, "state": trigger.state}


def _sla(value: str | float | None) -> float | None:
    if value is None:
        return None
    from suiro.schedules import parse_duration

    try:
        return parse_duration(value)
    except ScheduleError:
        raise DeploymentError(
            f"its sla {value!r} is not a positive duration; write a number and a unit such as '2h' or '30m'"
        ) from None


def _save(store: Any, checked: list[DeploymentRow], *, save: bool) -> list[Deployed]:
    """Save ``checked`` in one transaction (unless ``save`` is False); each with its row as saved,
    whether it is new, and its next three fire times."""
    from suiro.schedules import Schedule

    if save:
        new = rows.save_all(store.db, checked)
    else:
        existing = set(rows.names(store.reader))
        new = [row.name not in existing for row in checked]
    now = clock.now()
    done = []
    for row, is_new in zip(checked, new, strict=True):
        schedule = Schedule.from_json(row.schedule) if row.schedule else None
        kept = rows.get(store.reader, row.name) if save else None
        done.append(Deployed(kept or row, is_new, next_times(schedule, now, 3)))
    return done


def next_times(schedule: Schedule | None, now: float, count: int) -> list[float]:
    """The next ``count`` fire instants of ``schedule`` after ``now`` (none without a schedule)."""
    return schedule.upcoming(now, count) if schedule is not None else []


def _store(home: str | Path | None) -> Any:
    from suiro.context import run_home
    from suiro.store.home import Store

    return Store(run_home(home))


# -- reading them back: what `suiro deployments` and `suiro schedule preview` show ------------------


def get(name: str, *, home: str | Path | None = None) -> DeploymentRow:
    """The deployment ``name``.

    Raises:
        DeploymentError: there is none of that name (the closest one is offered).
    """
    return _get(_store(home).reader, name)


def _get(db: Any, name: str) -> DeploymentRow:
    row = rows.get(db, name)
    if row is None:
        known = rows.names(db)
        raise DeploymentError(
            f"no deployment named {name!r}{did_you_mean(name, known)}; "
            + ("see them with `suiro deployments`." if known else "deploy one with `suiro deploy`."),
            deployment=name,
        )
    return row


def listing(*, home: str | Path | None = None, count: int = 3) -> list[dict[str, Any]]:
    """Every deployment with its schedule described, next ``count`` fire times and latest run."""
    from suiro import crashes

    store = _store(home)
    crashes.reap(store.db)  # so a dead run's deployment shows it crashed, not running
    latest = rows.latest_states(store.reader)
    now = clock.now()
    return [_summary(row, now, count, latest.get(row.name)) for row in rows.all_deployments(store.reader)]


def details(name: str, *, home: str | Path | None = None, runs: int = 10) -> dict[str, Any]:
    """One deployment: everything it is (parameters, schedule, triggers, notify) and its latest runs."""
    from suiro import crashes

    store = _store(home)
    crashes.reap(store.db)
    row = _get(store.reader, name)
    last = [
        {**run, "logical": _zoned(run["logical_time"], run["timezone"])}
        for run in rows.last_runs(store.reader, name, runs)
    ]
    found = _summary(row, clock.now(), 5, last[0] if last else None)
    found.update(
        params=row.params,
        catchup=row.catchup,
        max_catchup_runs=row.max_catchup_runs,
        max_active_runs=row.max_active_runs,
        executor=row.executor,
        sla=row.sla,
        notify=row.notify,
        trigger_specs=row.triggers,
        cursor=row.cursor,
        created=row.created,
        updated=row.updated,
        queued=rows.queued_ticks(store.reader, name),
        runs=last,
    )
    return found


def set_paused(name: str, paused: bool, *, home: str | Path | None = None) -> DeploymentRow:
    """Pause (no new runs are decided for it; queued ones wait) or resume ``name``.

    Raises:
        DeploymentError: no such deployment.
    """
    store = _store(home)
    if not rows.set_paused(store.db, name, paused):
        _get(store.reader, name)
    return _get(store.reader, name)


def delete(name: str, *, home: str | Path | None = None) -> DeploymentRow:
    """Delete ``name`` (its runs stay in the record) and return what it was.

    Raises:
        DeploymentError: no such deployment.
    """
    store = _store(home)
    row = _get(store.reader, name)
    rows.delete(store.db, name)
    return row


def preview(
    what: str, *, count: int = 10, timezone: str | None = None, home: str | Path | None = None
) -> dict[str, Any]:
    """The next ``count`` fire times of a deployment, or of a schedule expression before deploying it.

    Args:
        what: a deployment's name, or an expression (``"0 2 * * *"``, ``"@daily"``, ``"every 6h"``).
        count: how many fire times.
        timezone: the zone an expression is read in (not for a deployment: it has its own).

    Raises:
        DeploymentError: no such deployment and not a valid expression either, a deployment
            without a schedule, or ``count`` below 1.
    """
    from suiro.schedules import Schedule

    if count < 1:
        raise DeploymentError(f"--next must be 1 or more, got {count}; ask for at least one fire time.")
    store = _store(home)
    row = rows.get(store.reader, what)
    if row is not None:
        if timezone is not None:
            zone = (row.schedule or {}).get("timezone", "UTC")
            raise DeploymentError(
                f"deployment {what} runs in its own zone ({zone}); --tz is for checking an expression "
                "before deploying it."
            )
        if row.schedule is None:
            raise DeploymentError(f"deployment {what} has no schedule; it runs only when triggered.")
        schedule = Schedule.from_json(row.schedule)
    else:
        try:
            schedule = Schedule.parse(what, timezone=timezone)
        except ScheduleError as exc:
            raise _not_found_or(what, exc, rows.names(store.reader)) from None
    now = clock.now()
    times = [fire_time(schedule, t) for t in next_times(schedule, now, count)]
    return {
        "deployment": row.name if row else None,
        "schedule": schedule.describe(),
        "timezone": schedule.timezone,
        "times": times,
    }


def _not_found_or(what: str, exc: ScheduleError, known: list[str]) -> DeploymentError:
    """A word that is no deployment and no schedule is most likely a misspelt deployment."""
    if " " not in what.strip() and not what.startswith("@"):
        return DeploymentError(
            f"no deployment named {what!r}{did_you_mean(what, known)}, and it is not a schedule either; "
            "give a deployment (see `suiro deployments`) or an expression such as '0 2 * * *'.",
            deployment=what,
        )
    return DeploymentError(f"{str(exc).removesuffix('.')}.")


def _summary(row: DeploymentRow, now: float, count: int, last: dict[str, Any] | None) -> dict[str, Any]:
    from suiro.schedules import Schedule

    schedule, problem = None, None
    try:
        schedule = Schedule.from_json(row.schedule) if row.schedule else None
    except ScheduleError as exc:  # e.g. its zone left the tz database since it was deployed
        problem = str(exc)
    described = schedule.describe() if schedule else problem or "none (runs only when triggered)"
    return {
        "name": row.name,
        "pipeline": row.pipeline,
        "target": row.target,
        "schedule": described,
        "timezone": schedule.timezone if schedule else None,
        "next": [fire_time(schedule, t) for t in next_times(schedule, now, count)] if schedule else [],
        "paused": row.paused,
        "triggers": [describe_trigger(t) for t in row.triggers],
        "source": row.source,
        "last_run": last,
    }


def fire_time(schedule: Schedule, t: float) -> dict[str, Any]:
    """A fire instant as epoch seconds, in the schedule's zone and in UTC (people check DST so)."""
    from datetime import UTC, datetime

    local = schedule.local(t)
    return {
        "at": t,
        "local": f"{local:%Y-%m-%d %H:%M %Z}",
        "utc": f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M} UTC",
    }


def _zoned(t: float | None, zone: str | None) -> str | None:
    """A run's logical time in its deployment's zone: ``2026-11-30 02:00 JST``."""
    if t is None:
        return None
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return f"{datetime.fromtimestamp(t, tz):%Y-%m-%d %H:%M %Z}"


def describe_trigger(spec: Mapping[str, Any]) -> str:
    """``on file /data/in/*.csv (as path)`` or ``after etl succeeds``, for people."""
    if spec.get("kind") == "file":
        return f"on file {spec['pattern']} (as {spec.get('param', 'path')})"
    state = spec.get("state", "success")
    verb = {"success": "succeeds", "finished": "finishes"}.get(state, f"ends {state}")
    return f"after {spec.get('deployment')} {verb}"
