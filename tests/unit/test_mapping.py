"""Fan-out rules (``split_mapped``, ``unmapped``): per-item arguments, and every error message."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suiro.errors import DefinitionError, SuiroError
from suiro.mapping import split_mapped, unmapped


def test_positional_and_keyword_lists_are_zipped_item_by_item():
    calls = split_mapped("train", ([1, 2, 3],), {"factor": [10, 20, 30]})

    assert calls == [((1,), {"factor": 10}), ((2,), {"factor": 20}), ((3,), {"factor": 30})]


def test_unmapped_value_is_passed_whole_and_identical_to_every_item():
    data = [0.1, 0.2]

    calls = split_mapped("train", (unmapped(data),), {"factor": [1, 2, 3]})

    assert [kwargs["factor"] for _, kwargs in calls] == [1, 2, 3]
    assert all(args[0] is data for args, _ in calls)


@pytest.mark.parametrize("items", [(1, 2), range(2)], ids=["tuple", "range"])
def test_tuples_and_ranges_are_iterated_like_lists(items):
    assert split_mapped("square", (items,), {}) == [((items[0],), {}), ((items[1],), {})]


def test_empty_lists_give_no_calls():
    assert split_mapped("square", ([],), {"y": []}) == []


def test_unmapped_repr_shows_the_value():
    assert repr(unmapped([1, 2])) == "unmapped([1, 2])"


def test_length_mismatch_names_every_argument_and_its_length_sorted():
    with pytest.raises(DefinitionError) as info:
        split_mapped("train", ([1, 2],), {"factor": [1, 2, 3], "alpha": [1, 2, 3]})

    assert str(info.value) == (
        "train.map: the mapped arguments differ in length (#1=2, 'alpha'=3, 'factor'=3); "
        "give lists of one length."
    )
    assert info.value.task == "train"
    assert isinstance(info.value, SuiroError)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(5, "5 (int)"), ("abc", "'abc' (str)"), ({"a": 1}, "{'a': 1} (dict)"), (None, "None (NoneType)")],
    ids=["int", "str", "dict", "none"],
)
def test_an_argument_that_is_not_a_list_must_be_unmapped(value, shown):
    with pytest.raises(
        DefinitionError,
        match=re.escape(f"score.map: argument 'model' is {shown}, not a list; wrap it in unmapped()"),
    ) as info:
        split_mapped("score", ([1, 2],), {"model": value})

    assert info.value.task == "score"


def test_positional_arguments_are_labelled_by_position():
    with pytest.raises(DefinitionError, match=re.escape("score.map: argument #2 is 7 (int), not a list")):
        split_mapped("score", ([1], 7), {})


def test_a_long_value_is_shortened_in_the_message():
    long_text = "x" * 100

    with pytest.raises(DefinitionError) as info:
        split_mapped("score", (long_text,), {})

    shown = re.search(r"argument #1 is (.*) \(str\)", str(info.value)).group(1)
    assert len(shown) == 40
    assert shown.endswith("...")


def test_a_value_whose_repr_spans_lines_is_shown_on_one():
    import pandas as pd

    with pytest.raises(DefinitionError) as info:  # a frame forgotten without unmapped()
        split_mapped("score", (pd.DataFrame({"day": [0, 1], "sales": [0.0, 1.5]}),), {})
    assert "\n" not in str(info.value) and "argument #1 is day sales 0 0 0.0 1 1 1.5 (DataFrame)" in str(
        info.value
    ), str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs"), [((), {}), ((unmapped([1, 2]),), {"b": unmapped(3)})], ids=["none", "all-unmapped"]
)
def test_a_map_with_nothing_to_iterate_says_to_call_the_task_instead(args, kwargs):
    with pytest.raises(
        DefinitionError,
        match=re.escape("score.map: no argument to iterate; pass a list, or call score(...) instead."),
    ):
        split_mapped("score", args, kwargs)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=8),
    shared=st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)),
    seed=st.integers(),
)
def test_every_item_gets_its_own_elements_in_order_and_the_shared_value(n, shared, seed):
    xs = [seed + i for i in range(n)]
    ys = [str(i) for i in range(n)]

    calls = split_mapped("t", (xs, unmapped(shared)), {"y": ys})

    assert len(calls) == n
    for i, (args, kwargs) in enumerate(calls):
        assert args == (xs[i], shared)
        assert args[1] is shared
        assert kwargs == {"y": ys[i]}
