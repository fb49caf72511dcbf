"""``@pipeline`` tracing: nodes, keys, edges, params, bindings, guards, and every definition-time error."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from pipelines import authoring_examples as examples

from suiro import Pipeline, Ref, pipeline, task, unmapped, when
from suiro.errors import CycleError, DefinitionError, SuiroError
from suiro.graph import EMPTY, Condition, Const, Node, Pack, Param, Unmapped, Use, iter_uses
from suiro.pathstep import Attr, Item, Not
from suiro.states import TriggerRule

HERE = Path(__file__)


def data_inputs(node: Node) -> set[str]:
    """Keys of the nodes whose outputs ``node`` consumes (its data edges, not ``when``/``>>``)."""
    return {u.source for b in (*node.args, *node.kwargs.values()) for u in iter_uses(b) if not u.is_param}


def line_of(marker: str) -> int:
    """The line of this file ending with the comment ``# <marker>`` (so tests survive reformatting)."""
    lines = HERE.read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, start=1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return hits[0]


def where(marker: str) -> str:
    """``file:line`` as errors print it: the full path of this file and the marked line."""
    return f"{HERE}:{line_of(marker)}"


def names_line(error: DefinitionError, marker: str) -> None:
    """The error names this test file and the marked line, in its message and its ``location``."""
    assert f"{HERE.name}:{line_of(marker)}" in str(error)
    assert error.location == where(marker)


@task
def load(path: str) -> dict[str, Any]:
    return {"rows": [1, 2], "meta": {"ok": True}}


@task
def train(data: list[float], factor: int) -> float:
    return sum(data) * factor


@task
def scale(data: list[float], factor: float = 1.0) -> list[float]:
    return [x * factor for x in data]


@task
def square(x: int) -> int:
    return x * x


@task
def combine(*parts: Any, **named: Any) -> list[Any]:
    return [*parts, named]


@task
def noop() -> None:
    pass


# --- nodes, keys, edges -----------------------------------------------------------------------


def test_tracing_records_one_node_per_call_without_running_anything():
    ran = []

    @task
    def spy(x: Any = None) -> Any:
        ran.append(x)
        return x

    traced = []

    @pipeline
    def p():
        traced.append("body")
        a = spy(1)  # node-a
        b = spy(a)
        assert isinstance(a, Ref)
        return b

    assert ran == []
    assert traced == ["body"]  # the body ran once, at definition time
    assert isinstance(p, Pipeline)
    assert list(p.graph.nodes) == ["spy", "spy_2"]
    node = p.graph.nodes["spy"]
    assert node.task is spy
    assert node.key == "spy"
    assert node.location == where("node-a")
    assert node.args == (Const(1),)
    assert node.kwargs == {}
    assert node.is_map is False
    assert node.conditions == ()
    assert node.trigger_rule is TriggerRule.ALL_SUCCESS
    assert repr(p) == "<pipeline p: 2 tasks>"


def test_the_same_task_called_again_gets_numbered_keys():
    @pipeline
    def p():
        square(1)
        noop()
        square(2)
        square(3)

    assert list(p.graph.nodes) == ["square", "noop", "square_2", "square_3"]
    assert [n.args for n in p.graph.nodes.values()] == [(Const(1),), (), (Const(2),), (Const(3),)]


def test_the_name_option_is_the_key():
    @task(name="prepare")
    def step() -> int:
        return 1

    @pipeline
    def p():
        step()
        step()

    assert list(p.graph.nodes) == ["prepare", "prepare_2"]


def test_numbered_keys_never_collide_with_a_task_of_that_name():
    @task(name="square_2")
    def other() -> int:
        return 0

    @pipeline
    def p():
        square(1)
        square(2)
        other()

    assert len(p.graph.nodes) == 3
    assert {n.task.name for n in p.graph.nodes.values()} == {"square", "square_2"}


def test_edges_come_from_data_inputs():
    @pipeline
    def p():
        a = load("x")
        b = train(a, 2)
        c = scale(data=a, factor=b)
        return combine(a, c)

    up = {k: n.upstream for k, n in p.graph.nodes.items()}
    assert up == {
        "load": set(),
        "train": {"load"},
        "scale": {"load", "train"},
        "combine": {"load", "scale"},
    }
    assert p.graph.nodes["scale"].kwargs == {"factor": Use("train"), "data": Use("load")}
    assert data_inputs(p.graph.nodes["scale"]) == {"load", "train"}


def test_the_pipeline_output_binding():
    @pipeline
    def one():
        return square(2)

    @pipeline
    def many():
        a = square(1)
        return {"a": a, "b": [a, square(2)], "c": 3}

    @pipeline
    def constant():
        square(1)
        return 42

    @pipeline
    def nothing():
        square(1)

    assert one.graph.output == Use("square")
    assert many.graph.output == Pack(
        "dict",
        (
            ("a", Use("square")),
            ("b", Pack("list", ((0, Use("square")), (1, Use("square_2"))))),
            ("c", Const(3)),
        ),
    )
    assert constant.graph.output == Const(42)
    assert nothing.graph.output is None


def test_pipeline_options_and_location():
    @pipeline(name="nightly", schedule="0 3 * * *")  # pipeline-options
    def p(n: int = 1):
        return square(n)

    assert p.name == p.graph.name == "nightly"
    assert p.schedule is not None and p.schedule.cron == "0 3 * * *"
    assert p.__name__ == "p"
    assert p.graph.location == where("pipeline-options")


# --- parameters -------------------------------------------------------------------------------


def test_params_come_from_the_signature_in_order():
    @pipeline
    def p(path: str, n: int = 100, factors: list[int] = (1, 2), threshold=0.5, *, tag: str | None = None):
        return train(load(path), n)

    assert p.params == p.graph.params
    assert p.params == (
        Param("path", str, EMPTY),
        Param("n", int, 100),
        Param("factors", list[int], [1, 2]),  # defaults are kept as their annotated type
        Param("threshold", EMPTY, 0.5),
        Param("tag", str | None, None),
    )
    assert [q.required for q in p.params] == [True, False, False, False, False]


def test_a_parameter_is_a_ref_that_adds_no_edge():
    @pipeline
    def p(path: str, n: int = 1):
        return train(load(path), factor=n)

    assert p.graph.nodes["load"].args == (Use("path", is_param=True),)
    assert p.graph.nodes["train"].kwargs == {"factor": Use("n", is_param=True)}
    assert p.graph.nodes["load"].upstream == set()
    assert p.graph.nodes["train"].upstream == {"load"}


def test_a_default_that_does_not_match_its_annotation_names_the_parameter_and_the_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline  # bad-default
        def training(n: int = 10, threshold: float = "high"):
            return square(n)

    message = str(info.value)
    assert re.match(
        re.escape(f"pipeline training at {where('bad-default')}: parameter threshold has default 'high', ")
        + r"which does not match its annotation \(.+\); fix the default or the annotation\.$",
        message,
    ), message
    assert info.value.task == "training"
    names_line(info.value, "bad-default")


@pytest.mark.parametrize(
    ("annotation", "default"),
    [(int, 1.5), (list[int], ["a"]), (dict[str, int], {"depth": "deep"}), (bool, "maybe")],
    ids=["int", "list", "dict", "bool"],
)
def test_defaults_are_checked_against_any_annotation(annotation, default):
    def p(value=default):
        return square(value)

    p.__annotations__ = {"value": annotation}

    with pytest.raises(
        DefinitionError, match=r"parameter value has default .* does not match its annotation"
    ):
        pipeline(p)


def test_a_default_that_only_coerces_to_its_annotation_is_rejected_or_coerced():
    def define():
        @pipeline
        def p(flag: bool = "no", threshold: float = "0.5"):
            return square(flag)

        return p

    try:
        p = define()
    except DefinitionError:
        return  # rejected at definition time: fine
    assert [q.default for q in p.params] == [False, 0.5]  # or coerced, so the run sees the annotated type
    assert isinstance(p.params[0].default, bool)


class Model:
    """An annotation pydantic cannot build a schema for."""


def test_a_default_for_an_annotation_pydantic_cannot_check_is_accepted():
    @pipeline
    def p(model: Model = "anything"):
        return square(model)

    assert p.params == (Param("model", Model, "anything"),)


def test_an_unreadable_annotation_is_a_definition_error():
    with pytest.raises(
        DefinitionError, match=r"^pipeline p at .*test_pipeline\.py:\d+: cannot read its annotations"
    ):

        @pipeline
        def p(x: NoSuchType = 1):  # noqa: F821
            return square(x)


def test_star_parameters_are_rejected():
    with pytest.raises(DefinitionError, match=r"pipeline p at .*: \*rest parameters are not supported"):

        @pipeline
        def p(*rest):
            return square(1)


# --- map --------------------------------------------------------------------------------------


def test_map_over_a_literal_list():
    @pipeline
    def p():
        return square.map([1, 2, 3])

    node = p.graph.nodes["square"]
    assert node.is_map is True
    assert node.args == (Const([1, 2, 3]),)
    assert node.max_concurrency is None


def test_map_over_a_parameter_and_an_unmapped_upstream_output():
    @pipeline
    def p(factors: list[int] = [1, 2]):  # noqa: B006
        data = load("x")
        return train.map(data=unmapped(data), factor=factors)

    node = p.graph.nodes["train"]
    assert node.is_map is True
    assert node.kwargs == {"data": Unmapped(Use("load")), "factor": Use("factors", is_param=True)}
    assert node.upstream == {"load"}


def test_map_over_an_upstream_output_with_an_unmapped_literal():
    @pipeline
    def p():
        rows = load("x")["rows"]
        return train.map(rows, unmapped(3), max_concurrency=4)

    node = p.graph.nodes["train"]
    assert node.args == (Use("load", path=(Item("rows"),)), Unmapped(Const(3)))
    assert node.max_concurrency == 4
    assert node.upstream == {"load"}


def test_map_over_a_list_of_refs_packs_them():
    @pipeline
    def p():
        a, b = square(1), square(2)
        return square.map([a, b, 3])

    node = p.graph.nodes["square_3"]
    assert node.args == (Pack("list", ((0, Use("square")), (1, Use("square_2")), (2, Const(3)))),)
    assert node.upstream == {"square", "square_2"}


@pytest.mark.parametrize("bad", [0, -2, 2.5])
def test_map_rejects_a_bad_max_concurrency_while_tracing(bad):
    with pytest.raises(
        DefinitionError,
        match=r"square\.map at .*test_pipeline\.py:\d+: "
        + re.escape(f"max_concurrency must be a positive integer, got {bad!r}."),
    ) as info:

        @pipeline
        def p():
            return square.map([1, 2], max_concurrency=bad)

    assert info.value.task == "square"


def test_a_bad_max_concurrency_names_the_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            return square.map([1, 2], max_concurrency=0)  # bad-concurrency

    names_line(info.value, "bad-concurrency")


@pytest.mark.parametrize(
    ("value", "shown"), [(5, "5 (int)"), ("abc", "'abc' (str)"), ({"a": 1}, "{'a': 1} (dict)")]
)
def test_map_over_a_literal_that_is_not_a_list_must_be_unmapped(value, shown):
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            return train.map([1.0], value)  # map-non-list

    assert str(info.value) == (
        f"train.map at {where('map-non-list')}: {shown} is not a list; "
        "wrap it in unmapped() to pass it whole to every item."
    )
    assert info.value.task == "train"
    names_line(info.value, "map-non-list")


def test_map_over_literal_lists_of_different_lengths_fails_while_tracing():
    with pytest.raises(
        DefinitionError,
        match=r"train\.map at .*test_pipeline\.py:\d+: the mapped lists differ in length \(2, 3\)",
    ) as info:

        @pipeline
        def p():
            return train.map([1.0, 2.0], [1, 2, 3])  # map-lengths

    names_line(info.value, "map-lengths")


# --- references -------------------------------------------------------------------------------


def test_index_attribute_and_negation_make_derived_references():
    @pipeline
    def p():
        table = load("x")
        square(table["rows"])
        square(table.meta)
        square(~table)
        square(table["meta"]["ok"][0].flag)
        square(~~table.ok)

    paths = [n.args[0] for n in list(p.graph.nodes.values())[1:]]
    assert paths == [
        Use("load", path=(Item("rows"),)),
        Use("load", path=(Attr("meta"),)),
        Use("load", path=(Not(),)),
        Use("load", path=(Item("meta"), Item("ok"), Item(0), Attr("flag"))),
        Use("load", path=(Attr("ok"), Not(), Not())),
    ]
    assert all(n.upstream == {"load"} for n in list(p.graph.nodes.values())[1:])


def test_a_ref_describes_itself_and_is_read_only():
    seen = {}

    @pipeline
    def p(path: str):
        table = load(path)
        seen["output"] = repr(table["rows"][0].name)
        seen["param"] = repr(~path)
        with pytest.raises(DefinitionError, match=r"the output of load is read-only"):
            table.rows = []
        with pytest.raises(AttributeError):
            _ = table._hidden

    assert seen == {
        "output": "<Ref the output of load['rows'][0].name>",
        "param": "<Ref parameter path (negated)>",
    }


def test_refs_inside_list_tuple_and_dict_literals_are_packed():
    @pipeline
    def p(n: int = 2):
        a = square(1)
        b = square(n)
        combine([a, 1], (b, [a]), {"x": a, "y": "lit"}, plain=[1, 2], nested={"k": [b]})

    node = p.graph.nodes["combine"]
    assert node.args == (
        Pack("list", ((0, Use("square")), (1, Const(1)))),
        Pack("tuple", ((0, Use("square_2")), (1, Pack("list", ((0, Use("square")),))))),
        Pack("dict", (("x", Use("square")), ("y", Const("lit")))),
    )
    assert node.kwargs == {
        "plain": Const([1, 2]),
        "nested": Pack("dict", (("k", Pack("list", ((0, Use("square_2")),))),)),
    }
    assert node.upstream == {"square", "square_2"}


def test_a_ref_from_another_pipeline_is_rejected():
    leaked = []

    @pipeline
    def first():
        leaked.append(square(1))

    with pytest.raises(DefinitionError, match=r"belongs to pipeline first, not second"):

        @pipeline
        def second():
            return square(leaked[0])


# --- when -------------------------------------------------------------------------------------


def test_when_records_conditions_on_the_nodes_inside_the_block_only():
    graph = examples.training.graph

    assert graph.nodes["register"].conditions == (Condition(Use("gate"), negate=False),)
    assert graph.nodes["alert"].conditions == (Condition(Use("gate"), negate=True),)
    assert graph.nodes["report"].conditions == ()
    assert graph.nodes["gate"].conditions == ()
    assert graph.nodes["register"].upstream == {"gate", "train"}
    assert data_inputs(graph.nodes["register"]) == {"train"}
    assert graph.nodes["report"].trigger_rule is TriggerRule.ONE_SUCCESS


def test_nested_when_on_derived_refs_and_parameters():
    @pipeline
    def p(flag: bool = True):
        table = load("x")
        with when(table["meta"]["ok"]):
            with when(~flag):
                inner = square(1)
            outer = square(2)
        with when(~~table.ready):
            double_negated = square(3)
        return [inner, outer, double_negated]

    nodes = p.graph.nodes
    ok = Use("load", path=(Item("meta"), Item("ok")))
    assert nodes["square"].conditions == (Condition(ok), Condition(Use("flag", is_param=True), negate=True))
    assert nodes["square_2"].conditions == (Condition(ok),)
    assert nodes["square_3"].conditions == (Condition(Use("load", path=(Attr("ready"),)), negate=False),)
    assert nodes["square"].upstream == {"load"}  # a parameter guard adds no edge


def test_when_of_a_value_that_is_not_a_ref_is_rejected():
    with pytest.raises(
        DefinitionError,
        match=r"^when\(\) at .*test_pipeline\.py:\d+ needs the output of a task or a parameter, got 42;",
    ):

        @pipeline
        def p():
            with when(42):
                square(1)


def test_when_of_a_value_that_is_not_a_ref_names_the_users_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            with when(True):  # when-literal
                square(1)

    names_line(info.value, "when-literal")


def test_when_outside_a_pipeline_is_rejected():
    with (
        pytest.raises(
            DefinitionError,
            match=r"when\(\) at .*test_pipeline\.py:\d+ is only allowed inside a @pipeline function",
        ),
        when(True),
    ):
        pass


def test_when_outside_a_pipeline_names_the_line():
    with pytest.raises(DefinitionError) as info, when(True):  # when-outside
        pass

    names_line(info.value, "when-outside")


# --- ordering with >> -------------------------------------------------------------------------


def test_rshift_orders_tasks_without_passing_data():
    @pipeline
    def p():
        a, b, c = noop(), noop(), noop()
        a >> b >> c
        d = noop()
        d << c
        return square(2)

    nodes = p.graph.nodes
    assert nodes["noop_2"].after == {"noop"}
    assert nodes["noop_3"].after == {"noop_2"}
    assert nodes["noop_4"].after == {"noop_3"}
    assert nodes["noop_2"].upstream == {"noop"}
    assert data_inputs(nodes["noop_2"]) == set()
    assert nodes["noop_2"].args == ()


def test_rshift_on_a_parameter_is_rejected_with_the_line():
    with pytest.raises(
        DefinitionError, match=r"^>> needs task outputs on both sides, got <Ref parameter n>"
    ) as info:

        @pipeline
        def p(n: int = 1):
            n >> noop()  # shift-param

    names_line(info.value, "shift-param")


def test_a_cycle_made_with_rshift_names_both_tasks():
    with pytest.raises(CycleError) as info:

        @pipeline
        def p():
            a = load("x")  # cycle-a
            b = train(a, 1)  # cycle-b
            b >> a

    err = info.value
    assert isinstance(err, DefinitionError)
    assert isinstance(err, ValueError)
    assert sorted(err.cycle[:-1]) == ["load", "train"]
    assert err.cycle[0] == err.cycle[-1]
    message = str(err)
    assert message.startswith("pipeline p has a cycle ")
    assert f"load ({where('cycle-a')})" in message
    assert f"train ({where('cycle-b')})" in message
    assert message.endswith("remove one of these dependencies.")


def test_a_task_ordered_after_itself_is_a_cycle():
    with pytest.raises(CycleError, match=r"has a cycle noop -> noop") as info:

        @pipeline
        def p():
            a = noop()
            a >> a

    assert info.value.cycle == ["noop", "noop"]


def test_a_cycle_is_listed_in_the_direction_the_tasks_run():
    with pytest.raises(CycleError) as info:

        @pipeline
        def p():
            a = square(1)
            b = square(a)
            c = square(b)
            c >> a

    cycle = info.value.cycle
    runs_before = {("square", "square_2"), ("square_2", "square_3"), ("square_3", "square")}
    assert set(itertools.pairwise(cycle)) == runs_before
    assert " -> ".join(cycle) in str(info.value)


# --- definition errors at the user's line -----------------------------------------------------


def test_a_ref_in_an_if_is_rejected_at_its_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            table = load("x")
            if table:  # ref-if
                square(1)

    assert str(info.value).startswith(
        f"the output of load was used as a Python bool (if/and/or/not) at {HERE}:"
    )
    assert "use `with when(ref):` for a branch" in str(info.value)
    assert info.value.task == "load"
    names_line(info.value, "ref-if")


def test_bool_of_a_parameter_is_rejected_at_its_line():
    with pytest.raises(DefinitionError, match=r"^parameter flag was used as a Python bool") as info:

        @pipeline
        def p(flag: bool = False):
            return square(bool(flag))  # ref-bool

    assert info.value.task == "flag"
    names_line(info.value, "ref-bool")


def test_a_derived_ref_in_and_is_rejected_at_its_line():
    with pytest.raises(
        DefinitionError, match=r"^the output of load\['ok'\] was used as a Python bool"
    ) as info:

        @pipeline
        def p():
            table = load("x")
            return square(table["ok"] and 1)  # ref-and

    names_line(info.value, "ref-and")


def test_iterating_a_ref_is_rejected_at_its_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            for row in load("x"):  # ref-for
                square(row)

    assert str(info.value).startswith(f"the output of load was iterated or unpacked at {HERE}:")
    assert "fan out with task.map(ref)" in str(info.value)
    names_line(info.value, "ref-for")


def test_unpacking_a_ref_is_rejected_at_its_line():
    with pytest.raises(DefinitionError, match=r"^the output of load\.pair was iterated or unpacked") as info:

        @pipeline
        def p():
            left, right = load("x").pair  # ref-unpack
            return combine(left, right)

    names_line(info.value, "ref-unpack")


def test_a_missing_argument_names_the_task_and_the_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            data = load("x")
            return train(data)  # missing-arg

    assert str(info.value) == (
        f"train() at {where('missing-arg')}: missing a required argument: 'factor'; "
        "its parameters are (data, factor)."
    )
    assert info.value.task == "train"
    names_line(info.value, "missing-arg")


def test_an_unknown_keyword_names_the_task_the_line_and_the_close_name():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            return scale.map(data=[[1.0]], facter=2)  # unknown-kwarg

    assert str(info.value) == (
        f"scale.map() at {where('unknown-kwarg')}: got an unexpected keyword argument 'facter' "
        '(did you mean "factor"?); its parameters are (data, factor).'
    )
    assert info.value.task == "scale"
    names_line(info.value, "unknown-kwarg")


def test_a_misspelled_required_keyword_is_named_as_unknown():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            return train(data=[1.0], fator=2)  # misspelled-kwarg

    assert "unexpected keyword argument 'fator'" in str(info.value)
    assert 'did you mean "factor"' in str(info.value)
    names_line(info.value, "misspelled-kwarg")


def test_too_many_arguments_names_the_task_and_the_line():
    with pytest.raises(DefinitionError, match=r"^square\(\) at .*: too many positional arguments") as info:

        @pipeline
        def p():
            return square(1, 2)  # too-many

    names_line(info.value, "too-many")


def test_calling_a_pipeline_says_how_to_run_it():
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            "but pipelines are not run by calling them; use suiro.run(training, params={...}) "
            "or `suiro run FILE.py:training`."
        ),
    ):
        examples.training(threshold=3)


def test_calling_a_pipeline_names_the_line():
    with pytest.raises(DefinitionError) as info:
        examples.training()  # call-pipeline

    names_line(info.value, "call-pipeline")


def test_defining_a_pipeline_while_tracing_another_is_rejected():
    with pytest.raises(
        DefinitionError, match=r"pipeline inner was defined while another pipeline was being traced"
    ):

        @pipeline
        def outer():
            @pipeline
            def inner():
                pass


def test_every_definition_error_is_a_suiro_error_and_a_type_error():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            return square()

    assert isinstance(info.value, SuiroError)
    assert isinstance(info.value, TypeError)


def test_a_failed_trace_leaves_no_tracer_behind():
    with pytest.raises(DefinitionError):

        @pipeline
        def broken():
            return square()

    assert square(3) == 9  # a plain call again, not a Ref


# --- type checks at definition time -------------------------------------------------------------


@task
def as_text(n: int) -> str:
    return str(n)


@task
def halve(x: float) -> float:
    return x / 2


def test_a_literal_that_cannot_fit_the_annotation_fails_at_its_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p():
            return square("seven")  # literal-type

    assert f"square() at {where('literal-type')}: argument x = 'seven' does not fit int" in str(info.value)
    assert info.value.location == where("literal-type")


def test_an_output_of_the_wrong_type_fails_at_the_consuming_line():
    with pytest.raises(
        DefinitionError, match=r"argument x gets the output of as_text, a str, but is annotated int"
    ):

        @pipeline
        def p():
            return square(as_text(1))


def test_compatible_types_are_accepted():
    @pipeline
    def p():
        return halve(square(3)), square("4"), halve.map([1, 2.5])  # int feeds float; "4" converts to 4

    assert set(p.graph.nodes) == {"square", "halve", "square_2", "halve_2"}


@task
def bare_items(n: int) -> list:
    return list(range(n))


@task
def any_items(n: int) -> list[Any]:
    return list(range(n))


@task
def unannotated_items(n):
    return list(range(n))


@task
def int_items(n: int) -> list[int]:
    return list(range(n))


@task
def text_items(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def test_mapping_over_a_list_that_says_nothing_against_int_is_accepted():
    @pipeline
    def p(n: int = 3):
        return [square.map(source(n)) for source in (bare_items, any_items, unannotated_items, int_items)]

    assert [p.graph.nodes[k].is_map for k in ("square", "square_2", "square_3", "square_4")] == [True] * 4


def test_mapping_over_a_list_of_str_into_int_is_refused_at_its_line():
    with pytest.raises(
        DefinitionError,
        match=r"^square\.map\(\) at .*: argument x gets the items of the output of text_items, each a str, "
        r"but is annotated int; pass a value of that type or change the annotation\.$",
    ) as info:

        @pipeline
        def p(n: int = 3):
            return square.map(text_items(n))  # map-str-int

    names_line(info.value, "map-str-int")
    with pytest.raises(  # a whole list (not mapped over) into an int is refused, bare or not
        DefinitionError, match=r"argument factor gets the output of bare_items, a list, but is annotated int"
    ):

        @pipeline
        def q(n: int = 3):
            return train.map(data=[[1.0], [2.0]], factor=unmapped(bare_items(n)))


_EVALUATED: list[str] = []


def _counted(what: str) -> type:
    """An annotation that notes each time it is evaluated (string annotations are evaluated lazily)."""
    _EVALUATED.append(what)
    return int


def test_tracing_reads_a_task_s_annotations_once_however_often_the_task_is_called():
    @task
    def step(x: _counted("x")) -> _counted("return"):  # type: ignore[valid-type]
        return x + 1

    _EVALUATED.clear()

    @pipeline
    def chain():
        ref = step(0)
        for _ in range(30):
            ref = step(ref)
        return ref

    assert len(chain.graph.nodes) == 31
    assert sorted(_EVALUATED) == ["return", "x"]


def test_annotations_replaced_after_a_trace_are_the_ones_checked():
    @task
    def step(x: int) -> int:
        return x + 1

    pipeline(lambda: step(1), name="first")
    step.fn.__annotations__ = {"x": str, "return": str}
    with pytest.raises(DefinitionError, match=r"argument x = 1 does not fit str"):
        pipeline(lambda: step(1), name="second")
