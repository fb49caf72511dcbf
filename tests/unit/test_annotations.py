"""misplaced_bool: where a bool would be taken for a number by pydantic's lax mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import pytest
from pydantic import Field, PositiveInt

from suiro.annotations import misplaced_bool


@pytest.mark.parametrize(
    ("annotation", "value", "path"),
    [
        (int, True, ()),
        (float, False, ()),
        (int | None, True, ()),
        (PositiveInt, True, ()),
        (Annotated[float, Field(gt=0)], True, ()),
        (list[int], [1, True], (1,)),
        (Sequence[float], (0.5, False), (1,)),
        (tuple[str, int], ("a", True), (1,)),
        (dict[str, list[int]], {"a": [1], "b": [2, True]}, ("b", 1)),
        (dict[int, str], {True: "x"}, (True,)),
        (list[int] | None, [True], (0,)),
    ],
)
def test_a_bool_standing_for_a_number_is_found(annotation, value, path):
    assert misplaced_bool(annotation, value) == path


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (bool, True),
        (int | bool, True),
        (Any, True),
        (object, False),
        (str, True),
        (int, 1),
        (list[int], [1, 2]),
        (list[bool], [True]),
        (tuple[bool, int], (True, 1)),
        (dict, {"a": True}),
        (list, [True]),
    ],
)
def test_a_bool_where_bools_or_anything_go_is_fine(annotation, value):
    assert misplaced_bool(annotation, value) is None
