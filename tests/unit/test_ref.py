"""References while tracing: expressions on task outputs build ``Expr`` bindings, and every use
that needs the value itself is a located ``DefinitionError`` that says what to do instead."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from suiro import pipeline, task, when
from suiro.errors import DefinitionError
from suiro.graph import Condition, Const, Expr, Use, describe
from suiro.pathstep import Item

HERE = Path(__file__)


def where(marker: str) -> str:
    """``file:line`` of the line of this file ending with ``# <marker>``."""
    lines = HERE.read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, start=1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return f"{HERE}:{hits[0]}"


@task
def evaluate(n: int) -> dict[str, float]:
    return {"accuracy": n / 10}


@task
def register(note: str) -> str:
    return note


@task
def read(path: str) -> str:
    return path


@task
def use(value: Any) -> Any:
    return value


@task
def count(n: int) -> int:
    return n


ACC = Use("evaluate", path=(Item("accuracy"),))
THRESHOLD = Use("threshold", is_param=True)


# --- expressions build bindings ---------------------------------------------------------------


def test_a_comparison_of_a_task_output_and_a_parameter_guards_a_branch():
    @pipeline
    def p(threshold: float = 0.8):
        metrics = evaluate(9)
        passed = metrics["accuracy"] >= threshold
        with when(passed):
            register("yes")
        with when(~passed):
            register("no")

    assert p.graph.nodes["register"].conditions == (Condition(Expr("ge", (ACC, THRESHOLD))),)
    assert p.graph.nodes["register_2"].conditions == (Condition(Expr("ge", (ACC, THRESHOLD)), negate=True),)
    assert p.graph.nodes["register"].upstream == {"evaluate"}


def test_text_joins_work_with_the_reference_on_either_side():
    @pipeline
    def p(workdir: str = "/data", name: str = "x"):
        return read(workdir + "/input.csv"), read("runs/" + name)

    workdir, name = Use("workdir", is_param=True), Use("name", is_param=True)
    assert p.graph.nodes["read"].args == (Expr("add", (workdir, Const("/input.csv"))),)
    assert p.graph.nodes["read_2"].args == (Expr("add", (Const("runs/"), name)),)


OPERATIONS = [
    (lambda r: r == 1, "eq", False),
    (lambda r: r != 1, "ne", False),
    (lambda r: r < 1, "lt", False),
    (lambda r: r <= 1, "le", False),
    (lambda r: r > 1, "gt", False),
    (lambda r: r >= 1, "ge", False),
    (lambda r: r + 1, "add", False),
    (lambda r: 1 + r, "add", True),
    (lambda r: r - 1, "sub", False),
    (lambda r: 1 - r, "sub", True),
    (lambda r: r * 1, "mul", False),
    (lambda r: 1 * r, "mul", True),
    (lambda r: r / 1, "truediv", False),
    (lambda r: 1 / r, "truediv", True),
    (lambda r: r // 1, "floordiv", False),
    (lambda r: 1 // r, "floordiv", True),
    (lambda r: r % 1, "mod", False),
    (lambda r: 1 % r, "mod", True),
    (lambda r: r**1, "pow", False),
    (lambda r: 1**r, "pow", True),
    (lambda r: r & 1, "and", False),
    (lambda r: 1 & r, "and", True),
    (lambda r: r | 1, "or", False),
    (lambda r: 1 | r, "or", True),
]


@pytest.mark.parametrize(
    ("make", "op", "reflected"), OPERATIONS, ids=[f"{o[1]}{'-r' * o[2]}" for o in OPERATIONS]
)
def test_every_operator_records_an_expression_with_its_operands_in_order(make, op, reflected):
    @pipeline
    def p():
        return use(make(count(3)))

    operands = (Const(1), Use("count")) if reflected else (Use("count"), Const(1))
    assert p.graph.nodes["use"].args == (Expr(op, operands),)
    assert p.graph.nodes["use"].upstream == {"count"}


def test_unary_operators_and_derived_references_of_expressions():
    @pipeline
    def p(a: int = 1, b: int = 2):
        total = a + b
        return (
            use(-total),
            use(abs(total)),
            use(+total),
            use((total * 2)["k"]),
            use(total.real),
            use(~(a < b)),
        )

    a, b = Use("a", is_param=True), Use("b", is_param=True)
    total = Expr("add", (a, b))
    args = [p.graph.nodes[k].args[0] for k in ("use", "use_2", "use_3", "use_4", "use_5", "use_6")]
    assert args == [
        Expr("neg", (total,)),
        Expr("abs", (total,)),
        Expr("pos", (total,)),
        Expr("item", (Expr("mul", (total, Const(2))), Const("k"))),
        Expr("attr", (total, Const("real"))),
        Expr("not", (Expr("lt", (a, b)),)),
    ]


def test_an_item_key_that_is_a_reference_is_an_expression():
    @pipeline
    def p(key: str = "accuracy"):
        return use(evaluate(1)[key])

    assert p.graph.nodes["use"].args == (Expr("item", (Use("evaluate"), Use("key", is_param=True))),)


def test_conditions_combine_with_and_or_and_not():
    @pipeline
    def p(threshold: float = 0.8, force: bool = False):
        metrics = evaluate(9)
        with when((metrics["accuracy"] >= threshold) | force):
            register("yes")

    (cond,) = p.graph.nodes["register"].conditions
    assert cond == Condition(Expr("or", (Expr("ge", (ACC, THRESHOLD)), Use("force", is_param=True))))
    assert describe(cond.use) == "(evaluate['accuracy'] >= threshold) | force"


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda a, b: a >= b, "a >= b"),
        (lambda a, b: (a >= 1) & (b < 2), "(a >= 1) & (b < 2)"),
        (lambda a, b: -(a + b), "-(a + b)"),
        (lambda a, b: (a + b)["k"], "(a + b)['k']"),
        (lambda a, b: a + b * 2, "a + b * 2"),
        (lambda a, b: (a + b) * 2, "(a + b) * 2"),
        (lambda a, b: a - (b - 1), "a - (b - 1)"),
        (lambda a, b: a ** (b**2), "a ** b ** 2"),
        (lambda a, b: (a**b) ** 2, "(a ** b) ** 2"),
        (lambda a, b: -(a**2), "-a ** 2"),
        (lambda a, b: ~a["ok"], "~a['ok']"),
        (lambda a, b: abs(a / b), "abs(a / b)"),
        (lambda a, b: a.real + "/" + b, "a.real + '/' + b"),
        (lambda a, b: (a + "x").upper, "(a + 'x').upper"),
    ],
)
def test_expressions_are_described_as_written(make, text):
    @pipeline
    def p(a: Any = 1, b: Any = 2):
        return use(make(a, b))

    assert describe(p.graph.nodes["use"].args[0]) == text


def test_a_comparison_is_a_bool_so_it_cannot_feed_a_str_parameter():
    with pytest.raises(
        DefinitionError,
        match=r"^register\(\) at .*: argument note gets evaluate\['accuracy'\] >= threshold, a bool, "
        r"but is annotated str; pass a value of that type or change the annotation\.$",
    ):

        @pipeline
        def p(threshold: float = 0.8):
            return register(evaluate(1)["accuracy"] >= threshold)


def test_an_expression_with_a_reference_of_another_pipeline_is_refused():
    @pipeline
    def other(n: int = 1):
        return count(n)

    leaked = {}

    @pipeline
    def first(n: int = 1):
        leaked["ref"] = count(n)

    with pytest.raises(
        DefinitionError, match=r"^<Ref the output of count> belongs to pipeline first, not second"
    ):

        @pipeline
        def second(n: int = 1):
            return use(count(n) + leaked["ref"])


# --- the exact trap: `if` on a comparison -------------------------------------------------------


def test_if_on_a_comparison_of_outputs_is_a_located_error_with_the_fix():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p(threshold: float = 0.8):
            metrics = evaluate(9)
            if metrics["accuracy"] >= threshold:  # if-compare
                register("yes")

    assert str(info.value) == (
        f"the expression evaluate['accuracy'] >= threshold was used as a Python bool (if/and/or/not) at "
        f"{where('if-compare')}; its value does not exist while the pipeline is traced, so use "
        "`with when(ref):` for a branch (and ~ref for its negation, a & b or a | b to combine)."
    )
    assert info.value.location == where("if-compare")
    assert info.value.task == "evaluate"


# --- what stays unsupported: one located sentence each --------------------------------------------


def _fstring(r: Any) -> Any:
    return f"{r}/input.csv"  # unsupported-fstring


def _format(r: Any) -> Any:
    return "{}/input.csv".format(r)  # noqa: UP032 # unsupported-format


def _str(r: Any) -> Any:
    return str(r)  # unsupported-str


def _percent(r: Any) -> Any:
    return "%s/input.csv" % r  # noqa: UP031 # unsupported-percent


def _len(r: Any) -> Any:
    return len(r)  # unsupported-len


def _join(r: Any) -> Any:
    return os.path.join(r, "input.csv")  # unsupported-join


def _join_second(r: Any) -> Any:
    return os.path.join("/data", r)  # unsupported-join-second


def _path(r: Any) -> Any:
    return Path(r)  # unsupported-path


def _method(r: Any) -> Any:
    return r.upper()  # unsupported-method


def _in_list(r: Any) -> Any:
    return r in ["a", "b"]  # unsupported-in-list


def _in_set(r: Any) -> Any:
    return r in {"a", "b"}  # unsupported-in-set


def _contains(r: Any) -> Any:
    return "a" in r  # unsupported-contains


def _dict_key(r: Any) -> Any:
    return {r: 1}  # unsupported-key


def _int(r: Any) -> Any:
    return int(r)  # unsupported-int


def _round(r: Any) -> Any:
    return round(r, 2)  # unsupported-round


def _list_index(r: Any) -> Any:
    return ["a", "b"][r]  # unsupported-index


def _xor(r: Any) -> Any:
    return r ^ 1  # unsupported-xor


def _set_item(r: Any) -> Any:
    r["k"] = 1  # unsupported-setitem


NUMBER = "was converted to a number (int(), float(), round() or a Python list index)"
UNSUPPORTED = [
    (_fstring, "fstring", "was formatted into text (an f-string or format())", "join text with +"),
    (_format, "format", "was formatted into text (an f-string or format())", "join text with +"),
    (_str, "str", "was turned into text (str(), print() or %)", "join text with +"),
    (_percent, "percent", "was turned into text (str(), print() or %)", "join text with +"),
    (_len, "len", "was given to len()", "take its length inside a task"),
    (_join, "join", "was used as a file path (os.path.join, Path or open)", "join paths with +"),
    (
        _join_second,
        "join-second",
        "was used as a file path (os.path.join, Path or open)",
        "join paths with +",
    ),
    (_path, "path", "was used as a file path (os.path.join, Path or open)", "join paths with +"),
    (_method, "method", "was called like a function (a method call on a task output?)", "call it inside"),
    (_in_list, "in-list", "was tested with `in`", "test membership inside a task"),
    (_in_set, "in-set", "was tested with `in`", "test membership inside a task"),
    (_contains, "contains", "was tested with `in`", "test membership inside a task"),
    (_dict_key, "key", "was used as a dict key or set member", "build that dict or set inside a task"),
    (_int, "int", NUMBER, "convert it inside a task"),
    (_round, "round", NUMBER, "convert it inside a task"),
    (_list_index, "index", NUMBER, "convert it inside a task"),
    (_xor, "xor", "was given to ^, which references do not support", "compute it inside a task"),
    (_set_item, "setitem", "is read-only (an item was set)", "set values inside a task instead"),
]


@pytest.mark.parametrize(("make", "marker", "what", "fix"), UNSUPPORTED, ids=[u[1] for u in UNSUPPORTED])
def test_an_unsupported_use_is_one_located_sentence_with_the_fix(make, marker, what, fix):
    subject = "parameter name" if marker not in {"method"} else "parameter name.upper"
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p(name: str = "x"):
            return use(make(name))

    message = str(info.value)
    assert re.match(
        rf"^{re.escape(f'{subject} {what} at ' + where('unsupported-' + marker))}; its value does not "
        rf"exist while the pipeline is traced, so {re.escape(fix)}[^;]*\.$",
        message,
    ), message
    assert info.value.location == where("unsupported-" + marker)


def test_other_errors_while_tracing_name_the_pipeline_and_the_line():
    with pytest.raises(DefinitionError) as info:

        @pipeline
        def p(n: int = 1):
            settings: dict[str, int] = {}
            return count(settings["depth"])  # trace-keyerror

    assert str(info.value) == (
        f"pipeline p: tracing it raised KeyError: 'depth' at {where('trace-keyerror')}; fix that line "
        "(the body runs once, while tracing, with references in place of task outputs and parameters)."
    )
    assert isinstance(info.value.__cause__, KeyError)
