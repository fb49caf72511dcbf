"""Declaring deployments: each checked whole, then saved (see the package's docstring).

``check`` decides *before anything is saved* that a deployment can run: its pipeline loads, every
parameter is known and valid (resolved as its runs will resolve it), its schedule parses, its
executor exists, its triggers name a parameter and a deployment that exist, its sla is a
duration. ``deploy``, ``deploy_project`` and ``deploy_scheduled`` check, then save in one
transaction (a project file all or nothing). Must not decide or start runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
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

__all__ = ["Deployed", "Deployment", "check", "deploy", "deploy_project", "deploy_scheduled", "next_times"]


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
        given = {k: v for k, v in fields.items() if v is not None}
        spec = project.deployment(given, flags=source == "cli")
    store = store_for(home)
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
    store = store_for(home)
    known = set(rows.names(store.reader)) | {d.name for d in found.deployments}
    checked, problems = [], []
    for index, spec in enumerate(found.deployments):
        try:
            row = check(
                spec, base=found.base, source="project", known=known, locate=partial(found.location, index)
            )
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
    store = store_for(home)
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
    locate: Callable[..., str] | None = None,
    pipe: Pipeline | None = None,
) -> DeploymentRow:
    """The row ``spec`` becomes, once everything about it is checked; nothing is saved here.

    Args:
        spec: the declared deployment.
        base: the folder relative pipeline files and file patterns start from (default: cwd).
        overrides: ``--set`` texts for its parameters.
        source: where it was declared (``python``, ``cli``, ``project``).
        known: the deployments that exist (or are deployed with it): ``after`` triggers must name one.
        locate: ``suiro.yaml:LINE`` of one of its keys (``locate("params", "threshold")``), when
            it was declared in a file: each problem names the line of the key that is wrong.
        pipe: the pipeline, when the caller has it (else ``spec.pipeline`` is loaded).

    Raises:
        DeploymentError: every problem found (pipeline, parameters, schedule, triggers, sla), in
            one message naming the deployment.
    """

    def error(problems: list[tuple[tuple[Any, ...], str]]) -> DeploymentError:
        if locate is None:
            text = "; ".join(p.removesuffix(".") for _, p in problems)
            return DeploymentError(f"deployment {spec.name}: {text}.", deployment=spec.name)
        text = "; ".join(
            f"{locate(*key)}: deployment {spec.name}: {p.removesuffix('.')}" for key, p in problems
        )
        return DeploymentError(f"{text}.", deployment=spec.name, location=locate(*problems[0][0]))

    try:
        pipe = pipe or _load(spec.pipeline, base)
    except PipelineNotFoundError as exc:
        raise error([(("pipeline",), str(exc))]) from None
    problems: list[tuple[tuple[Any, ...], str]] = []
    schedule = _guarded(problems, lambda: _schedule(spec, pipe), lambda exc: _schedule_key(spec, exc))
    triggers = [_trigger(t, spec, pipe, base, known, problems, i) for i, t in enumerate(spec.triggers)]
    file_params = {
        t["param"]: os.path.join(t["pattern"], "file") for t in triggers if t and t["kind"] == "file"
    }
    params = _guarded(
        problems, lambda: _params(spec, pipe, overrides, file_params), lambda exc: _param_key(spec, exc)
    )
    sla = _guarded(problems, lambda: _sla(spec.sla), lambda _: ("sla",)) if spec.sla is not None else pipe.sla
    notify = _guarded(problems, lambda: _notify(spec), lambda _: ("notify",))
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
        notify=notify,
        triggers=[t for t in triggers if t],
        sla=sla,
        source=source,
    )


def _schedule_key(spec: Deployment, exc: Exception) -> tuple[Any, ...]:
    """The key a schedule problem is about: the one holding the value ``ScheduleError.spec`` names."""
    wrong = getattr(exc, "spec", None)
    keys = ("cron", "every", "timezone", "start", "end", "anchor")
    for key in keys:
        if getattr(spec, key) is not None and getattr(spec, key) == wrong:
            return (key,)
    return next(((key,) for key in keys if getattr(spec, key) is not None), ())


def _param_key(spec: Deployment, exc: Exception) -> tuple[Any, ...]:
    """The ``params`` key a parameter problem is about (``params`` itself when it was not given)."""
    name = str(getattr(exc, "parameter", None) or "").split(".")[0]
    return ("params", name) if name in spec.params else ("params",)


def _notify(spec: Deployment) -> dict[str, Any] | None:
    """The deployment's ``notify:`` as ``suiro.notify`` reads it back, checked by it (the form was
    checked with the file's lines by ``suiro.project``; what the values mean is checked here)."""
    if spec.notify is None:
        return None
    from suiro.notify import Notify, NotifyError

    try:
        parsed = Notify.parse(spec.notify.as_dict(), where="notify")
    except NotifyError as exc:
        raise DeploymentError(str(exc)) from None
    return parsed.to_json() if parsed is not None else None


def _guarded(problems: list[tuple[tuple[Any, ...], str]], step: Any, key: Callable[[Exception], Any]) -> Any:
    """``step()``, or None with its problem noted with the key it is about (``key(exc)``), so every
    problem is reported at once, each at its key's line."""
    try:
        return step()
    except (ParameterError, ScheduleError, DeploymentError) as exc:
        problems.append((key(exc), _plain(str(exc))))
        return None


def _plain(text: str) -> str:
    """A parameter message without the source label ``params`` (the deployment's params are the source)."""
    return text.replace(", given in params;", ";").replace(" from params ", " ")


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
    problems: list[tuple[tuple[Any, ...], str]],
    index: int,
) -> dict[str, Any] | None:
    """A trigger as stored (a file pattern made absolute), or None with its problem noted."""
    here = ("triggers", index)
    if isinstance(trigger, FileTrigger):
        names = [p.name for p in pipe.params]
        if trigger.param not in names:
            problems.append(
                (
                    (*here, "param"),
                    f"its on_file trigger passes the file as parameter {trigger.param!r}"
                    f"{did_you_mean(trigger.param, names)}, which pipeline {pipe.name} does not take; "
                    f"name one of {', '.join(names) or 'its parameters (it has none)'} with param:",
                )
            )
            return None
        pattern = Path(trigger.on_file).expanduser()
        pattern = pattern if pattern.is_absolute() else (base or Path.cwd()).resolve() / pattern
        return {"kind": "file", "pattern": str(pattern), "param": trigger.param}
    if trigger.after == spec.name:
        problems.append(((*here, "after"), "it is triggered after itself; name another deployment in after:"))
        return None
    if trigger.after not in known:
        problems.append(
            (
                (*here, "after"),
                f"it is triggered after {trigger.after!r}{did_you_mean(trigger.after, known)}, which is not "
                "deployed; deploy that one first (or in the same suiro.yaml), or fix the name",
            )
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


def store_for(home: str | Path | None) -> Any:
    """The store of ``home`` (default: ``$SUIRO_HOME`` or ``./.suiro``)."""
    from suiro.context import run_home
    from suiro.store.home import Store

    return Store(run_home(home))
