"""The values of prediction records: reading the JSON body, spotting missing values, converting.

Owns what one JSON value may be for a column of a given dtype. Python's ``json`` reads more than
JSON: ``NaN``, ``Infinity``, ``-Infinity``, numbers like ``1e400`` (read as infinity) and integers
of any length. None of these reaches a model: ``NaN`` is a missing value like ``null`` (and like
the strings ``"nan"`` in a numeric column), infinities and numbers beyond a float's or the
column's integer range are refused naming what was sent. Must not decide whether a missing value
is acceptable: that depends on the model's imputation (see ``serving.Predictor``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from suiro.errors import PredictionInputError

OUT_OF_RANGE = "a number beyond ±1.8e308"


@dataclass(frozen=True)
class Literal:
    """A number JSON does not have (``Infinity``, ``-Infinity``) or an integer too long to read.

    Kept as its text so a message can show what was sent; no converter accepts it.
    """

    text: str
    integer: bool = False


def decode(body: bytes) -> Any:
    """The JSON value of ``body``; ``NaN`` reads as a float NaN, the others as ``Literal``.

    Integers over Python's digit limit (4,300) make ``json`` raise a plain ValueError; only then
    is the body read again keeping such integers as text, so the common case stays at C speed.

    Raises:
        ValueError, RecursionError: the body is not JSON (or is nested too deeply).
    """
    try:
        return json.loads(body, parse_constant=_constant)
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer too long for int(): read them as text
        return json.loads(body, parse_constant=_constant, parse_int=_integer)


def _constant(text: str) -> Any:
    return math.nan if text == "NaN" else Literal(text)


def _integer(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return Literal(text, integer=True)


def missing(value: Any, kind: str) -> str | None:
    """How ``value`` was sent if it is a missing value for a column of ``kind``, else None.

    ``kind`` is a converter's name (see ``converter``): in numeric columns the strings pandas
    writes for NaN (``"nan"``, ``"NaN"``) are missing values too; in other columns they are text.
    """
    if value is None:
        return "null"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if kind in ("float", "int") and isinstance(value, str) and value.strip().lstrip("+-").lower() == "nan":
        return json.dumps(value)
    return None


def converter(dtype: str) -> tuple[str, Callable[[Any], Any]]:
    """The kind of ``dtype`` (float, int, bool, text, any) and a function converting one JSON value to it.

    The function raises PredictionInputError for a value it cannot take; missing values are
    checked before (see ``missing``).
    """
    kind = dtype.lower()
    if kind.startswith("float"):
        return "float", to_float
    if kind.startswith(("int", "uint")):
        low, high = _int_range(kind)
        return "int", lambda value: to_int(value, low, high)
    if kind in ("bool", "boolean"):
        return "bool", to_bool
    if kind in ("object", "str", "string", "category") or kind.startswith("datetime"):
        return "text", to_text
    return "any", to_scalar


def _int_range(kind: str) -> tuple[int, int]:
    import numpy as np

    try:
        info = np.iinfo(kind)
    except (TypeError, ValueError):  # a dtype numpy does not know: the widest signed range
        info = np.iinfo("int64")
    return int(info.min), int(info.max)


def to_float(value: Any) -> float:
    """A finite float from a number or numeric string."""
    if isinstance(value, Literal) and not value.integer:
        raise _expected("a finite number", value)
    if isinstance(value, Literal | int | float) and not isinstance(value, bool):
        try:
            number = math.inf if isinstance(value, Literal) else float(value)
        except OverflowError:
            number = math.inf
        if math.isinf(number):
            raise PredictionInputError(f"expected a finite number, got {OUT_OF_RANGE}")
        return number
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isinf(number):
                raise _expected("a finite number", value)
            return number
    raise _expected("a number", value)


def to_int(value: Any, low: int, high: int) -> int:
    """An integer within ``low``..``high`` from an integer, a whole float or a string of digits."""
    number: int | None = None
    if isinstance(value, Literal) and value.integer:
        number = low - 1  # too long to read is out of any range
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isascii():
        try:
            number = int(value) if value.strip().lstrip("+-").isdigit() else None
        except ValueError:  # more digits than Python reads
            number = None
    if number is None:
        raise _expected("an integer", value)
    if not low <= number <= high:
        raise _expected(f"an integer from {low} to {high}", value)
    return number


def to_bool(value: Any) -> bool:
    """``true`` or ``false``."""
    if isinstance(value, bool):
        return value
    raise _expected("true or false", value)


def to_text(value: Any) -> str:
    """A string."""
    if isinstance(value, str):
        return value
    raise _expected("a string", value)


def to_scalar(value: Any) -> Any:
    """Any single JSON value a float can hold, for columns of unknown dtype."""
    if isinstance(value, list | dict):
        raise PredictionInputError(f"expected a single value, got {json_type(value)}")
    if isinstance(value, Literal) or (isinstance(value, int | float) and not isinstance(value, bool)):
        to_float(value)  # refuses infinities and numbers beyond a float
    return value


def _expected(what: str, value: Any) -> PredictionInputError:
    return PredictionInputError(f"expected {what}, got {shown_value(value)}")


def shown_value(value: Any) -> str:
    """``value`` as a message shows it: its JSON type and text, cut at 40 characters."""
    if value is None:
        return "null"
    if isinstance(value, Literal):
        text = value.text
        return f"a number {text[:37]}..." if value.integer else text
    if isinstance(value, float) and math.isinf(value):
        return OUT_OF_RANGE
    text = json.dumps(value)
    return f"{json_type(value)} {text if len(text) <= 40 else text[:37] + '...'}"


def json_type(value: Any) -> str:
    """``a number``, ``a string``... as a message names the JSON type of ``value``."""
    for kind, name in (
        (bool, "a boolean"),
        (int | float | Literal, "a number"),
        (str, "a string"),
        (list, "a list"),
    ):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "an object"
