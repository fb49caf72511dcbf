"""The ``DAG(...)`` arguments of a compiled Airflow DAG: id, parameters, schedule, catch-up, limits.

Each value is Python source text built with ``repr`` from checked data. The schedule is the
named deployment's (``--deployment``), else the pipeline's own ``schedule=``, else none:

- a cron is ``CronTriggerTimetable(cron, timezone=zone)`` (a run at each tick, as suiro's
  scheduler starts one), an interval ``DeltaTriggerTimetable`` whose ``start_date`` is one of
  suiro's ticks, so Airflow's ticks are suiro's;
- ``catchup="all"`` is ``catchup=True`` from the deployment's creation (or its ``start``): every
  tick missed since; ``latest`` (and ``none``, which Airflow cannot tell from it) ``catchup=False``;
- ``max_active_runs`` the deployment's; the pipeline's ``timeout`` the ``dagrun_timeout``.

Parameters become DAG ``params`` (a JSON-schema type from the annotation or default), with the
deployment's values as defaults. Pure apart from reading the deployment; imports no Airflow.
"""

from __future__ import annotations

import json
import re
import types
import typing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from suiro import clock
from suiro.compilers import CompileError
from suiro.graph import EMPTY
from suiro.logical import is_marker

if TYPE_CHECKING:
    from suiro.graph import Param
    from suiro.pipeline import Pipeline
    from suiro.schedules import Schedule
    from suiro.store.deployments import DeploymentRow

_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array", dict: "object"}
_JSON_TYPES |= {tuple: "array"}


def dag_arguments(pipe: Pipeline, *, deployment: str | None = None) -> dict[str, str]:
    """The ``DAG(...)`` keyword arguments for ``pipe``, as source text, in a readable order.

    Raises:
        CompileError: the deployment runs another pipeline, a parameter value is not JSON, or a
            scheduled DAG has a parameter without a value.
        DeploymentError: no deployment of that name (the closest one is offered).
    """
    values: dict[str, Any] = {}
    schedule, catchup, max_active, created = pipe.schedule, "latest", None, clock.now()
    if deployment is not None:
        from suiro.schedules import Schedule

        row = _deployment(deployment)
        if row.pipeline != pipe.name:
            raise CompileError(
                f"deployment {deployment} runs pipeline {row.pipeline} ({row.target}), not {pipe.name}; "
                f"compile {row.target} or name a deployment of {pipe.name}."
            )
        values, catchup, max_active = dict(row.params), row.catchup, row.max_active_runs
        schedule = Schedule.from_json(row.schedule) if row.schedule else None
        created = row.created or created
    found: dict[str, str] = {"dag_id": repr(dag_id(pipe.name))}
    if pipe.description:
        found["description"] = repr(pipe.description)
    found |= _schedule(schedule, catchup, created)
    if max_active is not None:
        found["max_active_runs"] = repr(int(max_active))
    if pipe.timeout:
        found["dagrun_timeout"] = f"datetime.timedelta(seconds={pipe.timeout!r})"
    found["params"] = _params(pipe, values, scheduled=schedule is not None)
    found["tags"] = repr(["suiro", *sorted(pipe.tags)])
    if pipe.owner:
        found["default_args"] = repr({"owner": pipe.owner})
    found["doc_md"] = "__doc__"
    return found


def _deployment(name: str) -> DeploymentRow:
    """The saved deployment ``name`` (read from the store: ``suiro.deployments`` is a sibling layer)."""
    from suiro.context import run_home
    from suiro.store import deployments as rows
    from suiro.store.home import Store

    store = Store(run_home(None))
    try:
        return rows.require(store.reader, name)
    finally:
        store.close()


def dag_id(name: str) -> str:
    """The pipeline's name as an Airflow DAG id (letters, digits, ``_``, ``-``, ``.``)."""
    return re.sub(r"[^\w.-]+", "_", name, flags=re.ASCII).strip("_")[:250] or "pipeline"


def _schedule(schedule: Schedule | None, catchup: str, created: float) -> dict[str, str]:
    if schedule is None:
        return {"schedule": "None", "catchup": "False"}
    zone = schedule.timezone
    if schedule.cron is not None:
        timetable = f"CronTriggerTimetable({schedule.cron!r}, timezone={zone!r})"
        first = schedule.start if schedule.start is not None else created
    else:
        every = f"datetime.timedelta(seconds={schedule.every!r})"
        timetable = f"DeltaTriggerTimetable({every}, interval={every})"
        # a tick of suiro's, so Airflow's ticks (start_date + k * every) are suiro's
        first = schedule.start if schedule.start is not None else schedule.previous(created)
        first = first if first is not None else (schedule.next_after(created) or created)
    found = {"schedule": timetable, "start_date": _instant(first, zone)}
    if schedule.end is not None:
        found["end_date"] = _instant(schedule.end, zone)
    found["catchup"] = repr(catchup == "all")
    return found


def _instant(epoch: float, zone: str) -> str:
    """``pendulum.datetime(...)`` for an instant, written in the schedule's zone."""
    from zoneinfo import ZoneInfo

    at = datetime.fromtimestamp(epoch, tz=UTC).astimezone(ZoneInfo(zone))
    parts = [at.year, at.month, at.day, at.hour, at.minute, at.second]
    return f"pendulum.datetime({', '.join(map(str, parts))}, tz={zone!r})"


def _params(pipe: Pipeline, values: dict[str, Any], *, scheduled: bool) -> str:
    items = []
    for param in pipe.params:
        given = param.name in values
        value = values[param.name] if given else param.default
        schema = _json_type(param)
        kind = "" if schema is None else f"type={schema!r}"
        if value is EMPTY:
            if scheduled:
                raise CompileError(
                    f"pipeline {pipe.name}: parameter {param.name} has no default, and a scheduled Airflow "
                    "DAG starts runs without one; give it a default or a value in the deployment."
                )
            items.append(f"{param.name!r}: Param({kind})")
            continue
        if is_marker(value):
            raise CompileError(
                f"pipeline {pipe.name}: parameter {param.name}'s default is {value!r}, a logical time the "
                "Airflow target does not carry yet (Airflow's data intervals are not suiro's); give it "
                "a plain default or a value in the deployment."
            )
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise CompileError(
                f"pipeline {pipe.name}: parameter {param.name}'s value (a {type(value).__name__}) is not "
                "JSON, which Airflow params must be; use a number, text, bool, list or dict."
            ) from None
        items.append(f"{param.name!r}: Param({_literal(value)}{', ' + kind if kind else ''})")
    if not items:
        return "{}"
    return "{\n" + "".join(f"        {item},\n" for item in items) + "    }"


def _literal(value: Any) -> str:
    """A JSON value as a Python literal (tuples as lists, as Airflow stores them)."""
    return repr(json.loads(json.dumps(value)))


def _json_type(param: Param) -> str | list[str] | None:
    """The JSON-schema type of a parameter from its annotation (else its default), None if unsure."""
    hint = param.annotation
    if hint is EMPTY:
        if param.default is EMPTY or param.default is None:
            return None
        hint = type(param.default)
    if isinstance(hint, str):
        hint = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}.get(hint)
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        hint = members[0] if len(members) == 1 else None
    base = _JSON_TYPES.get(typing.get_origin(hint) or hint)  # type: ignore[call-overload]
    if base is None:
        return None
    if base == "integer" and param.default is not EMPTY and isinstance(param.default, float):
        base = "number"
    return [base, "null"] if optional or param.default is None else base
