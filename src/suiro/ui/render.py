"""Page rendering: the Jinja2 environment (autoescaping on), its filters, and ``render``.

Autoescaping is what makes a task named ``<script>`` show as text; the only values marked safe
are the SVG strings ``dag`` and ``charts`` build, which escape every text they hold.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any
from urllib.parse import quote

from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape

from suiro.labels import task_label
from suiro.ui.auth import derived


@cache
def environment() -> Environment:
    """The template environment (built once)."""
    env = Environment(
        loader=PackageLoader("suiro.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, seconds=seconds, label=task_label, part=lambda s: quote(str(s), safe=""))
    env.filters.update(zoned=zoned, json=as_json)
    return env


def as_json(value: Any) -> str:
    """A value as JSON text for a page, its characters as they are (``東京 & "q"``), escaped for
    HTML by the page's autoescaping. Jinja's ``tojson`` is for ``<script>``: it wrote ``\\u6771``
    and ``\\u0026`` where a user reads a parameter."""
    return json.dumps(value, ensure_ascii=False, default=repr)


def render(request: Request, name: str, context: dict[str, Any]) -> str:
    """Template ``name`` with ``context`` plus what every page uses (CSRF value, login state)."""
    token = request.app.state.token
    auth = request.scope.get("state", {}).get("auth", "none")
    common = {
        "csrf": derived(token, "csrf") if token else "",
        "can_write": token is not None,
        "logged_in": auth == "cookie",
        "path": request.url.path,
    }
    return environment().get_template(name).render({**common, **context})


def when(epoch: float | None) -> str:
    """A recorded time in local time, to the second."""
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration: ``0.42s``, ``12.3s``, ``4m05s``."""
    if value is None:
        return ""
    if value < 60:
        return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def zoned(epoch: float | None, zone: str | None = None) -> str:
    """A scheduled run's logical time (or interval bound) in its deployment's zone:
    ``2026-11-30 02:00 JST`` ("" for none; UTC when the zone is unknown)."""
    if epoch is None:
        return ""
    from suiro.wallclock import local_text

    return local_text(epoch, zone)
