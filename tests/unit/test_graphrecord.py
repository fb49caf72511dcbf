"""A graph's stored form: each distinct call described once, read back as ``to_dict``'s form.

The record must say everything the node-by-node description says (``expand`` gives it back, for
every node: its own guards and expressions included), stay small for the big graphs loops make,
and records written before it (node by node, no ``format``) must still be read: they are in
every home made by an older suiro.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipelines import authoring_examples as examples

from suiro import graphrecord, pipeline, run, task, when
from suiro.store import queries
from suiro.store.db import Database
from suiro.ui import dag


@task
def first() -> int:
    """Where a chain starts."""
    return 0


@task
def link(x: int) -> int:
    """One more."""
    return x + 1


@task(allow_failure=True)
def optional(x: int) -> int:
    raise ValueError(f"optional step skipped for {x}")


def chain_of(n: int):
    @pipeline(name=f"chain_{n}")
    def p():
        ref = first()
        for _ in range(n - 1):
            ref = link(ref)
        return ref

    return p


@pytest.mark.parametrize("p", [examples.training, examples.everything], ids=lambda p: p.name)
def test_the_record_expands_to_every_node_with_what_its_node_object_says(p):
    record = p.graph.to_record()
    assert json.loads(json.dumps(record)) == record
    data = graphrecord.expand(record)
    assert "calls" not in data and "format" not in data
    assert [n["key"] for n in data["nodes"]] == list(p.graph.nodes) == graphrecord.node_keys(record)
    for entry in data["nodes"]:
        node = p.graph.nodes[entry["key"]]
        assert entry["upstream"] == sorted(node.upstream)
        assert (entry["task"], entry["map"], entry["location"]) == (
            node.task.name,
            node.is_map,
            node.location,
        )
        assert len(entry["conditions"]) == len(node.conditions)
        assert entry.get("group", "") == node.group


def test_a_loop_of_one_task_is_described_once_and_its_record_is_a_tenth_of_the_node_by_node_json():
    graph = chain_of(1_000).graph
    record = graph.to_record()

    assert [c["task"] for c in record["calls"]] == ["first", "link"]
    assert record["calls"][1]["description"] == "One more."
    assert record["nodes"][3] == ["link_3", 1, ["link_2"]]  # key, call, upstream: nothing repeated
    whole = len(json.dumps(graphrecord.expand(record), sort_keys=True))
    assert len(json.dumps(record, sort_keys=True)) * 10 < whole


def test_guards_in_a_loop_stay_with_their_own_node():
    @pipeline
    def guarded(flags: list[bool] = [True, False]):  # noqa: B006 - a default the graph records
        x = first()
        outs = []
        for i in range(3):
            with when(link(x) > i):
                outs.append(link(x))
        return outs

    record = guarded.graph.to_record()
    expanded = {n["key"]: n for n in graphrecord.expand(record)["nodes"]}
    guarded_nodes = [n for n in expanded.values() if n["conditions"]]
    assert len(guarded_nodes) == 3
    # Three guards, three different expressions (each compares with its own i): each node its own.
    assert len({json.dumps(n["conditions"], sort_keys=True) for n in guarded_nodes}) == 3
    assert expanded == {n["key"]: n for n in guarded.graph.to_dict()["nodes"]}


def test_records_written_node_by_node_are_read_as_they_are():
    old = {
        "name": "old",
        "params": [],
        "nodes": [
            {"key": "a", "upstream": [], "conditions": [], "task": "a", "map": False},
            {
                "key": "b",
                "upstream": ["a"],
                "conditions": [],
                "task": "b",
                "map": False,
                "allow_failure": True,
            },
        ],
    }
    assert graphrecord.expand(old) is old
    assert graphrecord.node_keys(old) == ["a", "b"]
    assert graphrecord.tolerated(old) == {"b"}


def test_a_run_recorded_before_this_form_is_still_drawn_and_read(suiro_home: Path):
    @pipeline(name="tolerant")
    def tolerant():
        return optional(first())

    done = run(tolerant, executor="sequential")
    db = Database.open()
    new = queries.run_graph(db, done.run_id)
    assert [n["key"] for n in new["nodes"]] == ["first", "optional"]
    assert done.ok and queries.get_run(db, done.run_id)["tasks"][1]["tolerated"] is True
    stored = json.loads(db.query("SELECT graph FROM pipelines")[0]["graph"])
    assert stored["format"] == graphrecord.FORMAT and "calls" in stored

    # The same run as an older suiro recorded it: its graph node by node.
    with db.write() as tx:
        tx.execute("UPDATE pipelines SET graph = :g", {"g": json.dumps(new, sort_keys=True)})
    assert queries.run_graph(db, done.run_id) == new
    assert queries.pipeline_graph(db, "tolerant") == new
    assert queries.get_run(db, done.run_id)["tasks"][1]["tolerated"] is True, "read from the old form"


def test_the_ui_says_how_many_tasks_a_graph_too_big_to_draw_has_and_draws_the_rest():
    big = chain_of(dag.DRAW_LIMIT + 1).graph.to_dict()
    picture = dag.svg(big)
    assert "<svg" not in picture and f"{dag.DRAW_LIMIT + 1:,} tasks" in picture

    drawn = chain_of(dag.DRAW_LIMIT).graph.to_dict()
    places = dag.layout(drawn)
    assert [places[n["key"]] for n in drawn["nodes"]] == [(i, 0) for i in range(dag.DRAW_LIMIT)]
    assert dag.svg(drawn).count('class="node ') == dag.DRAW_LIMIT
