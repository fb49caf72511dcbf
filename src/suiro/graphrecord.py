"""A pipeline graph's stored form: what many nodes share is written once.

Why: a run's graph is sent with its first event and stored with its runs (``pipelines.graph``).
Described node by node (``Graph.to_dict``), a 1,000,000-task chain's was 418 MB of JSON: every
node repeated its task's function, description, options and call site, and building, dumping,
hashing and writing it cost ~35 µs per task at the run's start, more per task the larger the run
(memory traffic). Here each distinct **call** (one task called at one place, mapped or not, in one
group) is described once, in ``calls``, and each node is ``[key, call, upstream]``, with a fourth
item only for what is its own (``conditions``, ``expressions``): the same chain is ~30 MB.

``expand`` gives back ``Graph.to_dict``'s form, which everything that draws or reads a graph takes;
a record written before this form (no ``format``) is already in it. Pure: imports nothing from suiro.
"""

from __future__ import annotations

from typing import Any

#: The record's ``format``; a record without one lists its nodes whole (the form before 2).
FORMAT = 2


def expand(record: dict[str, Any]) -> dict[str, Any]:
    """The graph as ``Graph.to_dict`` describes it: a dict per node (a record of either form)."""
    if record.get("format") != FORMAT:
        return record
    calls = record["calls"]
    nodes = []
    for node in record["nodes"]:
        data = {"key": node[0], "upstream": node[2], "conditions": [], **calls[node[1]]}
        if len(node) > 3:
            data.update(node[3])
        nodes.append(data)
    return {k: v for k, v in record.items() if k not in ("format", "calls")} | {"nodes": nodes}


def node_keys(record: dict[str, Any]) -> list[str]:
    """Every node's key, in the graph's order, without expanding the record."""
    if record.get("format") != FORMAT:
        return [node["key"] for node in record.get("nodes", ())]
    return [node[0] for node in record["nodes"]]


def tolerated(record: dict[str, Any]) -> set[str]:
    """Keys of the nodes whose failure does not fail the run (``allow_failure``)."""
    if record.get("format") != FORMAT:
        return {n["key"] for n in record.get("nodes", ()) if n.get("allow_failure")}
    calls = record["calls"]
    return {node[0] for node in record["nodes"] if calls[node[1]].get("allow_failure")}
