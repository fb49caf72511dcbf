"""The traced DAG: toposort, cycle check, downstream, ``to_dict`` and the text/Mermaid/DOT drawings.

Drawings are parsed back into edge sets and compared with ``node.upstream``; hypothesis builds
random DAGs through ``@pipeline`` and checks the order and the JSON round trip on each.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipelines import authoring_examples as examples

from suiro import Pipeline, pipeline, task, unmapped, when
from suiro.errors import CycleError
from suiro.graph import Graph, Node, Param, iter_uses

EXAMPLES = [examples.training, examples.everything]
EXPECTED_EDGES = {"training": examples.TRAINING_EDGES, "everything": examples.EVERYTHING_EDGES}


def edges_of(graph: Graph) -> set[tuple[str, str]]:
    """(upstream, downstream) pairs, from the nodes themselves."""
    return {(up, key) for key, node in graph.nodes.items() for up in node.upstream}


def assert_topological(graph: Graph, order: list[str]) -> None:
    assert sorted(order) == sorted(graph.nodes)
    position = {key: i for i, key in enumerate(order)}
    for up, key in edges_of(graph):
        assert position[up] < position[key], f"{up} must come before {key} in {order}"


# --- parsers for the drawings ----------------------------------------------------------------

TEXT_NODE = re.compile(r"^  (\w+)(?:  <- (.*))?$")
MERMAID_NODE = re.compile(r'^    (n\d+)(\[\[|\[)"(\w+)(\[\*\])?"(\]\]|\])$')
MERMAID_EDGE = re.compile(r'^    (n\d+) (?:-->|-- "(not )?when" -->) (n\d+)$')
DOT_NODE = re.compile(r'^    "(\w+)" \[shape=(box|box3d), label="(\w+)(\[\*\])?"\];$')
DOT_EDGE = re.compile(r'^    "(\w+)" -> "(\w+)"(?: \[label="(not )?when", style=dashed\])?;$')


def parse_text(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """Node keys in printed order, and each node's "; "-separated details."""
    lines = text.splitlines()
    order, details = [], {}
    for line in lines[1:]:
        if line.startswith("  params: "):
            continue
        match = TEXT_NODE.match(line)
        assert match, f"unexpected line {line!r}"
        order.append(match.group(1))
        details[match.group(1)] = match.group(2).split("; ") if match.group(2) else []
    return order, details


def parse_mermaid(text: str) -> tuple[dict[str, bool], set[tuple[str, str]], dict[tuple[str, str], str]]:
    """Nodes (key -> drawn as mapped), edges, and the labels of labelled edges."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    keys, mapped, edges, labels = {}, {}, set(), {}
    for line in lines[1:]:
        if node := MERMAID_NODE.match(line):
            ident, opener, key, star, closer = node.groups()
            assert (opener == "[[") == (closer == "]]") == (star is not None)
            keys[ident], mapped[key] = key, star is not None
        elif edge := MERMAID_EDGE.match(line):
            pair = (keys[edge.group(1)], keys[edge.group(3)])
            edges.add(pair)
            if "when" in line:
                labels[pair] = f"{edge.group(2) or ''}when"
        else:
            raise AssertionError(f"unexpected line {line!r}")
    return mapped, edges, labels


def parse_dot(text: str) -> tuple[dict[str, bool], set[tuple[str, str]], dict[tuple[str, str], str]]:
    """Nodes (key -> drawn as mapped), edges, and the labels of labelled edges."""
    lines = text.splitlines()
    assert lines[-1] == "}"
    assert lines[1] == "    rankdir=TB;"
    mapped, edges, labels = {}, set(), {}
    for line in lines[2:-1]:
        if node := DOT_NODE.match(line):
            key, shape, label, star = node.groups()
            assert key == label
            assert (shape == "box3d") == (star is not None)
            mapped[key] = star is not None
        elif edge := DOT_EDGE.match(line):
            pair = (edge.group(1), edge.group(2))
            edges.add(pair)
            if "when" in line:
                labels[pair] = f"{edge.group(3) or ''}when"
        else:
            raise AssertionError(f"unexpected line {line!r}")
    return mapped, edges, labels


# --- the example pipelines --------------------------------------------------------------------


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: p.name)
def test_node_upstream_matches_the_hand_written_edges(p):
    assert edges_of(p.graph) == EXPECTED_EDGES[p.name]


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: p.name)
def test_toposort_respects_every_edge(p):
    assert_topological(p.graph, p.graph.toposort())


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: p.name)
def test_downstream_is_upstream_inverted(p):
    down = p.graph.downstream()

    assert set(down) == set(p.graph.nodes)
    assert {(up, key) for up, keys in down.items() for key in keys} == edges_of(p.graph)


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: p.name)
def test_text_lists_every_node_in_run_order_with_what_it_waits_for(p):
    order, details = parse_text(p.graph.to_text())

    assert p.graph.to_text().splitlines()[0] == f"pipeline {p.name}"
    assert_topological(p.graph, order)
    for key, node in p.graph.nodes.items():
        after = [d for d in details[key] if d.startswith("after ")]
        assert after == ([f"after {', '.join(sorted(node.upstream))}"] if node.upstream else [])


def test_text_shows_params_map_guards_and_trigger_rules():
    text = examples.training.graph.to_text()
    _, details = parse_text(text)

    assert "  params: n: int = 100, factors: list[int] = [1, 2, 3], threshold: float = 100.0" in text
    assert details["train"] == ["after collect", "map"]
    assert details["register"] == ["after gate, train", "when gate"]
    assert details["alert"] == ["after gate, train", "when not gate"]
    assert details["report"] == ["after alert, register", "one_success"]
    assert parse_text(examples.everything.graph.to_text())[1]["square"] == ["map (max 2 at once)"]


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: p.name)
def test_mermaid_draws_every_node_and_edge(p):
    mapped, edges, _ = parse_mermaid(p.graph.to_mermaid())

    assert mapped == {key: node.is_map for key, node in p.graph.nodes.items()}
    assert edges == edges_of(p.graph)


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: p.name)
def test_dot_draws_every_node_and_edge(p):
    text = p.graph.to_dot()
    mapped, edges, _ = parse_dot(text)

    assert text.startswith(f'digraph "{p.name}" {{\n')
    assert mapped == {key: node.is_map for key, node in p.graph.nodes.items()}
    assert edges == edges_of(p.graph)


def test_guard_edges_are_labelled_in_both_drawings():
    graph = examples.training.graph
    expected = {("gate", "register"): "when", ("gate", "alert"): "not when"}

    assert parse_mermaid(graph.to_mermaid())[2] == expected
    assert parse_dot(graph.to_dot())[2] == expected


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: p.name)
def test_to_dict_is_json_and_lists_every_node_with_its_upstream(p):
    data = p.graph.to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["name"] == p.name
    assert [n["key"] for n in data["nodes"]] == list(p.graph.nodes)
    for entry in data["nodes"]:
        node = p.graph.nodes[entry["key"]]
        assert entry["upstream"] == sorted(node.upstream)
        assert entry["task"] == node.task.name
        assert entry["map"] == node.is_map
        assert entry["location"] == node.location


def test_to_dict_describes_params_options_and_guards():
    data = examples.everything.graph.to_dict()
    nodes = {n["key"]: n for n in data["nodes"]}

    assert data["params"] == [
        {"name": "path", "annotation": "str", "default": None, "required": True},
        {"name": "flag", "annotation": "bool", "default": True, "required": False},
    ]
    assert nodes["load"]["function"] == "pipelines.authoring_examples.load"
    assert nodes["load"]["options"] == {
        "retries": 0,
        "timeout": None,
        "tags": ["io"],
        "resources": {"cpu": 2},
    }
    assert (nodes["square"]["map"], nodes["square"]["max_concurrency"]) == (True, 2)
    assert nodes["publish"]["conditions"] == [
        {"source": "load", "negate": False},
        {"source": "flag", "negate": False},
    ]
    training = {n["key"]: n for n in examples.training.graph.to_dict()["nodes"]}
    assert training["report"]["trigger_rule"] == "one_success"
    assert training["collect"]["options"]["retries"] == 3
    assert training["train"]["options"]["timeout"] == 60
    assert examples.training.graph.to_dict()["params"][1] == {
        "name": "factors",
        "annotation": "list[int]",
        "default": [1, 2, 3],
        "required": False,
    }


NESTED = {1: {2}}


@task
def read(path: Path, options: dict[str, Any]) -> str:
    return str(path)


def test_to_dict_turns_defaults_json_cannot_hold_into_text():
    @pipeline
    def p(path: Path = Path("data.csv"), levels: tuple[int, ...] = (1, 2), opts: dict[int, Any] = NESTED):
        return read(path, {"levels": levels, "opts": opts})

    params = p.graph.to_dict()["params"]

    assert json.loads(json.dumps(params)) == params
    assert [q["default"] for q in params] == [repr(Path("data.csv")), [1, 2], {"1": repr({2})}]
    assert params[1]["annotation"] == "tuple[int, ...]"


def test_an_empty_pipeline_draws_nothing_but_its_name():
    @pipeline
    def empty():
        pass

    graph = empty.graph
    assert graph.toposort() == []
    assert graph.to_text() == "pipeline empty\n"
    assert graph.to_mermaid() == "flowchart TD\n"
    assert parse_dot(graph.to_dot()) == ({}, set(), {})
    assert graph.to_dict() == {"name": "empty", "params": [], "nodes": []}


# --- cycles in a hand-built graph -------------------------------------------------------------


def cyclic_graph() -> Graph:
    def node(key: str, after: set[str]) -> Node:
        return Node(
            key=key, task=examples.cleanup, args=(), kwargs={}, location=f"file.py:{ord(key)}", after=after
        )

    nodes = {"a": node("a", {"c"}), "b": node("b", {"a"}), "c": node("c", {"b"}), "d": node("d", set())}
    return Graph(name="loop", params=(Param("x"),), nodes=nodes)


@pytest.mark.parametrize("method", ["check", "toposort", "to_text"])
def test_a_cyclic_graph_is_rejected_by_check_toposort_and_to_text(method):
    with pytest.raises(CycleError, match=r"^pipeline loop has a cycle (\w) -> \w -> \w -> \1: ") as info:
        getattr(cyclic_graph(), method)()

    err = info.value
    assert sorted(err.cycle[:-1]) == ["a", "b", "c"]
    assert err.cycle[0] == err.cycle[-1]
    for key in "abc":
        assert f"{key} (file.py:{ord(key)})" in str(err)
    assert err.location == f"file.py:{ord(err.cycle[0])}"
    assert "d" not in err.cycle


# --- random DAGs ------------------------------------------------------------------------------


@task
def step(*inputs: Any) -> int:
    return len(inputs)


@st.composite
def dag_specs(draw: st.DrawFn) -> list[tuple[list[int], list[int], tuple[int, bool] | None, str]]:
    """Per node: data inputs, ``>>`` predecessors, an optional guard (node, negated), and a call style.

    Every index points at an earlier node, so the drawn graph is acyclic by construction.
    """
    spec = []
    for i in range(draw(st.integers(min_value=1, max_value=9))):
        data: list[int] = []
        after: list[int] = []
        guard = None
        if i:
            earlier = st.sampled_from(range(i))
            data = sorted(draw(st.sets(earlier, max_size=3)))
            after = sorted(draw(st.sets(earlier, max_size=2)))
            guard = draw(st.none() | st.tuples(earlier, st.booleans()))
        style = draw(st.sampled_from(["args", "pack", "map"]))
        spec.append((data, after, guard, style))
    return spec


def build(spec: list[tuple[list[int], list[int], tuple[int, bool] | None, str]]) -> Pipeline:
    """Trace a pipeline calling ``step`` once per drawn node, wired as drawn."""

    def body(scale: int = 1):
        refs: list[Any] = []
        for data, after, guard, style in spec:
            inputs = [refs[j] for j in data]
            with contextlib.ExitStack() as stack:
                if guard is not None:
                    ref = refs[guard[0]]
                    stack.enter_context(when(~ref if guard[1] else ref))
                if style == "args":
                    made = step(*inputs)
                elif style == "pack":
                    made = step(inputs, {"scale": scale})
                else:
                    made = step.map([1, 2], *(unmapped(r) for r in inputs))
            for j in after:
                refs[j] >> made
            refs.append(made)
        return refs[-1]

    return pipeline(body)


def data_inputs(node: Node) -> set[str]:
    """Keys of the nodes whose outputs ``node`` consumes (its data edges, not ``when``/``>>``)."""
    return {u.source for b in (*node.args, *node.kwargs.values()) for u in iter_uses(b) if not u.is_param}


def key(i: int) -> str:
    return "step" if i == 0 else f"step_{i + 1}"


@settings(max_examples=50, deadline=None)
@given(dag_specs())
def test_random_dags_trace_to_the_drawn_edges_and_toposort_respects_them(spec):
    graph = build(spec).graph

    assert list(graph.nodes) == [key(i) for i in range(len(spec))]
    for i, (data, after, guard, style) in enumerate(spec):
        node = graph.nodes[key(i)]
        expected = {key(j) for j in (*data, *after, *([guard[0]] if guard else []))}
        assert node.upstream == expected
        assert data_inputs(node) == {key(j) for j in data}
        assert node.after == {key(j) for j in after}
        assert node.is_map == (style == "map")
    assert_topological(graph, graph.toposort())
    assert_topological(graph, parse_text(graph.to_text())[0])


@settings(max_examples=50, deadline=None)
@given(dag_specs())
def test_random_dags_round_trip_through_json_and_draw_every_edge(spec):
    graph = build(spec).graph

    data = graph.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert {n["key"]: n["upstream"] for n in data["nodes"]} == {
        k: sorted(n.upstream) for k, n in graph.nodes.items()
    }
    assert parse_mermaid(graph.to_mermaid())[1] == edges_of(graph)
    assert parse_dot(graph.to_dot())[1] == edges_of(graph)


# -- steps and unused outputs (issue 12: ordering without data) ------------------------------------


@task
def _rows() -> list[int]:
    return [1]


@task
def _check(rows: list[int]) -> bool:
    return bool(rows)


@task
def _prep(rows: list[int]) -> list[int]:
    return rows


@task
def _fit(rows: list[int]) -> int:
    return len(rows)


def test_steps_group_the_nodes_that_share_no_dependency_in_trace_order():
    @pipeline
    def script():
        rows = _rows()
        _check(rows)
        return _fit(_prep(rows))

    assert script.graph.steps() == [["_rows"], ["_check", "_prep"], ["_fit"]]


def test_unused_names_outputs_nothing_reads_with_the_next_node_that_could_follow():
    @pipeline
    def script():
        rows = _rows()
        _check(rows)
        fitted = _fit(_prep(rows))
        _check(fitted)  # the last node traced: nothing could follow it
        return rows

    assert script.graph.unused() == {"_check": "_prep", "_check_2": None}


def test_unused_counts_an_ordering_edge_and_the_returned_outputs_as_used():
    @pipeline
    def ordered():
        rows = _rows()
        checked = _check(rows)
        prepared = _prep(rows)
        checked >> prepared
        return {"fit": _fit(prepared)}

    assert ordered.graph.unused() == {}
