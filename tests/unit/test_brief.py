"""``suiro.brief``: past its limit, a run's rows keep what needs attention, in run order; the rest counted."""

from __future__ import annotations

from suiro.brief import brief


def rows(states: str) -> list[dict[str, str]]:
    names = {"s": "success", "c": "cached", "f": "failed", "r": "running", "k": "skipped"}
    return [{"task_key": f"t{i}", "state": names[s]} for i, s in enumerate(states)]


def keys(shown: list[dict[str, str]]) -> list[str]:
    return [t["task_key"] for t in shown]


def test_a_run_within_the_limit_is_shown_whole():
    tasks = rows("sfs")
    assert brief(tasks, 3) == (tasks, {})


def test_past_the_limit_what_did_not_succeed_comes_first_then_run_order_fills_it():
    shown, left = brief(rows("sssssfsssr"), 4)
    assert keys(shown) == ["t0", "t1", "t5", "t9"]  # the failed and the running one, kept in run order
    assert left == {"success": 6}


def test_more_tasks_needing_attention_than_the_limit_keeps_the_first_of_them():
    shown, left = brief(rows("sfkfkc"), 2)
    assert keys(shown) == ["t1", "t2"]
    assert left == {"cached": 1, "failed": 1, "skipped": 1, "success": 1}
