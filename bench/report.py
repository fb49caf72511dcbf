"""Turn benchmark samples into medians and ranges, and those into one Markdown table.

A cell is ``median (min..max)``; peers' cells end with ``Rx``, their ratio to suiro
(above 1x: suiro is cheaper). Per-task overhead subtracts the plain-Python floor's median.
"""

from __future__ import annotations

import datetime
import statistics
from typing import Any

FIELDS = ("seconds", "steady", "wall", "peak_rss_mb", "sequential", "parallel", "speedup", "rerun", "rerun2")
NOT_RUN = "-"
SCALE = (100, 1_000, 10_000, 100_000)


def summarize(samples: list[dict[str, Any]], tools: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``{"w1:200": {tool: {"error": str | None, field: [median, min, max], "n": runs}}}``."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for s in samples:
        entry = values.setdefault(f"{s['workload']}:{s['size']}", {}).setdefault(s["tool"], {"errors": []})
        if "error" in s:
            entry["errors"].append(s["error"])
            continue
        for field in FIELDS:
            if isinstance(s.get(field), int | float):
                entry.setdefault(field, []).append(float(s[field]))
        entry["rerun_note"] = s.get("rerun_note")
    summary: dict[str, dict[str, Any]] = {}
    for key, per_tool in values.items():
        for tool, entry in per_tool.items():
            runs = entry.get("seconds", [])
            cell: dict[str, Any] = {"n": len(runs), "error": None if runs else (entry["errors"] or ["?"])[0]}
            cell.update(
                {f: [statistics.median(v), min(v), max(v)] for f, v in entry.items() if f in FIELDS and v}
            )
            cell["rerun_note"] = entry.get("rerun_note")
            summary.setdefault(key, {})[tool] = cell
    return summary


def num(x: float) -> str:
    """Three significant digits, without exponents."""
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}" if abs(x) >= 0.01 else f"{x:.4f}"


def spread(med: float, lo: float, hi: float, unit: str = "") -> str:
    """``med (lo..hi)``, or just ``med`` for a single run."""
    if num(lo) == num(hi):
        return f"{num(med)}{unit}"
    return f"{num(med)}{unit} ({num(lo)}..{num(hi)})"


def ratio(value: float, suiro: float | None) -> str:
    if not suiro or suiro <= 0 or value <= 0:
        return ""
    r = value / suiro
    return f" · {r:.0f}x" if r >= 10 else f" · {r:.1f}x"


class Table:
    """Rows of the one table: a label, a metric, and one cell per tool."""

    def __init__(self, summary: dict[str, dict[str, Any]], tools: tuple[str, ...]):
        self.summary, self.tools = summary, tools
        self.rows: list[tuple[str, str, list[str]]] = []

    def cell(self, key: str, tool: str) -> dict[str, Any] | None:
        return self.summary.get(key, {}).get(tool)

    def add(self, label: str, metric: str, key: str, show: Any) -> None:
        """Add a row whose cells are ``show(tool, stats)`` (stats never has an error)."""
        if key not in self.summary:
            return
        cells = []
        for tool in self.tools:
            stats = self.cell(key, tool)
            if stats is None:
                cells.append(NOT_RUN)
            elif stats["error"]:
                cells.append(f"n/a ({stats['error']})")
            else:
                cells.append(show(tool, stats))
        self.rows.append((label, metric, cells))

    def per_task(self, label: str, key: str, tasks: int, field: str = "seconds") -> None:
        """Per-task cost over the floor: ``seconds`` is the workload's first run in the process
        (cold), ``steady`` its second run right after (steady state)."""
        if field == "steady" and not any("steady" in (c or {}) for c in self.summary.get(key, {}).values()):
            return
        floor = (self.cell(key, "plain") or {}).get(field, [0.0])[0]
        suiro = self.cell(key, "suiro") or {}
        suiro_ms = (suiro[field][0] - floor) / tasks * 1000 if field in suiro else None

        def show(tool: str, s: dict[str, Any]) -> str:
            if field not in s:
                return NOT_RUN
            if tool == "plain":
                return f"{num(s[field][0] / tasks * 1e6)} µs/task (floor)"
            med, lo, hi = ((v - floor) / tasks * 1000 for v in s[field])
            return spread(med, lo, hi) + ("" if tool == "suiro" else ratio(med, suiro_ms))

        metric = "ms per task over floor" + (", steady state" if field == "steady" else ", cold")
        self.add(label, metric, key, show)

    def seconds(self, label: str, metric: str, key: str, field: str = "seconds") -> None:
        base = (self.cell(key, "suiro") or {}).get(field, [None])[0]

        def show(tool: str, s: dict[str, Any]) -> str:
            med, lo, hi = s[field]
            return spread(med, lo, hi, " s") + ("" if tool in ("suiro", "plain") else ratio(med, base))

        self.add(label, metric, key, show)

    def rss(self, label: str, key: str) -> None:
        self.add(label, "peak RSS MB", key, lambda tool, s: spread(*s["peak_rss_mb"]))

    def markdown(self, title: str) -> str:
        head = ["workload", "metric", *self.tools]
        lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += [f"| {label} | {metric} | " + " | ".join(cells) + " |" for label, metric, cells in self.rows]
        return "\n".join(lines)


def w2b_cell(tool: str, s: dict[str, Any]) -> str:
    return f"{num(s['speedup'][0])}x ({num(s['sequential'][0])} → {num(s['parallel'][0])} s)"


def w3_cell(floor: float) -> Any:
    def show(tool: str, s: dict[str, Any]) -> str:
        med, lo, hi = s["seconds"]
        extra = " (floor)" if tool == "plain" else f" ({(med / floor - 1) * 100:+.0f} % vs floor)"
        return spread(med, lo, hi, " s") + (extra if floor else "")

    return show


def w4_cell(suiro: float | None) -> Any:
    def show(tool: str, s: dict[str, Any]) -> str:
        if tool == "plain":
            return NOT_RUN
        if "rerun" not in s:
            return s.get("rerun_note") or "no cache"
        med, cold = s["rerun"][0], s["seconds"][0]
        text = spread(*s["rerun"], " s") + ("" if tool == "suiro" else ratio(med, suiro))
        text += f", {med / cold * 100:.1f} % of W3"
        if "rerun2" in s and s["rerun2"][0] < 0.5 * med:
            text += f"; 2nd rerun {num(s['rerun2'][0])} s"
        return text

    return show


def scale_rows(t: Table, shape: str, sizes: list[int]) -> None:
    """suiro's chain or fan-out at growing sizes: per-task cost, cold (and the marginal one since the
    last size) and, where measured, in steady state; peak RSS and its growth per task."""
    previous: tuple[int, float, float] | None = None
    workload = "w1" if shape == "chain" else "w2"
    for n in sizes:
        key = f"{workload}:{n}"
        tasks = n if shape == "chain" else n + 1
        floor = (t.cell(key, "plain") or {}).get("seconds", [0.0])[0]
        cells = []
        for tool in t.tools:
            s = t.cell(key, tool)
            if tool not in ("plain", "suiro") or s is None:
                cells.append(NOT_RUN)
            elif s["error"]:
                cells.append(f"n/a ({s['error']})")
            elif tool == "plain":
                cells.append(f"{num(s['seconds'][0] * 1000)} ms total (floor)")
            else:
                total, rss = s["seconds"][0], s["peak_rss_mb"][0]
                text = f"{num((total - floor) / tasks * 1000)} ms/task"
                if previous:
                    text += f" (marginal {num((total - previous[1]) / (n - previous[0]) * 1000)})"
                if "steady" in s:
                    steady_floor = (t.cell(key, "plain") or {}).get("steady", [floor])[0]
                    text += f", steady {num((s['steady'][0] - steady_floor) / tasks * 1000)}"
                text += f", {num(rss)} MB"
                if previous:
                    text += f" (+{num((rss - previous[2]) * 1024 / (n - previous[0]))} KB/task)"
                cells.append(f"{text}, {num(total)} s")
                previous = (n, total, rss)
        t.rows.append((f"scale: {shape} {n:,}", "suiro ms/task, peak RSS, total", cells))


def render(summary: dict[str, dict[str, Any]], tools: tuple[str, ...], info: dict[str, Any]) -> str:
    """The one Markdown table, with a title line naming date, machine and mode."""
    t = Table(summary, tools)
    sizes = sorted(int(k.split(":")[1]) for k in summary if k.startswith("w2:"))
    chains = sorted(int(k.split(":")[1]) for k in summary if k.startswith("w1:"))
    peers_chains = [n for n in chains if set(summary[f"w1:{n}"]) - {"plain", "suiro"} or n not in SCALE]
    for n in peers_chains:
        t.per_task(f"W1 chain {n:,}", f"w1:{n}", n)
        t.per_task(f"W1 chain {n:,}", f"w1:{n}", n, "steady")
        t.rss(f"W1 chain {n:,}", f"w1:{n}")
    peers_sizes = [n for n in sizes if set(summary[f"w2:{n}"]) - {"plain", "suiro"} or n not in SCALE]
    for n in peers_sizes:
        t.per_task(f"W2 fan-out {n:,} + gather", f"w2:{n}", n + 1)
        t.per_task(f"W2 fan-out {n:,} + gather", f"w2:{n}", n + 1, "steady")
    if peers_sizes:
        t.rss(f"W2 fan-out {peers_sizes[-1]:,}", f"w2:{peers_sizes[-1]}")
    t.add("W2b 3 trainings", "speedup (sequential → processes)", "w2b:1", w2b_cell)
    floor = (t.cell("w3:1", "plain") or {}).get("seconds", [0.0])[0]
    t.add("W3 breast cancer", "timed run", "w3:1", w3_cell(floor))
    suiro_rerun = (t.cell("w3:1", "suiro") or {}).get("rerun", [None])[0]
    t.add("W4 rerun of W3", "in process, nothing changed", "w3:1", w4_cell(suiro_rerun))
    t.seconds("W5 start-up", "`--help` / import, whole process", "help:0")
    t.seconds("W5 start-up", "one-task pipeline, whole process", "w5:1")
    t.seconds("W5 start-up", "one-task, fresh home (Prefect, Airflow)", "fresh:1")
    scale_rows(t, "chain", [n for n in chains if n in SCALE])
    scale_rows(t, "fan-out", [n for n in sizes if n in SCALE])
    runs = f"median (min..max) of {info.get('reps')} runs"
    mode = "QUICK (1 run, small sizes)" if info.get("quick") else runs
    date = info.get("date") or datetime.date.today().isoformat()
    title = (
        f"**{date}** · {info.get('cores')} cores ({info.get('cpu')}) · "
        f"Python {info.get('python')} · {mode} · load average {info.get('load_before', ['?'])[0]} "
        f"before, {info.get('load_after', ['?'])[0]} after · {info.get('minutes')} min"
    )
    found = info.get("versions", {})
    if found:
        title += " · " + ", ".join(f"{k} {v}" for k, v in sorted(found.items()))
    return t.markdown(title)
