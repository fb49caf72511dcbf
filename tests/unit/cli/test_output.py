"""``suiro.cli.output`` and ``suiro.cli.terminal``: the one home of how the CLI writes tables,
times, durations and numbers, and of its console's page width."""

from __future__ import annotations

import io
import time

from rich.text import Text

from suiro.cli.output import cut, number, seconds, table, when
from suiro.cli.terminal import console


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_gets_a_wide_page_and_a_terminal_its_own_width():
    assert console(file=io.StringIO()).width == 200
    assert console(file=_Terminal(), width=53).width == 53
    assert console(file=io.StringIO(), width=80).width == 80


def test_a_table_keeps_its_first_column_whole_and_lets_the_others_wrap():
    rows = [["20261201-150248-24326f", "a long pipeline name", None]]
    grid = table(["run", "pipeline", "resumes"], rows, title="runs")
    first, second, third = grid.columns
    assert (first.no_wrap, second.no_wrap, third.no_wrap) == (True, False, False)
    assert first.min_width == len("20261201-150248-24326f")
    assert grid.title == "runs"
    out = io.StringIO()
    console(file=out, width=40).print(grid)
    assert "20261201-150248-24326f" in out.getvalue()  # not cut although the page is narrow


def test_only_the_named_columns_wrap_and_styled_cells_keep_their_style():
    state = Text("failed", style="bold red")
    grid = table(["name", "state", "note"], [["cancer", state, 3]], wrap=("note",))
    assert [c.no_wrap for c in grid.columns] == [True, True, False]
    assert list(grid.columns[1].cells) == [state]
    assert list(grid.columns[2].cells) == ["3"]
    assert [c.no_wrap for c in table(["a", "b"], [], wrap=()).columns] == [True, True]


def test_times_durations_and_numbers():
    stamp = time.mktime((2026, 12, 1, 15, 4, 5, 0, 0, -1))
    assert when(stamp) == "2026-12-01 15:04:05"
    assert when(None) == "" and seconds(None) == "" and number(None) == ""
    assert seconds(1.23456) == "1.235s"
    assert number(0.1234567891) == "0.123457"


def test_cut_keeps_short_text_and_marks_where_long_text_was_cut():
    assert cut("short") == "short"
    long = "x" * 200
    assert cut(long) == "x" * 159 + "…" and len(cut(long)) == 160
    assert cut("abcdef", 4) == "abc…"
