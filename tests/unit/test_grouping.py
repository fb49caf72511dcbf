"""Sub-pipelines: calling a ``@pipeline`` inside another inserts its tasks as a named group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from suiro import Ref, pipeline, task, when
from suiro.errors import DefinitionError
from suiro.graph import Condition, Const, Expr, Group, Use
from suiro.pathstep import Attr, Item

HERE = Path(__file__)


def where(marker: str) -> str:
    """``file:line`` of the line of this file ending with ``# <marker>``."""
    lines = HERE.read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, start=1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return f"{HERE}:{hits[0]}"


@task
def load(source: str) -> list[int]:
    return [1, 2, 3, 4]


@task
def clean(rows: list[int], limit: int) -> list[int]:
    return [r for r in rows if r <= limit]


@task
def scale(rows: list[int], factor: float) -> list[float]:
    return [r * factor for r in rows]


@task
def train(a: Any, b: Any) -> float:
    return 0.0


@pipeline(description="Clean and scale rows.")
def prep(rows: list[int], limit: int = 3, factor: float = 2.0):
    return scale(clean(rows, limit), factor)


LOAD = Use("load")


def test_a_called_pipeline_inserts_its_tasks_as_a_group_bound_to_the_call():
    @pipeline
    def outer(source: str = "s3://x", factor: float = 10.0):
        rows = load(source)
        a = prep(rows)  # first-call
        b = prep(rows, limit=2, factor=factor)  # second-call
        return train(a, b)

    nodes = outer.graph.nodes
    assert list(nodes) == ["load", "prep.clean", "prep.scale", "prep_2.clean", "prep_2.scale", "train"]
    assert nodes["prep.clean"].args == (LOAD, Const(3))  # its own default
    assert nodes["prep.scale"].args == (Use("prep.clean"), Const(2.0))
    assert nodes["prep_2.clean"].args == (LOAD, Const(2))  # the call's literal
    assert nodes["prep_2.scale"].args == (Use("prep_2.clean"), Use("factor", is_param=True))  # a parameter
    assert nodes["train"].args == (Use("prep.scale"), Use("prep_2.scale"))
    assert [nodes[k].group for k in nodes] == ["", "prep", "prep", "prep_2", "prep_2", ""]
    assert outer.graph.groups == {
        "prep": Group("prep", "prep", where("first-call"), "Clean and scale rows."),
        "prep_2": Group("prep_2", "prep", where("second-call"), "Clean and scale rows."),
    }
    assert nodes["prep.clean"].location == prep.graph.nodes["clean"].location  # where the task call is
    assert len(prep.graph.nodes) == 2, "the sub-pipeline itself is unchanged"


def test_a_sub_pipeline_may_return_a_dict_or_tuple_of_references():
    @pipeline
    def both(rows: list[int]):
        cleaned = clean(rows, 2)
        return {"clean": cleaned, "scaled": scale(cleaned, 2.0)}, (cleaned, 3)

    @pipeline
    def outer(source: str = "x"):
        parts, (first, three) = both(load(source))
        return train(parts["scaled"], first), three

    assert outer.graph.nodes["train"].args == (Use("both.scale"), Use("both.clean"))
    assert outer.graph.output.items[1][1] == Const(3)  # type: ignore[union-attr]


def test_inner_guards_and_paths_are_bound_to_what_the_call_passed():
    @pipeline
    def inner(rows: list[int], settings: dict[str, Any], enabled: bool = True):
        with when(enabled):
            clean(rows, settings["limit"])
        with when(~enabled):
            scale(rows, settings.factor)

    @pipeline
    def outer(source: str = "x", grid: dict[str, Any] = {"limit": 1}, threshold: float = 0.5):  # noqa: B006
        rows = load(source)
        inner(rows, grid, enabled=True)
        inner(rows, {"limit": 2}, enabled=rows[0] >= threshold)

    nodes = outer.graph.nodes
    assert nodes["inner.clean"].conditions == (Condition(Const(True)),)
    assert nodes["inner.clean"].args == (LOAD, Use("grid", is_param=True, path=(Item("limit"),)))
    assert nodes["inner.scale"].args == (LOAD, Use("grid", is_param=True, path=(Attr("factor"),)))
    comparison = Expr("ge", (Use("load", path=(Item(0),)), Use("threshold", is_param=True)))
    assert nodes["inner_2.clean"].conditions == (Condition(comparison),)
    assert nodes["inner_2.scale"].conditions == (Condition(comparison, negate=True),)
    assert nodes["inner_2.clean"].args == (LOAD, Expr("item", (Const({"limit": 2}), Const("limit"))))
    assert nodes["inner_2.clean"].upstream == {"load"}


def test_a_call_inside_when_guards_every_inserted_task():
    @pipeline
    def outer(source: str = "x", run_prep: bool = False):
        rows = load(source)
        with when(run_prep):
            prep(rows)

    guard = Condition(Use("run_prep", is_param=True))
    assert [n.conditions for k, n in outer.graph.nodes.items() if k != "load"] == [(guard,), (guard,)]


def test_sub_pipelines_nest_and_their_groups_nest_too():
    @pipeline
    def middle(rows: list[int]):
        return train(prep(rows), clean(rows, 1))

    @pipeline
    def outer(source: str = "x"):
        return middle(load(source))

    assert list(outer.graph.nodes) == [
        "load",
        "middle.prep.clean",
        "middle.prep.scale",
        "middle.clean",
        "middle.train",
    ]
    assert outer.graph.nodes["middle.prep.clean"].group == "middle.prep"
    assert outer.graph.nodes["middle.clean"].group == "middle"
    assert list(outer.graph.groups) == ["middle", "middle.prep"]
    assert outer.graph.nodes["middle.train"].args == (Use("middle.prep.scale"), Use("middle.clean"))


def test_group_keys_never_collide_with_task_keys():
    @task(name="prep")
    def prep_task(x: int) -> int:
        return x

    @pipeline
    def outer(source: str = "x"):
        prep_task(1)
        prep(load(source))
        prep_task(2)

    assert list(outer.graph.nodes) == ["prep", "load", "prep_2.clean", "prep_2.scale", "prep_3"]


def test_the_outer_task_defaults_fill_what_the_sub_pipeline_and_task_leave_unset():
    @task(retries=5)
    def stubborn(x: int) -> int:
        return x

    @pipeline(task_defaults={"timeout": 60})
    def inner(x: int):
        return stubborn(clean([x], x))

    @pipeline(task_defaults={"timeout": 3600, "retries": 2, "owner": "ml"})
    def outer(x: int = 1):
        return inner(x)

    options = {k: n.task.options for k, n in outer.graph.nodes.items()}
    assert (options["inner.clean"].timeout, options["inner.clean"].retries) == (60, 2)
    assert (options["inner.stubborn"].timeout, options["inner.stubborn"].retries) == (60, 5)
    assert options["inner.stubborn"].owner == "ml"


def test_the_output_of_a_sub_pipeline_can_order_tasks_with_rshift():
    @pipeline
    def outer(source: str = "x"):
        done = prep(load(source))
        done >> clean([1], 1)

    assert outer.graph.nodes["clean"].after == {"prep.scale"}


# --- errors at the call's line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "marker", "problem"),
    [
        (
            lambda: prep(),  # no-rows
            "no-rows",
            "missing a required argument: 'rows'; its parameters are (rows, limit, factor)",
        ),
        (
            lambda: prep([1], limt=2),  # typo
            "typo",
            """got an unexpected keyword argument 'limt' (did you mean "limit"?); its parameters are """
            "(rows, "
            "limit, factor)",
        ),
        (
            lambda: prep([1], limit="many"),  # bad-literal
            "bad-literal",
            "argument limit = 'many' does not fit int (Input should be a valid integer, unable to parse "
            "string "
            "as an integer); pass a value of that type or change the annotation",
        ),
    ],
    ids=["missing", "typo", "bad-literal"],
)
def test_a_bad_call_of_a_sub_pipeline_names_it_and_the_line(call, marker, problem):
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def outer():
            return call()

    assert str(info.value) == f"pipeline prep() at {where(marker)}: {problem}."
    assert info.value.location == where(marker)


def test_an_output_of_the_wrong_type_into_a_sub_pipeline_is_refused():
    @task
    def text() -> str:
        return "x"

    with pytest.raises(
        DefinitionError, match=r"argument limit gets the output of text, a str, but is annotated int"
    ):

        @pipeline
        def outer():
            return prep([1], limit=text())


def test_outside_a_pipeline_a_pipeline_is_still_not_run_by_calling_it():
    with pytest.raises(DefinitionError, match=r"^pipeline prep was called at .*, but pipelines are not run"):
        prep([1])


def test_a_sub_pipeline_returns_references_of_the_calling_pipeline():
    seen: list[Any] = []

    @pipeline
    def outer(source: str = "x"):
        seen.append(prep(load(source)))

    assert isinstance(seen[0], Ref) and seen[0]._graph_name == "outer"
