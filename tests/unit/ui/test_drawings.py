"""The UI's SVG: the graph's layout and boxes, the timeline's bars, the metric chart; all escaped."""

from __future__ import annotations

import re

from suiro.ui import charts, dag


def _node(key, upstream=(), **extra):
    return {
        "key": key,
        "upstream": list(upstream),
        "conditions": [],
        "map": False,
        "trigger_rule": "all_success",
        **extra,
    }


DIAMOND = {
    "name": "diamond",
    "nodes": [
        _node("source"),
        _node("double", ["source"]),
        _node("square", ["source"]),
        _node("combine", ["double", "square"]),
    ],
}


def test_layout_puts_each_task_one_column_after_what_it_waits_for():
    places = dag.layout(DIAMOND)
    assert places == {"source": (0, 0), "double": (1, 0), "square": (1, 1), "combine": (2, 0)}


def test_layout_orders_a_column_by_where_its_upstreams_are():
    graph = {"nodes": [_node("a"), _node("b"), _node("from_b", ["b"]), _node("from_a", ["a"])]}
    places = dag.layout(graph)
    assert places["from_a"][1] < places["from_b"][1]  # not definition order: no crossing edges


def test_boxes_carry_states_map_counts_guards_and_escaped_names():
    graph = {
        "nodes": [
            _node("<b>x</b>"),
            _node("each", ["<b>x</b>"], map=True),
            _node(
                "gate", ["each"], trigger_rule="all_done", conditions=[{"source": "each", "negate": False}]
            ),
        ]
    }
    tasks = {"each": {"state": "running", "items": {"success": 2, "running": 1}, "map_size": 3}}
    svg = dag.svg(graph, tasks, link=True)
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert 'class="node st-running" data-task="each"' in svg
    assert "3 items: 1 running, 2 success" in svg and 'class="stack"' in svg
    assert "all_done" in svg and 'stroke-dasharray="4 3"' in svg and ">when<" in svg
    assert 'href="#task-each"' in svg
    assert svg.count('class="node st-none"') == 2  # tasks the run has no row for yet


def test_the_timeline_has_one_bar_per_attempt_and_a_running_one_reaches_now():
    run = {
        "started": 100.0,
        "ended": None,
        "tasks": [{"task_key": "t", "started": 100.5}],
        "attempts": [
            {
                "task_key": "t",
                "map_index": -1,
                "attempt": 1,
                "state": "retrying",
                "ended": 101.0,
                "duration": 0.5,
            },
            {
                "task_key": "t",
                "map_index": -1,
                "attempt": 2,
                "state": "running",
                "ended": None,
                "duration": None,
            },
            {
                "task_key": "<i>",
                "map_index": 0,
                "attempt": 1,
                "state": "failed",
                "ended": 102.0,
                "duration": 1.0,
            },
        ],
    }
    svg = charts.gantt(run, now=104.0)
    bars = re.findall(r'<rect class="bar st-(\w+)" x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    assert [b[0] for b in bars] == ["retrying", "running", "failed"]
    x = {state: (float(left), float(width)) for state, left, width in bars}
    scale = charts.CHART_W / 4.0
    assert x["retrying"][0] == charts.LABEL_W + 0.5 * scale and x["retrying"][1] == 0.5 * scale
    assert x["running"][0] == charts.LABEL_W + 1.0 * scale and x["running"][1] == 3.0 * scale  # to now
    assert "&lt;i&gt;[0]" in svg and "<i>" not in svg


def test_metric_chart_draws_a_line_per_task_for_metrics_with_steps():
    metrics = [
        {"task_key": "train", "map_index": -1, "name": "loss", "value": 1.0 / (s + 1), "step": s}
        for s in range(4)
    ] + [{"task_key": "train", "map_index": -1, "name": "<auc>", "value": 0.9, "step": None}]
    series = charts.metric_series(metrics)
    assert list(series) == ["loss"] and len(series["loss"]["train"]) == 4
    svg = charts.metric_chart("<loss>", series["loss"])
    assert svg.count("<polyline") == 1 and "&lt;loss&gt;" in svg and "<loss>" not in svg
