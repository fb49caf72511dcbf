"""A reference's path: typed steps, applied in one place, keyed by the text keys were always made of."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import cloudpickle
import pytest

from suiro import pipeline, task
from suiro.graph import Use
from suiro.pathstep import Attr, Item, Not, apply, follow, token


@task
def load() -> dict:
    return {"rows": [1, 2]}


@task
def show(*values: object) -> tuple[object, ...]:
    return values


@pipeline
def reads():
    out = load()
    return show(out["rows"][0], out.meta, ~out, ~out["rows"].real)


def test_tracing_an_index_an_attribute_and_a_negation_makes_typed_steps():
    assert reads.graph.nodes["show"].args == (
        Use("load", path=(Item("rows"), Item(0))),
        Use("load", path=(Attr("meta"),)),
        Use("load", path=(Not(),)),
        Use("load", path=(Item("rows"), Attr("real"), Not())),
    )


def test_each_step_reads_what_python_would():
    value = {"rows": [SimpleNamespace(ok=0)]}
    assert apply(Item("rows"), value) is value["rows"]
    assert apply(Attr("ok"), value["rows"][0]) == 0
    assert apply(Not(), []) is True
    assert follow(value, (Item("rows"), Item(0), Attr("ok"), Not())) is True
    assert follow(value, ()) is value


def test_a_failing_step_raises_what_python_raises():
    with pytest.raises(KeyError):
        follow({}, (Item("rows"),))
    with pytest.raises(AttributeError):
        follow(3, (Attr("missing"),))


def test_a_path_token_is_the_text_of_kind_and_argument_pairs():
    assert token((Item("rows"), Item(0), Attr("meta"), Not())) == [
        ["item", "rows"],
        ["item", 0],
        ["attr", "meta"],
        ["not", None],
    ]
    assert token(()) == []


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_a_use_with_a_path_survives_pickling_equal_and_with_the_same_hash(dumps):
    use = Use("load", path=(Item("rows"), Item(0), Attr("meta"), Not()))
    back = pickle.loads(dumps(use))
    assert back == use and hash(back) == hash(use)
    assert type(back.path[0]) is Item and type(back.path[3]) is Not
