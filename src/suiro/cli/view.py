"""How a run looks on a terminal: a live table while it runs, a summary after.

Observes run events (it is a ``RunObserver``); on a terminal it draws a Rich live
view, otherwise it prints one plain line per change so logs stay greppable.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from suiro.cli.output import seconds, table
from suiro.cli.terminal import console as make_console
from suiro.events import Event, RunFinished, RunStarted, TaskMapped, TaskStateChanged
from suiro.graphrecord import node_keys
from suiro.labels import task_label
from suiro.runner import RunResult
from suiro.secrets import mask
from suiro.states import TaskState

STYLES = {
    TaskState.PENDING: "dim",
    TaskState.RUNNING: "cyan",
    TaskState.RETRYING: "yellow",
    TaskState.SUCCESS: "green",
    TaskState.CACHED: "green",
    TaskState.SKIPPED: "dim",
    TaskState.FAILED: "bold red",
    TaskState.UPSTREAM_FAILED: "red",
}
#: Past this many tasks the live table shows only the interesting rows.
MAX_ROWS = 20


@dataclass
class _Row:
    state: TaskState = TaskState.PENDING
    attempt: int = 0
    started: float | None = None
    ended: float | None = None
    size: int | None = None
    items: dict[int, TaskState] = field(default_factory=dict)

    def counts(self) -> dict[TaskState, int]:
        """How many mapped items are in each state now."""
        counts: dict[TaskState, int] = {}
        for state in self.items.values():
            counts[state] = counts.get(state, 0) + 1
        return counts

    note: str = ""


class RunView:
    """Live table (terminal) or plain lines (pipe) of one run's tasks."""

    def __init__(self, console: Console, *, live: bool):
        self.console = console
        self.rows: dict[str, _Row] = {}
        self.run_id = ""
        self._lock = threading.Lock()
        self._live = (
            Live(
                console=console,
                get_renderable=self._render,
                refresh_per_second=8,
                redirect_stdout=False,
                redirect_stderr=False,
                transient=True,
            )
            if live
            else None
        )

    def __enter__(self) -> RunView:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.stop()

    def notify(self, event: Event) -> None:
        """Record the event; in plain mode print it."""
        with self._lock:
            if isinstance(event, RunStarted):
                self.run_id = event.run_id
                self.rows = {key: _Row() for key in node_keys(event.graph)}
                resuming = f", resuming run {event.parent_run_id}" if event.parent_run_id else ""
                self.console.print(  # the run's own id first: scripts take the first id they see
                    f"run {event.run_id}: pipeline {event.pipeline}, {_count(self.rows)}, "
                    f"executor {event.executor}{resuming}",
                    highlight=False,
                )
            elif isinstance(event, TaskMapped):
                self._row(event.task_key).size = event.size
            elif isinstance(event, TaskStateChanged):
                self._on_state(event)
            elif isinstance(event, RunFinished) and self._live is None:
                self.console.print(f"run {event.run_id} {event.state.value}", highlight=False)

    def _row(self, key: str) -> _Row:
        """A task's row; a dynamic pipeline's tasks arrive as they are called."""
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = _Row()
        return row

    def _on_state(self, event: TaskStateChanged) -> None:
        row = self._row(event.task_key)
        if event.map_index >= 0:
            row.items[event.map_index] = event.state
            if event.state in (TaskState.RETRYING, TaskState.FAILED):
                self._print_plain(task_label(event.task_key, event.map_index), event)
            return
        if event.state is TaskState.RUNNING and row.started is None:
            row.started = event.time
        if event.state.is_terminal:
            row.ended = event.time
        row.state, row.attempt = event.state, max(row.attempt, event.attempt)
        if event.error is not None:
            row.note = _note(event)[:120]
        self._print_plain(event.task_key, event)

    def _print_plain(self, label: str, event: TaskStateChanged) -> None:
        if self._live is not None:
            return
        parts = [time.strftime("%H:%M:%S", time.localtime(event.time)), label, event.state.value]
        if event.attempt > 1 or event.state is TaskState.RETRYING:
            parts.append(f"attempt {event.attempt}")
        if event.delay is not None and not _is_poke(event):
            parts.append(f"retry in {event.delay:.2f}s")
        if event.duration is not None and event.state.is_terminal:
            parts.append(seconds(event.duration))
        if event.error is not None:
            parts.append(f"- {_note(event)[:200]}")
        self.console.print("  ".join(parts), highlight=False, soft_wrap=True)

    def _render(self) -> Group:
        with self._lock:
            grid = Table(box=None, pad_edge=False, show_edge=False)
            for name in ("task", "state", "attempt", "time", ""):
                grid.add_column(name)
            keys = list(self.rows)
            if len(keys) > MAX_ROWS:
                keys = [k for k in keys if self.rows[k].state not in (TaskState.PENDING, TaskState.SUCCESS)]
            for key in keys[:MAX_ROWS]:
                grid.add_row(*self._cells(key))
            done = total = 0
            for r in self.rows.values():
                size = r.size or 1
                total += size
                finished = sum(s.is_terminal for s in r.items.values())
                done += size if r.state.is_terminal else finished
            bar = ProgressBar(total=max(total, 1), completed=done, width=40)
            tasks_done = sum(r.state.is_terminal for r in self.rows.values())
            hidden = len(keys) - MAX_ROWS
            footer = Text(
                f" {tasks_done}/{len(self.rows)} tasks done"
                + (f", {hidden} rows hidden" if hidden > 0 else "")
            )
            return Group(grid, Group(bar, footer))

    def _cells(self, key: str) -> tuple[Any, ...]:
        row = self.rows[key]
        elapsed = ((row.ended or time.time()) - row.started) if row.started else None
        note = row.note
        if row.size is not None:
            counts = row.counts()
            running = counts.pop(TaskState.RUNNING, 0)
            text = ", ".join(f"{n} {s.value}" for s, n in counts.items())
            note = (
                f"{row.size} items"
                + (f": {text}" if text else "")
                + (f", {running} running" if running else "")
            )
            note += f"  {row.note}" if row.note else ""
        return (
            key + ("[*]" if row.size is not None else ""),
            Text(row.state.value, style=STYLES[row.state]),
            str(row.attempt or ""),
            f"{elapsed:.2f}s" if elapsed is not None else "",
            note,
        )


def _is_poke(event: TaskStateChanged) -> bool:
    """A sensor's poke that found nothing: it waits for the next poke (not a failure)."""
    return event.error is not None and event.error.poke is not None


def _note(event: TaskStateChanged) -> str:
    """The first line of an event's error; for a sensor's poke, ``waiting: poke N at ...: ...``."""
    assert event.error is not None
    if _is_poke(event):
        return f"waiting: {event.error.message}".splitlines()[0]
    text = str(event.error)
    return text.splitlines()[0] if text else ""


def make_view() -> RunView:
    """A view on stdout: live when stdout is a terminal, plain lines otherwise."""
    console = make_console(file=sys.stdout)
    return RunView(console, live=console.is_terminal)


def render_summary(result: RunResult, console: Console, *, verbose: bool = False) -> None:
    """The table printed after a run: every task's state, attempts, time, and errors."""
    rows = []
    for key, task in result.tasks.items():
        note = ""
        if task.map_size is not None:
            counts: dict[str, int] = {}
            for s in task.item_states:
                counts[s.value] = counts.get(s.value, 0) + 1
            note = f"{task.map_size} items" + (
                ": " + ", ".join(f"{n} {s}" for s, n in counts.items()) if counts else ""
            )
        if task.state is TaskState.FAILED and task.errors:
            note = (note + "  " if note else "") + str(task.errors[-1]).splitlines()[0][:200]
        label = f"{task.state.value} (tolerated)" if task.tolerated else task.state.value
        state = Text(label, style=STYLES[task.state])
        rows.append([key, state, task.attempts or "", seconds(task.duration), note])
    title = f"run {result.run_id}: {result.state.value}"
    console.print(table(["task", "state", "attempts", "time", "note"], rows, wrap=("note",), title=title))
    _print_failures(result, console, verbose=verbose)
    counts: dict[str, int] = {}
    for task in result.tasks.values():
        counts[task.state.value] = counts.get(task.state.value, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    console.print(
        f"run {result.run_id} {result.state.value} in {result.ended - result.started:.2f}s ({summary})",
        style="green" if result.ok else "bold red",
        highlight=False,
    )
    if not result.ok and result.error:  # the first task that failed, or why the run stopped
        console.print(f"error: {result.error}", style="red", highlight=False, markup=False)
    if result.output is not None:  # a failed run's too, when the tasks it reads ended ok
        render_output(result.output, console)


def render_output(output: Any, console: Console) -> None:
    """The pipeline's output as ``output: repr``; a summary dict holding a table of numbers
    (a dict of dicts, e.g. metrics per model) is drawn as that table and one line per key."""
    if not isinstance(output, dict) or not any(_is_table(v) for v in output.values()):
        text = mask(repr(output))
        console.print(
            f"output: {text if len(text) <= 500 else text[:497] + '...'}", highlight=False, markup=False
        )
        return
    for key, value in output.items():
        if _is_table(value):
            columns = sorted({c for row in value.values() for c in row})
            grid = Table(title=str(key), title_justify="left")
            for name in ["", *columns]:
                grid.add_column(name, justify="left" if not name else "right")
            for row_key, row in value.items():
                grid.add_row(str(row_key), *[_cell(row.get(c)) for c in columns])
            console.print(grid)
        else:
            console.print(mask(f"{key}: {value}"), highlight=False, markup=False)


def _is_table(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(row, dict) and all(isinstance(v, int | float | None) for v in row.values())
            for row in value.values()
        )
    )


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_failures(result: RunResult, console: Console, *, verbose: bool) -> None:
    for key, task in result.tasks.items():
        if task.state is not TaskState.FAILED or not task.errors:
            continue
        error = task.errors[-1]
        console.print(f"\n{key} failed: {error}", style="red", highlight=False, markup=False)
        if verbose and error.traceback:
            console.print(error.traceback, highlight=False, markup=False)
        if task.lines:
            tail = task.lines if verbose else task.lines[-10:]
            console.print(f"last output of {key}:", style="dim")
            console.print("\n".join("  " + line for line in tail), highlight=False, markup=False)


def _count(rows: dict[str, Any]) -> str:
    """How many tasks a run starts with; a dynamic pipeline's arrive as its body calls them."""
    return f"{len(rows)} tasks" if rows else "tasks as they are called"
