"""The runs list's query string as a ``RunFilter``: one parser for the page and ``/api/v1/runs``.

Accepted: ``pipeline``, ``state``, ``deployment``, ``since`` and ``until`` (a date ``2026-11-30``,
both days included, or a time ``2026-11-30T08:00``, local time), ``param.NAME=VALUE`` or
``param=NAME=VALUE`` (the page's one field; VALUE read as JSON when it is JSON, so
``param.lr=0.1`` matches the number and ``param.kind=a`` the text), ``metric`` with ``min``
and/or ``max`` (runs whose latest value lies in them), ``sort`` (a metric name; newest first
without it) with ``order`` (``desc``, the default, or ``asc``). A bad value is one sentence
naming the field (a 400), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query

from suiro.errors import SuiroError
from suiro.states import RunState
from suiro.store.search import MAX_PARAM_FILTERS, RunFilter

#: The query fields that are not ``param.*``, in the order links repeat them.
FIELDS = (
    "pipeline",
    "state",
    "deployment",
    "since",
    "until",
    "param",
    "metric",
    "min",
    "max",
    "sort",
    "order",
)


class FilterError(SuiroError, ValueError):
    """A runs-list filter in the query string cannot be read."""


#: The run states a filter may ask for.
_RUN_STATES = tuple(state.value for state in RunState)
#: Numbers in a query string, bounded: SQLite holds 64-bit integers, and ``?page=10**20`` was a 500.
Page = Annotated[int, Query(ge=1, le=1_000_000, description="the page, from 1")]
Attempt = Annotated[int | None, Query(ge=1, le=1_000_000, description="one attempt, from 1")]


def parse(query: Mapping[str, str]) -> RunFilter:
    """The filter a runs-list query string asks for (empty fields are ignored).

    Raises:
        FilterError: a date, number, order or parameter filter that cannot be read.
    """
    get = lambda name: (query.get(name) or "").strip() or None  # noqa: E731
    pairs = [(k.removeprefix("param."), v) for k, v in query.items() if k.startswith("param.") and v.strip()]
    if get("param"):  # the page's one text field: NAME=VALUE
        name, equals, value = get("param").partition("=")
        if not equals:
            raise FilterError(
                f"the parameter filter {get('param')!r} needs the form NAME=VALUE, e.g. lr=0.1."
            )
        pairs.append((name.strip(), value))
    params = tuple((name, _json(value)) for name, value in pairs)
    if len(params) > MAX_PARAM_FILTERS:
        raise FilterError(f"at most {MAX_PARAM_FILTERS} param.NAME filters at once; drop some.")
    for name, _ in params:
        if not name.isidentifier():
            raise FilterError(f"param.{name} does not name a parameter; write param.NAME=VALUE.")
    order = get("order") or "desc"
    if order not in ("desc", "asc"):
        raise FilterError(f"order must be desc or asc, not {order!r}.")
    state = get("state")
    if state is not None and state not in _RUN_STATES:  # it answered no run, as if none matched
        raise FilterError(f"state must be one of {', '.join(_RUN_STATES)}, not {state!r}.")
    low, high = _number("min", get("min")), _number("max", get("max"))
    if (low is not None or high is not None) and get("metric") is None:  # it was dropped, silently
        raise FilterError("min and max bound a metric's value: give metric=NAME with them.")
    if low is not None and high is not None and low > high:
        raise FilterError(f"min ({low:g}) is above max ({high:g}); no run could match: swap them.")
    return RunFilter(
        pipeline=get("pipeline"),
        state=state,
        deployment=get("deployment"),
        since=_time("since", get("since"), end=False),
        until=_time("until", get("until"), end=True),
        params=params,
        metric=get("metric"),
        metric_min=low,
        metric_max=high,
        sort=get("sort") if get("sort") not in (None, "started") else None,
        descending=order == "desc",
    )


def echo(query: Mapping[str, str]) -> dict[str, str]:
    """The filter fields of ``query`` that are set, to repeat in the pager's and the sort's links."""
    kept = {k: query[k] for k in FIELDS if (query.get(k) or "").strip()}
    kept.update({k: v for k, v in query.items() if k.startswith("param.") and v.strip()})
    return kept


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _number(field: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise FilterError(f"{field} must be a number, not {text!r}.") from None


def _time(field: str, text: str | None, *, end: bool) -> float | None:
    """Epoch seconds of a local date or time; the end of a range given as a date is the next day."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
            return (day + dt.timedelta(days=1 if end else 0)).timestamp()
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise FilterError(
            f"{field} must be a date like 2026-11-30 or a time like 2026-11-30T08:00, not {text!r}."
        ) from None
