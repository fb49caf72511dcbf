"""How every command writes: one-line errors, JSON, tables, and the formats of times and numbers.

One home for each, so ``runs``, ``show``, ``models`` and the run summary print a time, a
duration or a table the same way. Imports no command and nothing heavy: Rich loads when a
table is made.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

from suiro.cli.terminal import printable


@contextmanager
def errors(verbose: bool = False) -> Iterator[None]:
    """Print a suiro error as one line and exit 2; the traceback only with --verbose."""
    from suiro.errors import SuiroError

    try:
        yield
    except SuiroError as exc:
        if verbose:
            import traceback

            print(printable(_masked(traceback.format_exc()), newlines=True), end="", file=sys.stderr)
        print(f"error: {printable(_masked(str(exc)))}", file=sys.stderr)
        raise typer.Exit(2) from None


def _masked(text: str) -> str:
    """``text`` with secrets masked (a --set value may be one); as it is if they cannot be read."""
    from suiro.errors import SuiroError
    from suiro.secrets import mask

    try:
        return mask(text)
    except SuiroError:  # the error being reported is the unreadable secrets file itself
        return text


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (bytes shown as their length; a NaN or infinite number as
    null, as the HTTP API writes it: ``NaN`` and ``Infinity`` are not JSON, and jq refuses them)."""
    sys.stdout.write(json.dumps(_finite(data), indent=2, default=_jsonable, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    wrap: Collection[str] | None = None,
    title: str | None = None,
) -> Any:
    """A Rich table whose first column (a run id, a task, a name) is never cut, so it can be copied.

    Args:
        columns: the headers.
        rows: the cells; None is shown empty, a Rich renderable (a styled ``Text``) as it is,
            anything else as ``str``.
        wrap: the columns whose text may wrap; None: every column but the first.
        title: shown above the table, on the left.
    """
    from rich.table import Table

    widest = max((len(str(row[0])) for row in rows), default=0)
    grid = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        wraps = i > 0 if wrap is None else column in wrap
        grid.add_column(column, no_wrap=not wraps, min_width=widest if i == 0 else None)
    for row in rows:
        grid.add_row(*[_cell(value) for value in row])
    return grid


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return value if hasattr(value, "__rich_console__") else str(value)


def when(timestamp: float | None) -> str:
    """A recorded time, local: ``2026-12-01 15:04:05`` ("" if none)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else ""


def logical(run: Mapping[str, Any]) -> str:
    """The tick a scheduled run stands for, in its deployment's zone: ``2026-11-30 02:00 JST``
    ("" for a run started by hand)."""
    if run.get("logical_time") is None:
        return ""
    from suiro.wallclock import local_text

    return local_text(run["logical_time"], run.get("timezone"))


def seconds(value: float | None) -> str:
    """A duration: ``1.234s`` ("" if none)."""
    return "" if value is None else f"{value:.3f}s"


def cut(text: str, limit: int = 160) -> str:
    """``text`` in at most ``limit`` characters, ending in "…" when cut (so a cut is seen)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: float | None, *, missing: str = "") -> str:
    """A metric's value in six significant digits (``missing`` if none)."""
    return missing if value is None else f"{value:.6g}"


def report_problems(problems: list[dict[str, Any]], *, as_json: bool, none_found: str) -> NoReturn:
    """Print each problem as ``kind: message`` (or all as JSON) and exit 1 if there is any, else 0."""
    if as_json:
        print_json(problems)
    else:
        for problem in problems:
            print(printable(f"{problem['kind']}: {problem['message']}"))
        if not problems:
            print(none_found)
    raise typer.Exit(1 if problems else 0)
