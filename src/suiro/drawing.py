"""Drawings of a traced pipeline: plain text, Mermaid and Graphviz DOT.

Each works on the JSON description ``Graph.to_dict()`` makes (the one stored with every run),
so a recorded run can be drawn without its code. Pure: imports nothing from suiro.

Conventions shared by the three: a mapped node is a stack (``key[*]``); a ``when`` guard's edge is
labelled ``when`` (``not when`` for ``~ref``), or ``when <expression>`` when the guard is an
expression; an input computed by an expression labels its edge ``name = <expression>``; a
sub-pipeline's tasks are drawn inside a group (Mermaid ``subgraph``, DOT ``cluster_``, indented
text); the pipeline's description, owner and tags head the drawing.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from typing import Any


def text(data: dict[str, Any], params: Sequence[str]) -> str:
    """One line per node in a run order: key, what it waits for, and how.

    ``params`` are the parameters as ``name: type = default``. A group's nodes are indented
    under a line naming the group and its pipeline. The graph must have no cycle.
    """
    lines = [f"pipeline {data['name']}"]
    if about := _about(data):
        lines.append(f"  about: {about}")
    if params:
        lines.append("  params: " + ", ".join(params))
    if data.get("task_defaults"):
        lines.append("  task defaults: " + ", ".join(f"{k}={v!r}" for k, v in data["task_defaults"].items()))
    nodes = {n["key"]: n for n in data["nodes"]}
    groups = {g["key"]: g for g in data.get("groups", ())}
    opened: list[str] = []
    for key in run_order(data):
        node = nodes[key]
        chain = _chain(node.get("group", ""), groups)
        while opened and opened[-1] not in chain:
            opened.pop()
        for group in chain[len(opened) :]:
            lines.append(f"{'  ' * (len(opened) + 1)}{group}: {_group_title(groups[group])}")
            opened.append(group)
        bits = _bits(node, data)
        lines.append(f"{'  ' * (len(opened) + 1)}{key}" + (f"  <- {'; '.join(bits)}" if bits else ""))
    return "\n".join(lines) + "\n"


def mermaid(data: dict[str, Any]) -> str:
    """A Mermaid flowchart; a sub-pipeline is a ``subgraph``, descriptions are ``%%`` comments."""
    lines = ["flowchart TD"]
    if about := _about(data):
        lines.append(f"    %% pipeline {data['name']}: {_one_line(about)}")
    ids = {n["key"]: f"n{i}" for i, n in enumerate(data["nodes"])}
    for depth, item in _tree(data):
        pad = "    " * (depth + 1)
        if item is None:
            lines.append(f"{pad}end")
        elif "pipeline" in item:  # a group
            title = _mermaid_text(f"{item['key']}: {_group_title(item)}")
            lines.append(f'{pad}subgraph g{item["index"]}["{title}"]')
        else:
            key, mapped = item["key"], item["map"]
            label = _mermaid_text(f"{key}[*]" if mapped else key)
            if item.get("description"):
                lines.append(f"{pad}%% {key}: {_one_line(item['description'])}")
            lines.append(f'{pad}{ids[key]}{"[[" if mapped else "["}"{label}"{"]]" if mapped else "]"}')
    for node in data["nodes"]:
        for up, label, _ in edges(node):
            edge = f'-- "{_mermaid_text(label)}" -->' if label else "-->"
            lines.append(f"    {ids[up]} {edge} {ids[node['key']]}")
    return "\n".join(lines) + "\n"


def dot(data: dict[str, Any]) -> str:
    """A Graphviz digraph with the same conventions; a sub-pipeline is a ``cluster_`` subgraph."""
    lines = [f'digraph "{_dot_text(data["name"])}" {{', "    rankdir=TB;"]
    if about := _about(data):
        title = _dot_text(f"{data['name']}: {about}")
        lines.append(f'    label="{title}"; labelloc=t;')
    for depth, item in _tree(data):
        pad = "    " * (depth + 1)
        if item is None:
            lines.append(f"{pad}}}")
        elif "pipeline" in item:
            lines.append(f'{pad}subgraph "cluster_{_dot_text(item["key"])}" {{')
            lines.append(f'{pad}    label="{_dot_text(item["key"] + ": " + _group_title(item))}";')
        else:
            key, mapped = item["key"], item["map"]
            tip = f', tooltip="{_dot_text(item["description"])}"' if item.get("description") else ""
            label = _dot_text(f"{key}[*]" if mapped else key)
            lines.append(
                f'{pad}"{_dot_text(key)}" [shape={"box3d" if mapped else "box"}, label="{label}"{tip}];'
            )
    for node in data["nodes"]:
        for up, label, guard in edges(node):
            attrs = [f'label="{_dot_text(label)}"'] if label else []
            attrs += ["style=dashed"] if guard else []
            attr = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f'    "{_dot_text(up)}" -> "{_dot_text(node["key"])}"{attr};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def run_order(data: dict[str, Any]) -> list[str]:
    """A run order that keeps definition order where the edges allow (so a group stays together)."""
    keys = [n["key"] for n in data["nodes"]]
    position = {key: i for i, key in enumerate(keys)}
    waiting = {n["key"]: len(n["upstream"]) for n in data["nodes"]}
    down: dict[str, list[str]] = {key: [] for key in keys}
    for node in data["nodes"]:
        for up in node["upstream"]:
            down[up].append(node["key"])
    ready = [position[key] for key in keys if waiting[key] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        key = keys[heapq.heappop(ready)]
        order.append(key)
        for after in down[key]:
            waiting[after] -= 1
            if waiting[after] == 0:
                heapq.heappush(ready, position[after])
    return order


# --- shared pieces ---------------------------------------------------------------------------


def _about(data: dict[str, Any]) -> str:
    """``description (owner: x; tags: a, b)``, from what the pipeline has of the three."""
    extra = []
    if data.get("owner"):
        extra.append(f"owner: {data['owner']}")
    if data.get("tags"):
        extra.append(f"tags: {', '.join(data['tags'])}")
    description = _one_line(data.get("description") or "")
    if extra:
        return f"{description} ({'; '.join(extra)})" if description else "; ".join(extra)
    return description


def _group_title(group: dict[str, Any]) -> str:
    title = f"pipeline {group['pipeline']}"
    return f"{title} - {_one_line(group['description'])}" if group.get("description") else title


def _bits(node: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """What a node waits for and how, for its text line."""
    bits = []
    if node["upstream"]:
        bits.append("after " + ", ".join(node["upstream"]))
    if node["map"]:
        bits.append("map" + (f" (max {node['max_concurrency']} at once)" if node["max_concurrency"] else ""))
    for item in node.get("expressions", ()):
        bits.append(f"{item['input']} = {item['expression']}")
    for cond in node["conditions"]:
        bits.append(f"when {'not ' if cond['negate'] else ''}{cond.get('expression') or cond['source']}")
    if node["trigger_rule"] != "all_success":
        bits.append(node["trigger_rule"])
    if node.get("owner") and node["owner"] != data.get("owner"):
        bits.append(f"owner {node['owner']}")
    if node.get("tags"):
        bits.append("tags " + ", ".join(node["tags"]))
    return bits


def edges(node: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(upstream key, label or '', is a guard) for each edge into ``node`` (the web UI's SVG uses it too)."""
    for up in node["upstream"]:
        label, guard = "", False
        for cond in node["conditions"]:
            if cond.get("expression") and up in cond["sources"]:
                label, guard = f"when {'not ' if cond['negate'] else ''}{cond['expression']}", True
                break
            if cond["source"] == up and not cond.get("expression"):
                label, guard = f"{'not ' if cond['negate'] else ''}when", True
                break
        if not label:
            inputs = [e for e in node.get("expressions", ()) if up in e["sources"]]
            label = "; ".join(f"{e['input']} = {e['expression']}" for e in inputs)
        yield up, label, guard


def _chain(group: str, groups: dict[str, Any]) -> list[str]:
    """The groups a node is in, outermost first (``prep``, ``prep.clean``)."""
    return [g for g in groups if group == g or group.startswith(g + ".")] if group else []


def _tree(data: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Groups and nodes in definition order as (depth, item), ``None`` closing a group."""
    groups = {g["key"]: {**g, "index": i} for i, g in enumerate(data.get("groups", ()))}
    children: dict[str, list[dict[str, Any]]] = {"": []}
    for node in data["nodes"]:
        chain = ["", *_chain(node.get("group", ""), groups)]
        for parent, group in itertools.pairwise(chain):
            if group not in children:
                children[group] = []
                children[parent].append(groups[group])
        children[chain[-1]].append(node)

    def walk(group: str, depth: int) -> Iterator[tuple[int, dict[str, Any] | None]]:
        for item in children[group]:
            yield depth, item
            if "pipeline" in item:
                yield from walk(item["key"], depth + 1)
                yield depth, None

    return walk("", 0)


def _one_line(value: str) -> str:
    return " ".join(str(value).split())


def _mermaid_text(value: str) -> str:
    """Text safe inside a quoted Mermaid label (entity codes for quotes and angle brackets)."""
    return _one_line(value).replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _dot_text(value: str) -> str:
    return _one_line(value).replace("\\", "\\\\").replace('"', '\\"')
