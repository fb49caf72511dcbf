"""A pipeline's graph as an SVG picture, laid out here on the server (no JavaScript, no CDN).

Layered left to right: a task's column is the length of the longest path to it, and within a
column tasks are ordered by the mean row of what they wait for (one barycentre pass), which
keeps most edges short and uncrossed for the graphs pipelines have. Each box carries its
task's state as a class (``st-success``...), which the stylesheet colours and the live view
changes; a mapped task is drawn as a stack with its items' states counted. Every text is
escaped: task names come from user code and must render as text.
"""

from __future__ import annotations

from html import escape
from typing import Any

from suiro.drawing import edges, run_order

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 176, 46, 56, 16, 12
#: Tasks past which a graph is not drawn: the picture would be megabytes no one can read; the page
#: says how many there are and how to draw them (the task table lists them).
DRAW_LIMIT = 400
#: Characters of a task name that fit in a box; the full name is in the box's tooltip.
NAME_FIT = 24


def layout(graph: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Each node's (column, row); linear in nodes and edges (but for each column's sort)."""
    nodes = {n["key"]: n for n in graph.get("nodes", ())}
    order = run_order(graph) if nodes else []
    position = {key: i for i, key in enumerate(order)}
    column: dict[str, int] = {}
    members: dict[int, list[str]] = {}
    for key in order:
        column[key] = col = 1 + max((column[up] for up in nodes[key]["upstream"] if up in column), default=-1)
        members.setdefault(col, []).append(key)
    rows: dict[str, int] = {}
    for col in range(len(members)):

        def centre(key: str) -> float:
            ups = [rows[u] for u in nodes[key]["upstream"] if u in rows]
            return sum(ups) / len(ups) if ups else float(position[key])

        for row, key in enumerate(sorted(members[col], key=lambda k: (centre(k), position[k]))):
            rows[key] = row
    return {key: (column[key], rows[key]) for key in order}


def items_text(items: dict[str, int], size: int | None) -> str:
    """``3 items: 2 success, 1 failed`` for a mapped task."""
    counts = ", ".join(f"{n} {state}" for state, n in sorted(items.items()))
    total = size if size is not None else sum(items.values())
    return f"{total} items" + (f": {counts}" if counts else "")


def svg(graph: dict[str, Any], tasks: dict[str, dict[str, Any]] | None = None, *, link: bool = False) -> str:
    """The graph as an SVG element; ``tasks`` (key -> task row of a run) colours the boxes.

    With ``link``, each box links to ``#task-<key>`` (the run page's row of that task), so
    the picture can be walked with the keyboard.
    """
    tasks = tasks or {}
    count = len(graph.get("nodes", ()))
    if count > DRAW_LIMIT:
        return (
            f'<p class="muted">This pipeline has {count:,} tasks, too many to draw here (the limit is'
            f" {DRAW_LIMIT}); <code>suiro graph FILE.py</code> prints it as text, Mermaid or DOT.</p>"
        )
    places = layout(graph)
    if not places:
        return '<p class="muted">This pipeline has no recorded tasks.</p>'
    nodes = {n["key"]: n for n in graph["nodes"]}
    width = PAD * 2 + (max(c for c, _ in places.values()) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + (max(r for _, r in places.values()) + 1) * (BOX_H + GAP_Y) - GAP_Y + 6
    parts = [
        f'<svg class="dag" role="img" aria-label="task graph" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7"'
        ' orient="auto"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/></marker></defs>',
    ]
    for key in places:
        for up, label, guard in edges(nodes[key]):
            if up in places:
                parts.append(_edge(places[up], places[key], label, guard))
    for key, place in places.items():
        parts.append(_box(nodes[key], place, tasks.get(key), link=link))
    parts.append("</svg>")
    return "".join(parts)


def _xy(place: tuple[int, int]) -> tuple[int, int]:
    return PAD + place[0] * (BOX_W + GAP_X), PAD + place[1] * (BOX_H + GAP_Y)


def _edge(start: tuple[int, int], end: tuple[int, int], label: str, guard: bool) -> str:
    (x1, y1), (x2, y2) = _xy(start), _xy(end)
    x1, y1, y2 = x1 + BOX_W, y1 + BOX_H // 2, y2 + BOX_H // 2
    mid = (x1 + x2) // 2
    path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 2},{y2}"
    dashed = ' stroke-dasharray="4 3"' if guard else ""
    text = ""
    if label:
        text = f'<text class="edge-label" x="{mid}" y="{(y1 + y2) // 2 - 3}">{escape(label[:30])}</text>'
    return f'<path class="edge" d="{path}"{dashed} marker-end="url(#arrow)"/>{text}'


def _box(node: dict[str, Any], place: tuple[int, int], task: dict[str, Any] | None, *, link: bool) -> str:
    x, y = _xy(place)
    key = node["key"]
    state = (task or {}).get("state", "none")
    name = key if len(key) <= NAME_FIT else key[: NAME_FIT - 1] + "…"
    sub = state if task else ""
    if node.get("map"):
        sub = items_text((task or {}).get("items", {}), (task or {}).get("map_size")) if task else "map"
    if node.get("trigger_rule", "all_success") != "all_success":
        sub = (sub + " · " if sub else "") + node["trigger_rule"]
    stack = f'<rect class="stack" x="{x + 4}" y="{y + 4}" width="{BOX_W}" height="{BOX_H}" rx="4"/>'
    body = (
        f"<title>{escape(key)} ({escape(state)})</title>"
        + (stack if node.get("map") else "")
        + f'<rect class="box" x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4"/>'
        f'<text class="name" x="{x + 8}" y="{y + 18}">{escape(name)}</text>'
        f'<text class="sub" x="{x + 8}" y="{y + 36}">{escape(sub)}</text>'
    )
    if link:
        body = f'<a href="#task-{escape(key, quote=True)}">{body}</a>'
    return f'<g class="node st-{escape(state, quote=True)}" data-task="{escape(key, quote=True)}">{body}</g>'
