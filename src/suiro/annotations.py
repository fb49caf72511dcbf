"""Cheap checks of a value against a type annotation, so common cases skip pydantic.

A pipeline's parameters are usually plain ``int``/``float``/``str``/``bool`` values or
lists and dicts of them; checking those needs no validation library, and importing
pydantic costs a third of a second. ``matches`` says True only when the value
already is exactly of the annotated type (so pydantic would return it unchanged);
anything else goes to pydantic for coercion and a precise error.
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from collections.abc import Mapping, Sequence
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


_NUMBERS = (int, float, complex)


def misplaced_bool(annotation: Any, value: Any, depth: int = 0) -> tuple[Any, ...] | None:
    """Where in ``value`` a bool stands for a number, or None: ``()`` for the value itself, else its path.

    Python's ``bool`` is an ``int`` and pydantic's lax mode turns ``True`` into ``1`` for an
    ``int`` or ``float``, so ``n: true`` in a config, or ``--set n=yes`` (YAML reads yes/no and
    on/off as booleans), would silently run with ``n = 1``. A bool is misplaced where the
    annotation takes a number and takes no bool (``int | bool`` and ``Any`` take it).
    """
    if depth > 8:
        return None
    annotation = _unwrap(annotation)
    if isinstance(value, bool):
        return () if _takes_number_not_bool(annotation) else None
    members = _members(annotation)
    for member in members:  # a container: judged by the members that can hold it
        origin, args = typing.get_origin(member) or member, typing.get_args(member)
        if isinstance(value, dict) and origin in (dict, typing.Mapping, Mapping) and len(args) == 2:
            found = _first_in_pairs(args, value, depth)
        elif isinstance(value, list | tuple | set | frozenset) and origin in _SEQUENCES and args:
            found = _first_in_items(origin, args, list(value), depth)
        else:
            continue
        return found  # the first member that can hold this container decides
    return None


_SEQUENCES = (list, tuple, set, frozenset, Sequence, typing.Sequence)


def _unwrap(annotation: Any) -> Any:
    """``Annotated[int, ...]`` (``PositiveInt`` and friends) is judged as ``int``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(_unwrap(arg) for arg in typing.get_args(annotation))
    return (annotation,)


def _takes_number_not_bool(annotation: Any) -> bool:
    members = _members(annotation)
    if any(m is bool or m is Any or m is object for m in members):
        return False
    return any(m in _NUMBERS for m in members)


def _first_in_pairs(args: tuple[Any, ...], value: dict[Any, Any], depth: int) -> tuple[Any, ...] | None:
    for key, item in value.items():
        for annotation, part in ((args[0], key), (args[1], item)):
            found = misplaced_bool(annotation, part, depth + 1)
            if found is not None:
                return (key, *found)
    return None


def _first_in_items(
    origin: Any, args: tuple[Any, ...], items: list[Any], depth: int
) -> tuple[Any, ...] | None:
    for index, item in enumerate(items):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if index >= len(args):
                return None
            annotation = args[index]
        else:
            annotation = args[0]
        found = misplaced_bool(annotation, item, depth + 1)
        if found is not None:
            return (index, *found)
    return None


def literal_problem(annotation: Any, value: Any) -> str | None:
    """Why a literal argument does not fit its parameter's annotation, or None if it fits.

    Only values that pydantic (lax) would refuse are problems: ``"3"`` for an ``int`` fits.
    """
    if annotation is None or matches(annotation, value):
        return None
    try:
        from pydantic import TypeAdapter, ValidationError
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return None
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError as exc:
        return exc.errors()[0]["msg"].rstrip(".")
    except Exception:  # an annotation pydantic cannot check is not ours to judge
        return None
    return None


def incompatible(produced: Any, expected: Any) -> bool:
    """True when a task returning ``produced`` clearly cannot feed a parameter of type ``expected``.

    Judged only between plain classes (no generics, unions or Any): ``int`` feeds ``float``,
    a subclass feeds its base; anything unclear is allowed.
    """
    if not (isinstance(produced, type) and isinstance(expected, type)) or Any in (produced, expected):
        return False  # typing.Any is a class since Python 3.11: it accepts anything
    if expected is object or produced is object or issubclass(produced, expected):
        return False
    numeric = {int: (float, complex), float: (complex,), bool: (int, float, complex)}
    return expected not in numeric.get(produced, ())


def item_type(annotation: Any) -> Any:
    """The type of each item of a list annotated ``annotation``, or None when it does not say.

    ``list[str]``, ``Sequence[str]`` and ``tuple[str, ...]`` say ``str``; a bare ``list``, ``list[Any]``
    or no annotation say nothing, so mapping over them into any parameter is allowed.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tuple:
        return args[0] if len(args) == 2 and args[1] is Ellipsis else None
    if origin in _SEQUENCES and len(args) == 1 and args[0] is not Any:
        return args[0]
    return None


# --- structured parameters: dataclasses and pydantic models -------------------------------------------


def fields_of(annotation: Any) -> dict[str, Any] | None:
    """Field name to annotation of a dataclass or pydantic model class; None for anything else.

    A pydantic model that allows extra fields also gives None: any name is one of its fields.
    Pydantic is recognised by its class attributes, so this module does not import it.
    """
    annotation = _unwrap(annotation)
    if not isinstance(annotation, type):
        return None
    if dataclasses.is_dataclass(annotation):
        try:
            hints = typing.get_type_hints(annotation)
        except Exception:  # unresolvable annotations: the names are still known
            hints = {}
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(annotation) if f.init}
    model_fields = getattr(annotation, "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(annotation, "model_validate"):
        if (getattr(annotation, "model_config", None) or {}).get("extra") == "allow":
            return None
        return {name: info.annotation for name, info in model_fields.items()}
    return None


def as_fields(value: Any) -> dict[str, Any] | None:
    """A dataclass or pydantic model instance as a dict of its fields (one level); None otherwise."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    model_fields = getattr(type(value), "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(value, "model_dump"):
        return {name: getattr(value, name) for name in model_fields} | dict(
            getattr(value, "model_extra", None) or {}
        )
    return None


def unknown_field(
    annotation: Any, value: Any, path: tuple[str, ...] = ()
) -> tuple[tuple[str, ...], list[str], str] | None:
    """The first key of ``value`` naming no field of ``annotation``, looking into nested fields.

    Returns:
        (path of the key, the fields that exist there, the name of the class), or None when
        every key is a field (or ``annotation`` is not a dataclass or pydantic model).
    """
    if not isinstance(value, Mapping):
        return None
    for member in _members(_unwrap(annotation)):
        fields = fields_of(member)
        if fields is None:
            continue
        for key, item in value.items():
            if key not in fields:
                return (*path, str(key)), sorted(fields), member.__name__
            found = unknown_field(fields[key], item, (*path, str(key)))
            if found is not None:
                return found
        return None
    return None


def to_plain(value: Any, depth: int = 0) -> Any:
    """``value`` with every dataclass and pydantic model in it as a dict of its fields, and every
    date and time as ISO text.

    For records kept as JSON: a resume reads the dict back and validates it into the class again,
    and secrets inside it are masked like any other string.
    """
    if depth > 100:  # parameter values are refused deeper than this (suiro.config.MAX_DEPTH)
        return value
    if hasattr(value, "model_dump") and as_fields(value) is not None:
        return value.model_dump(mode="json")
    fields = as_fields(value)
    if fields is not None:
        value = fields
    if isinstance(value, dict):
        return {k: to_plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v, depth + 1) for v in value]
    if isinstance(value, datetime.date | datetime.time):  # ISO text, which pydantic reads back
        return value.isoformat()
    return value
