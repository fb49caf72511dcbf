"""Charts drawn as SVG on the server: a run's Gantt timeline of attempts and a metric over steps.

The timeline has one row per task (per item for a mapped task) and one bar per attempt,
coloured by the attempt's state, so retries show as several bars and the waits between them
as gaps. An attempt's start is its end minus its duration; one still running starts where
its task (or its previous attempt) did and reaches ``now``. Every label is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from suiro.labels import task_label

LABEL_W, CHART_W, ROW_H, AXIS_H = 190, 820, 18, 22
#: At most this many rows are drawn; the rest are counted in a last line.
MAX_ROWS = 200
_SERIES = ("#1f5fa8", "#b8521b", "#2f7d32", "#7b3fa0", "#9a7d0a", "#444")


def gantt(run: dict[str, Any], now: float) -> str:
    """The attempts of ``run`` (``queries.get_run``'s result) on a time axis from its start."""
    start = run["started"]
    end = run["ended"] or now
    bars = _bars(run, now)
    if not bars:
        return '<p class="muted">No attempt has started yet.</p>'
    rows = list(dict.fromkeys(label for label, *_ in bars))
    shown, hidden = rows[:MAX_ROWS], len(rows) - MAX_ROWS
    span = max(end - start, 1e-3)
    height = AXIS_H + len(shown) * ROW_H + 4
    width = LABEL_W + CHART_W + 10
    parts = [
        f'<svg class="gantt" role="img" aria-label="timeline of task attempts" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(5):  # the time axis: 0, a quarter, ... the whole run
        x = LABEL_W + CHART_W * i / 4
        anchor = ' text-anchor="end"' if i == 4 else ""
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{AXIS_H - 4}" x2="{x:.1f}" y2="{height}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="12"{anchor}>{_seconds(span * i / 4)}</text>')
    index = {label: i for i, label in enumerate(shown)}
    for i, label in enumerate(shown):
        y = AXIS_H + i * ROW_H
        parts.append(f'<text class="row-label" x="4" y="{y + 13}">{escape(label[:28])}</text>')
    for label, attempt, state, begin, finish in bars:
        if label not in index:
            continue
        x = LABEL_W + CHART_W * (begin - start) / span
        w = max(CHART_W * (finish - begin) / span, 2.0)
        y = AXIS_H + index[label] * ROW_H + 2
        tip = f"{label} attempt {attempt}: {state}, {_seconds(finish - begin)}"
        parts.append(
            f'<rect class="bar st-{escape(state, quote=True)}" x="{x:.1f}" y="{y}" width="{w:.1f}"'
            f' height="{ROW_H - 5}"><title>{escape(tip)}</title></rect>'
        )
    parts.append("</svg>")
    more = f'<p class="muted">{hidden} more rows not drawn.</p>' if hidden > 0 else ""
    return "".join(parts) + more


def _bars(run: dict[str, Any], now: float) -> list[tuple[str, int, str, float, float]]:
    """(row label, attempt, state, start, end) for each attempt."""
    started = {t["task_key"]: t["started"] for t in run["tasks"]}
    last_end: dict[str, float] = {}
    bars = []
    for a in run["attempts"]:
        label = task_label(a["task_key"], a["map_index"])
        if a["ended"] is not None and a["duration"] is not None:
            begin, finish = a["ended"] - a["duration"], a["ended"]
        else:
            begin = last_end.get(label) or started.get(a["task_key"]) or run["started"]
            finish = a["ended"] if a["ended"] is not None else now
        last_end[label] = finish
        bars.append((label, a["attempt"], a["state"], begin, max(finish, begin)))
    return bars


def metric_chart(name: str, series: dict[str, list[tuple[float, float]]]) -> str:
    """A line per series (task label -> (step, value) points) of metric ``name`` over steps."""
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    w, h, left, bottom = 420, 170, 56, 22
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def at(step: float, value: float) -> str:
        x = left + (w - left - 8) * (step - x0) / (x1 - x0)
        y = 8 + (h - bottom - 8) * (1 - (value - y0) / (y1 - y0))
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(name, quote=True)} over steps" width="{w}"'
        f' height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - 8}" y2="{h - bottom}"/>',
        f'<line class="axis" x1="{left}" y1="8" x2="{left}" y2="{h - bottom}"/>',
        f'<text class="tick" x="{left - 4}" y="14" text-anchor="end">{_number(y1)}</text>',
        f'<text class="tick" x="{left - 4}" y="{h - bottom}" text-anchor="end">{_number(y0)}</text>',
        f'<text class="tick" x="{left}" y="{h - 6}">step {_number(x0)}</text>',
        f'<text class="tick" x="{w - 8}" y="{h - 6}" text-anchor="end">{_number(x1)}</text>',
    ]
    for i, (label, values) in enumerate(sorted(series.items())):
        colour = _SERIES[i % len(_SERIES)]
        line = " ".join(at(s, v) for s, v in sorted(values))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{line}">'
            f"<title>{escape(label)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def runs_chart(name: str, points: list[dict[str, Any]]) -> str:
    """Metric ``name`` across runs (``search.metric_history``: oldest first), one dot per run
    coloured by its state, its id and value in the dot's title."""
    points = [p for p in points if _finite(p["value"])]  # a NaN (None) or infinite value has no place
    if not points:
        return ""
    w, h, left, bottom = 640, 190, 56, 22
    ys = [p["value"] for p in points]
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    step = (w - left - 16) / max(len(points) - 1, 1)

    def at(i: int, value: float) -> tuple[float, float]:
        return left + 8 + step * i, 8 + (h - bottom - 8) * (1 - (value - y0) / (y1 - y0))

    label = escape(name, quote=True)
    parts = [
        f'<svg class="chart runs-chart" role="img" aria-label="{label} across {len(points)} runs" width="{w}"'
        f' height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - 8}" y2="{h - bottom}"/>',
        f'<line class="axis" x1="{left}" y1="8" x2="{left}" y2="{h - bottom}"/>',
        f'<text class="tick" x="{left - 4}" y="14" text-anchor="end">{_number(y1)}</text>',
        f'<text class="tick" x="{left - 4}" y="{h - bottom}" text-anchor="end">{_number(y0)}</text>',
        f'<text class="tick" x="{left}" y="{h - 6}">oldest</text>',
        f'<text class="tick" x="{w - 8}" y="{h - 6}" text-anchor="end">newest</text>',
    ]
    line = " ".join("{:.1f},{:.1f}".format(*at(i, p["value"])) for i, p in enumerate(points))
    parts.append(f'<polyline fill="none" stroke="{_SERIES[0]}" stroke-width="1.2" points="{line}"/>')
    for i, p in enumerate(points):
        x, y = at(i, p["value"])
        tip = escape(f"{p['id']} ({p['state']}): {name} = {_number(p['value'])}")
        state = escape(p["state"], quote=True)
        dot = f'<circle class="point st-{state}" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
        parts.append(f"{dot}<title>{tip}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def metric_series(metrics: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Metrics logged with steps, as name -> task label -> points (those without steps are left out)."""
    charts: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for m in metrics:
        if m["step"] is None or not _finite(m["value"]):
            continue
        label = task_label(m["task_key"], m["map_index"])
        charts.setdefault(m["name"], {}).setdefault(label, []).append((m["step"], m["value"]))
    return {name: series for name, series in charts.items() if sum(map(len, series.values())) > 1}


def _finite(value: float | None) -> bool:
    """Whether a metric's value can be drawn: not a NaN (stored as None) nor infinite."""
    return value is not None and math.isfinite(value)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f}ms"
    return f"{value:.2f}s" if value < 10 else f"{value:.0f}s" if value < 600 else f"{value / 60:.0f}m"


def _number(value: float) -> str:
    return f"{value:.4g}"
