"""``suiro.compilers.plan``: which guards an engine can hold as blocks, and what each task reads."""

from __future__ import annotations

from pathlib import Path

from suiro import load_pipeline
from suiro.compilers.plan import plan

PIPELINES = Path(__file__).parents[1] / "pipelines" / "compilable.py"


def _plan(name: str):
    return plan(load_pipeline(f"{PIPELINES}:{name}").graph)


def test_guarded_tasks_and_all_their_all_success_readers_share_a_block() -> None:
    planned = _plan("gated")
    scopes = {k: [g.label for g in s.scope] for k, s in planned.steps.items()}
    assert scopes == {
        "fit": [],
        "big": ["fit > limit"],
        "small_": ["fit > limit"],
        "big_2": ["fit > limit"],
        "small__2": ["not fit > limit"],
    }
    assert planned.in_task == ()
    assert planned.steps["big_2"].reads == ("big", "fit", "small_")
    assert planned.steps["big"].params == ("limit",)  # the guard reads it


def test_a_guard_a_none_failed_task_looks_past_is_decided_in_the_task() -> None:
    planned = _plan("small")
    assert all(not s.scope for s in planned.steps.values())
    assert planned.in_task == ("not total > limit", "total > limit")


def test_blocks_nest_so_a_reader_of_two_sibling_blocks_keeps_only_the_first() -> None:
    planned = _plan("crossed")
    scopes = {k: [g.label for g in s.scope] for k, s in planned.steps.items()}
    assert scopes == {"fit": [], "big": ["fit > 2"], "small_": [], "join": ["fit > 2"]}
    assert planned.in_task == ("fit > 3",)
