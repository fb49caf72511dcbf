"""What the command line prints is shown, never obeyed: control characters escaped, markup literal.

Task and pipeline names, parameters, error messages and captured log lines are text from the
user's code or its dependencies. Written raw, an escape sequence in a task name recolours,
clears or retitles the terminal (or hides the text after it), and ``[bold red]`` in a name is
Rich markup. Every printer of the CLI goes through this module: plain lines through
``printable`` (``print(printable(x))``), Rich output through a ``console()``, whose markup is off
and whose every string is passed through ``printable`` before Rich lays it out (table cells and
titles included). Rich's own styling is not text, so colours still work.

Escaped: C0 controls but tab (and newline where lines are printed), DEL and the C1 controls
(U+0080-U+009F: ``\\x9b`` is a one-byte CSI on some terminals), as ``\\x1b``, ``\\r``, ``\\x9b``.
Imports Rich only when a console is made, so ``suiro --help`` stays fast.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def printable(value: object, *, newlines: bool = False) -> str:
    """``str(value)`` with every terminal control character shown as an escape (``\\x1b``).

    Args:
        value: what to print.
        newlines: keep newlines (text printed as several lines); otherwise they are shown as
            ``\\n`` too, so a one-line message stays one line.
    """
    text = str(value)
    return (_CONTROL_BUT_NEWLINE if newlines else _CONTROL).sub(_escape, text)


def console(**kwargs: Any) -> Any:
    """A Rich console for the CLI: markup off, every string shown through ``printable``.

    Piped (its file not a terminal), the page is 200 columns wide, so run ids, digests and
    times are never cut and a line stays one line for ``grep``; on a terminal, the terminal's
    width. Takes ``rich.console.Console``'s keyword arguments (default file: stdout);
    ``highlight`` and ``emoji`` default off.
    """
    kwargs.setdefault("highlight", False)
    kwargs.setdefault("emoji", False)
    if "width" not in kwargs:
        kwargs["width"] = None if (kwargs.get("file") or sys.stdout).isatty() else 200
    return _console_class()(markup=False, **kwargs)


@cache
def _console_class() -> type:
    from rich.console import Console

    class _Console(Console):
        """Every string Rich is given (printed, a table cell, a title) is escaped first."""

        def render_str(self, text: str, **kwargs: Any) -> Any:
            return super().render_str(printable(text, newlines=True), **kwargs)

    return _Console


def survive_closed_stdout() -> None:
    """Let this process outlive the reader of its standard output (``suiro run ... | head -1``).

    Without it the first write after ``head`` exits raised ``BrokenPipeError`` in the live view,
    and the run died half way, recorded ``crashed``. Once the pipe is closed, what is printed goes
    to ``/dev/null`` and the run goes on; its record says how it ended.
    """
    if not isinstance(sys.stdout, _Unbroken):
        sys.stdout = _Unbroken(sys.stdout)


class _Unbroken:
    """A text stream that swaps its file descriptor for ``/dev/null`` when its reader is gone."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
