"""The trigger form: fields generated from a pipeline's signature, and a submitted form as ``--set``.

Each parameter is one text field holding its current value as ``--set`` would spell it (a
deployment's parameters over the pipeline's defaults; a re-run's recorded values). A field left
as it was shown is not sent on, so the run gets exactly the value it would have had; a changed
one becomes ``name=text`` and is read and validated by ``suiro.config.resolve_params``, the
function ``--set`` goes through: same types, same messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from suiro.graph import EMPTY
from suiro.logical import is_marker

if TYPE_CHECKING:
    from suiro.graph import Param

#: Form fields holding parameters are named with this prefix (``p.threshold``).
PREFIX = "p."


def fields(params: Sequence[Param], values: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One field per parameter: ``name``, ``type``, ``text`` (shown), ``required``, ``note``."""
    values = values or {}
    found = []
    for param in params:
        value = values.get(param.name, param.default)
        marker = value is not EMPTY and is_marker(value)
        found.append(
            {
                "name": param.name,
                "type": _type_name(param.annotation),
                "text": "" if value is EMPTY or marker else as_text(value),
                "required": value is EMPTY,
                "note": f"default: the run's {value!r}" if marker else "",
                "choices": ["true", "false"] if param.annotation is bool else None,
            }
        )
    return found


def overrides(shown: Sequence[Mapping[str, Any]], form: Mapping[str, str]) -> list[str]:
    """The ``--set`` items of a submitted form: the fields whose text differs from what was shown."""
    items = []
    for field in shown:
        text = form.get(PREFIX + field["name"])
        if text is not None and text.strip() != field["text"]:
            items.append(f"{field['name']}={text.strip()}")
    return items


def with_texts(shown: list[dict[str, Any]], form: Mapping[str, str]) -> list[dict[str, Any]]:
    """The fields with the submitted texts in them (a form shown again with its error keeps them)."""
    return [{**f, "text": form.get(PREFIX + f["name"], f["text"])} for f in shown]


def as_text(value: Any) -> str:
    """A value as one would type it after ``--set name=``: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def _type_name(annotation: Any) -> str:
    if annotation is EMPTY:
        return ""
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")
