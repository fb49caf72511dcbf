"""Cheap checks of a value against a type annotation, so common cases skip pydantic.

A pipeline's parameters are usually plain ``int``/``float``/``str``/``bool`` values or
lists and dicts of them; checking those needs no validation library, and importing
pydantic costs a third of a second. ``matches`` says True only when the value
already is exactly of the annotated type (so pydantic would return it unchanged);
anything else goes to pydantic for coercion and a precise error.
"""

from __future__ import annotations

import types
import typing
from typing import Any

_SCALARS = (int, float, str, bool, bytes, type(None))


def matches(annotation: Any, value: Any, depth: int = 0) -> bool:
    """True if ``value`` already is of type ``annotation`` with nothing to coerce."""
    if depth > 8:
        return False
    if annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if annotation in _SCALARS:
        return type(value) is annotation  # bool is not an int here; 3 is not a float
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(matches(arg, value, depth + 1) for arg in args)
    if origin is list and type(value) is list:
        return not args or all(matches(args[0], v, depth + 1) for v in value)
    if origin is dict and type(value) is dict:
        if not args:
            return True
        return all(
            matches(args[0], k, depth + 1) and matches(args[1], v, depth + 1) for k, v in value.items()
        )
    if annotation is list:
        return type(value) is list
    if annotation is dict:
        return type(value) is dict
    return False
