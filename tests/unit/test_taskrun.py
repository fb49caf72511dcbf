"""``suiro.taskrun``: one task at a time, inputs and outputs through the store, as an engine runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suiro import run
from suiro.errors import DefinitionError
from suiro.taskrun import TaskRunError, load_ref, run_task

TARGET = str(Path(__file__).parents[1] / "pipelines" / "compilable.py")


def _by_hand(target: str, params: dict, home: Path) -> dict:
    """Every task of ``small`` run one by one, as an engine would, chaining output references."""
    refs: dict = {}

    def call(key: str, inputs: dict, used: dict, **kw):
        return run_task(target, key, inputs=inputs, params=used, home=home, **kw)

    refs["numbers"] = call("numbers", {}, {"n": params["n"]})
    count = call("square", {"numbers": refs["numbers"]}, {}, mode="count")
    refs["square"] = [call("square", {"numbers": refs["numbers"]}, {}, index=i) for i in count]
    refs["frame"] = call("frame", {"square": refs["square"]}, {"scale": params["scale"]})
    refs["total"] = call("total", {"frame": refs["frame"]}, {})
    guard = {"total": refs["total"]}
    refs["big"] = call("big", guard, {"label": params["label"], "limit": params["limit"]})
    refs["small_"] = call("small_", guard, {"limit": params["limit"]})
    inputs = {k: refs[k] for k in ("total", "big", "small_")}
    refs["summary"] = call("summary", inputs, {"flag": params["flag"]})
    return refs


@pytest.mark.parametrize("n", [3, 2])
def test_tasks_run_one_by_one_give_what_suiro_run_gives(tmp_path: Path, n: int) -> None:
    params = {"n": n, "scale": 1.5, "label": "big", "limit": 10, "flag": True}
    expected = run(f"{TARGET}:small", params, record=False).output
    refs = _by_hand(f"{TARGET}:small", params, tmp_path)
    assert load_ref(refs["summary"], tmp_path) == expected
    skipped = "small_" if n == 3 else "big"
    assert refs[skipped] == {"suiro": 1, "state": "skipped"}
    assert refs["frame"]["serializer"] == "parquet" and "inline" not in refs["frame"]  # a file, by digest
    assert (tmp_path / "artifacts" / "objects" / refs["frame"]["digest"][:2]).is_dir()
    assert json.loads(refs["total"]["inline"]) == pytest.approx(21.0 if n == 3 else 7.5)


def test_a_guard_alone_and_an_unknown_key_and_a_bad_reference(tmp_path: Path) -> None:
    target = f"{TARGET}:small"
    total = run_task(target, "total", inputs={"frame": _frame(target, tmp_path)}, home=tmp_path)
    assert (
        run_task(target, "big", inputs={"total": total}, params={"limit": 100}, mode="when", home=tmp_path)
        is False
    )
    with pytest.raises(DefinitionError, match=r"pipeline small has no task 'totl' \(did you mean"):
        run_task(target, "totl", home=tmp_path)
    with pytest.raises(
        TaskRunError, match="task total: the input from frame is not a suiro output reference"
    ):
        run_task(target, "total", inputs={"frame": {"digest": "x"}}, home=tmp_path)
    with pytest.raises(DefinitionError, match="task total is not mapped: drop --index 2"):
        run_task(target, "total", inputs={"frame": _frame(target, tmp_path)}, index=2, home=tmp_path)


def _frame(target: str, home: Path) -> dict:
    return run_task(
        target, "frame", inputs={"square": [_int(target, home, 3)]}, params={"scale": 2.0}, home=home
    )


def _int(target: str, home: Path, value: int) -> dict:
    nums = run_task(target, "numbers", params={"n": value}, home=home)
    return run_task(target, "square", inputs={"numbers": nums}, index=value - 1, home=home)


def test_a_skipped_mapped_task_is_one_skipped_item_and_its_readers_are_skipped(tmp_path: Path) -> None:
    from suiro.taskrun import component_call

    target = f"{TARGET}:small"
    skipped = {"suiro": 1, "state": "skipped"}
    assert run_task(target, "square", inputs={"numbers": skipped}, mode="count", home=tmp_path) == skipped
    (item,) = component_call(target, "square", "count", {"numbers": skipped}, {}, -1, 0)
    assert json.loads(component_call(target, "square", "run", {}, {}, item, 0)) == skipped
    frame = run_task(target, "frame", inputs={"square": [skipped]}, params={"scale": 1.0}, home=tmp_path)
    assert frame == skipped  # all_success after a skipped upstream, as suiro run decides
    empty = run_task(target, "frame", inputs={"square": []}, params={"scale": 1.0}, home=tmp_path)
    assert empty["state"] == "success"  # a map over no items is not a skip


def test_the_task_timeout_stops_it_where_the_engine_has_none(tmp_path: Path) -> None:
    target = f"{TARGET}:slow"
    assert load_ref(run_task(target, "sleepy", params={"seconds": 0.01}, home=tmp_path), tmp_path) == 0.01
    with pytest.raises(
        TaskRunError,
        match=r"task sleepy failed: .*TaskTimeoutError: task sleepy ran past its timeout of 0\.2 s",
    ):
        run_task(target, "sleepy", params={"seconds": 5.0}, home=tmp_path)


_ONE_TASK = """
import atexit, json, sys
from pathlib import Path
from suiro import taskrun

marker = Path(sys.argv[2])
atexit.register(lambda: marker.write_text("the interpreter's teardown ran"))  # runs after later ones
taskrun.component_call(sys.argv[1], sys.argv[3], "run", {}, {"n": 2}, -1, -1)
print("task done", flush=True)
"""


@pytest.mark.parametrize(("key", "code", "teardown"), [("numbers", 0, False), ("no_such_task", 1, True)])
def test_after_a_task_that_ended_well_its_process_leaves_without_the_native_teardown(
    tmp_path: Path, key: str, code: int, teardown: bool
) -> None:
    """pyarrow can abort a process in the interpreter's teardown after a Parquet read
    (apache/arrow#34314): a one-task process that succeeded leaves before it, with status 0; one
    whose task failed exits as Python does, its failure reported."""
    import subprocess
    import sys

    marker = tmp_path / "teardown"
    proc = subprocess.run(
        [sys.executable, "-c", _ONE_TASK, TARGET + ":small", str(marker), key],
        env={**__import__("os").environ, "SUIRO_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == code, proc.stderr
    assert ("task done" in proc.stdout) is (code == 0)
    assert marker.exists() is teardown
