"""Caching across real runs: what re-runs after each kind of change, and what is reused.

Runs are real (``suiro.run`` on the threads executor, SQLite and artifacts in ``SUIRO_HOME``).
Whether a task body executed is proven by a ledger file the bodies append to; recorded
states and ``suiro.history.explain`` are then checked against it. Pipelines whose code is
edited are written to ``tmp_path`` and loaded with ``suiro.load_pipeline``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pipelines import store_chain

import suiro
from suiro import RunState, TaskState, history
from suiro.memo import ITEM_BATCH
from suiro.store.artifacts import ArtifactStore
from suiro.store.db import Database


class Ledger:
    def __init__(self, path: Path):
        self.path = path

    def take(self) -> Counter[str]:
        """What ran since the last call (a multiset: threads may run tasks in any order)."""
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        self.path.unlink(missing_ok=True)
        return Counter(lines)


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Ledger:
    path = tmp_path / "ledger.txt"
    monkeypatch.setenv(store_chain.LEDGER_ENV, str(path))
    return Ledger(path)


def run(pipe: Any, **kwargs: Any) -> suiro.RunResult:
    kwargs.setdefault("environ", {})
    return suiro.run(pipe, **kwargs)


def states(result: suiro.RunResult) -> dict[str, TaskState]:
    return {key: t.state for key, t in result.tasks.items()}


def recorded_states(run_id: str) -> dict[str, str]:
    rows = Database.open().query(
        "SELECT task_key, state FROM task_runs WHERE run_id = :r AND map_index = -1", {"r": run_id}
    )
    return {r["task_key"]: r["state"] for r in rows}


CACHED, SUCCESS = TaskState.CACHED, TaskState.SUCCESS
CHAIN_TASKS = ("load", "scale", "shift", "report")


@pytest.fixture
def first_chain(ledger) -> suiro.RunResult:
    result = run(store_chain.chain)
    assert result.ok and result.output == {"label": "a", "scaled": 20, "shifted": 15}
    assert ledger.take() == Counter(CHAIN_TASKS)
    return result


# -- nothing changed, parameters changed ---------------------------------------------------------


def test_a_second_run_with_nothing_changed_runs_no_task(ledger, first_chain):
    second = run(store_chain.chain)
    assert second.ok and second.output == first_chain.output
    assert states(second) == dict.fromkeys(CHAIN_TASKS, CACHED)
    assert ledger.take() == Counter(), "no task body executed"
    assert recorded_states(second.run_id) == dict.fromkeys(CHAIN_TASKS, "cached")
    for task in CHAIN_TASKS:
        why = history.explain(second.run_id, task)
        assert why["state"] == "cached" and why["cached_from"] == first_chain.run_id
        assert (
            why["reason"] == f"cache hit: the same code, options and inputs ran in run {first_chain.run_id}"
        )


def test_changing_one_parameter_reruns_only_what_depends_on_it(ledger, first_chain):
    second = run(store_chain.chain, params={"factor": 3})
    assert second.output == {"label": "a", "scaled": 30, "shifted": 15}
    assert states(second) == {"load": CACHED, "scale": SUCCESS, "shift": CACHED, "report": SUCCESS}
    assert ledger.take() == Counter(["scale", "report"])
    scale = history.explain(second.run_id, "scale")
    assert scale["changed"] == ["input factor"] and scale["compared_with"] == first_chain.run_id
    assert scale["reason"] == "ran because `factor` changed from 2 to 3"
    report = history.explain(second.run_id, "report")
    assert report["changed"] == ["input scaled"], "its input's digest changed"
    assert report["reason"] == "ran because `scaled` changed (a new output of task scale)"

    third = run(store_chain.chain, params={"label": "b"})  # a parameter only the last task reads
    assert states(third) == {"load": CACHED, "scale": CACHED, "shift": CACHED, "report": SUCCESS}
    assert ledger.take() == Counter(["report"])


def test_going_back_to_earlier_parameters_reuses_the_earlier_outputs(ledger, first_chain):
    run(store_chain.chain, params={"factor": 3})
    ledger.take()
    back = run(store_chain.chain, params={"factor": 2})
    assert states(back) == dict.fromkeys(CHAIN_TASKS, CACHED) and ledger.take() == Counter()
    assert back.output == first_chain.output


def test_changing_one_item_of_a_mapped_list_reruns_only_that_item(ledger):
    run(store_chain.mapped, params={"xs": [1, 2, 3]})
    ledger.take()
    second = run(store_chain.mapped, params={"xs": [1, 2, 4]})
    assert second.output == 21
    assert second.tasks["square"].item_states == [CACHED, CACHED, SUCCESS]
    assert ledger.take() == Counter(["square[4]", "total"])


@suiro.task
def noisy(i: int) -> bytes | int:
    """Items 0-2 make a file-sized output that differs each time it is computed; the rest, ``i``."""
    return os.urandom(20_000) if i < 3 else i


@suiro.pipeline
def noisy_map(items: list[int] = list(range(ITEM_BATCH + 100))):  # noqa: B006 - recorded as a default
    return noisy.map(items)


def test_a_big_maps_items_are_found_in_batches_as_each_alone_would_be(suiro_home):
    size = ITEM_BATCH + 100
    first = run(noisy_map)
    fresh = run(noisy_map, fresh=True)  # items 0-2 computed again: a newer output under each key
    (newest,) = [r["output_digest"] for r in task_rows(fresh.run_id) if r["map_index"] == 1]
    ArtifactStore(suiro_home / "artifacts").path(newest).unlink()  # item 1's newest output is gone

    # One more item: the node's key changes, so its items are looked up (the old ones by value).
    again = run(noisy_map, params={"items": list(range(size + 1))})

    assert again.tasks["noisy"].item_states == [CACHED] * size + [SUCCESS], "both batches found"
    assert again.output[1] == first.output[1], "item 1: the older output, as a look-up of it alone finds"
    assert again.output[0] == fresh.output[0] and again.output[2] == fresh.output[2], "the newest"
    assert again.output[3:] == list(range(3, size + 1))
    sources = {r["map_index"]: r["cached_from"] for r in task_rows(again.run_id) if 0 <= r["map_index"] < 3}
    assert sources == {0: fresh.run_id, 1: first.run_id, 2: fresh.run_id}


def task_rows(run_id: str) -> list[dict[str, Any]]:
    return Database.open().query(
        "SELECT map_index, cached_from, output_digest FROM task_runs"
        " WHERE run_id = :id AND task_key = 'noisy'",
        {"id": run_id},
    )


def test_fresh_runs_everything(ledger, first_chain):
    again = run(store_chain.chain, fresh=True)
    assert states(again) == dict.fromkeys(CHAIN_TASKS, SUCCESS)
    assert ledger.take() == Counter(CHAIN_TASKS)
    why = history.explain(again.run_id, "load")
    assert why["changed"] == [] and "--fresh was given" in why["reason"]


# -- code edits --------------------------------------------------------------------------------

TEMPLATE = '''
"""A pipeline whose scale task the test rewrites."""

from pipelines.store_chain import mark

from suiro import pipeline, task


@task(serializer="pickle")
def load(n: int) -> list[int]:
    mark("load")
    return list(range(n))


@task
def scale(xs: list[int], factor: int) -> list[int]:
SCALE_BODY


@task
def shift(xs: list[int], offset: int) -> list[int]:
    mark("shift")
    return [x + offset for x in xs]


@task
def report(scaled: list[int], shifted: list[int]) -> dict[str, int]:
    mark("report")
    return {"scaled": sum(scaled), "shifted": sum(shifted)}


@pipeline
def edited(n: int = 5, factor: int = 2, offset: int = 1):
    xs = load(n)
    return report(scale(xs, factor), shift(xs, offset))
'''

BODY = """\
    mark("scale")
    return [x * factor for x in xs]"""
BODY_NEW_RESULT = """\
    mark("scale")
    return [x * factor + 1 for x in xs]"""
BODY_SAME_RESULT = """\
    mark("scale")
    return [factor * x for x in xs]"""
BODY_COSMETIC = '''\
    """Multiply every item by factor."""
    # the ledger line proves the body ran

    mark("scale")  # noted
    return [x * factor
            for x in xs]'''


def load_edited(path: Path, body: str) -> suiro.Pipeline:
    path.write_text(TEMPLATE.replace("SCALE_BODY", body), encoding="utf-8")
    return suiro.load_pipeline(str(path))


@pytest.fixture
def edited_first(ledger, tmp_path) -> suiro.RunResult:
    first = run(load_edited(tmp_path / "edited.py", BODY))
    assert first.ok and first.output == {"scaled": 20, "shifted": 15}
    assert ledger.take() == Counter(CHAIN_TASKS)
    return first


def test_editing_a_task_reruns_it_and_its_dependents_only(ledger, tmp_path, edited_first):
    pipe = load_edited(tmp_path / "edited.py", BODY_NEW_RESULT)  # the same file, rewritten in place

    second = run(pipe)

    assert second.output == {"scaled": 25, "shifted": 15}
    assert states(second) == {"load": CACHED, "scale": SUCCESS, "shift": CACHED, "report": SUCCESS}
    assert ledger.take() == Counter(["scale", "report"])
    assert history.explain(second.run_id, "scale")["changed"] == ["code"]
    assert history.explain(second.run_id, "scale")["reason"] == "ran because code changed"
    assert history.explain(second.run_id, "report")["changed"] == ["input scaled"]
    assert history.explain(second.run_id, "load")["reason"].startswith("cache hit")


def test_a_code_edit_with_the_same_result_stops_at_that_task(ledger, tmp_path, edited_first):
    second = run(load_edited(tmp_path / "edited_v2.py", BODY_SAME_RESULT))
    assert states(second) == {"load": CACHED, "scale": SUCCESS, "shift": CACHED, "report": CACHED}
    assert ledger.take() == Counter(["scale"]), "equal output, so report's inputs did not change"


def test_editing_only_comments_whitespace_and_docstrings_reruns_nothing(ledger, tmp_path, edited_first):
    second = run(load_edited(tmp_path / "edited_v3.py", BODY_COSMETIC))
    assert states(second) == dict.fromkeys(CHAIN_TASKS, CACHED)
    assert ledger.take() == Counter()


LAMBDA_PIPELINE = """
from suiro import pipeline, task


@task
def apply(fn, x: int) -> int:
    return fn(x)


@pipeline
def lambdas(x: int = 3):
    return apply(lambda v: v OPERATION, x)
"""


def test_editing_a_lambda_passed_to_a_task_is_not_a_cache_hit(tmp_path):
    path = tmp_path / "lambdas.py"
    path.write_text(LAMBDA_PIPELINE.replace("OPERATION", "+ 1"))
    assert run(suiro.load_pipeline(str(path))).output == 4
    path.write_text(LAMBDA_PIPELINE.replace("OPERATION", "* 100"))
    second = run(suiro.load_pipeline(str(path)))
    assert second.output == 300, f"got the stale {second.output} ({second.tasks['apply'].state})"


# -- task cache options ------------------------------------------------------------------------


def test_a_task_with_cache_false_always_runs(ledger):
    first = run(store_chain.options)
    second = run(store_chain.options)
    assert first.ok and second.ok
    assert ledger.take() == Counter(["uncached", "uncached", "keyed"])
    assert second.tasks["uncached"].state is SUCCESS and second.tasks["keyed"].state is CACHED
    why = history.explain(second.run_id, "uncached")
    assert why["reason"] == "not cached: cache=False on the task"
    # The key is still recorded: it says what the output is valid for, so a resume can reuse it.
    assert why["cache_key"] == history.explain(first.run_id, "uncached")["cache_key"] is not None


class Opaque:
    """A value with no fingerprint: a task given one can never be shown to have the same input."""


@suiro.task
def takes(value: Any) -> int:
    return 1


@suiro.pipeline
def opaque():
    return takes(Opaque())


def _parts_text(run_id: str, task_key: str) -> str:
    (row,) = Database.open().query(
        "SELECT cache_parts FROM task_runs WHERE run_id = :r AND task_key = :t AND map_index = -1",
        {"r": run_id, "t": task_key},
    )
    return row["cache_parts"]


def test_a_task_given_a_value_without_fingerprint_always_runs_and_says_why(ledger):
    run(opaque)
    second = run(opaque)
    assert second.tasks["takes"].state is SUCCESS
    why = history.explain(second.run_id, "takes")
    assert why["reason"] == ("not cached: an input cannot be fingerprinted (test_caching.Opaque object)")
    assert json.loads(_parts_text(second.run_id, "takes")) == {"unhashable": "test_caching.Opaque object"}


def test_records_written_with_the_marker_strings_are_explained_as_before(ledger):
    """Homes hold parts written before the markers were a type: the JSON text below is what
    every earlier version wrote, and must read the same."""
    uncached, unhashable = run(store_chain.options), run(opaque)
    assert '"disabled": "cache=False on the task"' in _parts_text(uncached.run_id, "uncached")
    old = {
        (uncached.run_id, "uncached"): '{"code": "c", "disabled": "cache=False on the task", "inputs": {}}',
        (unhashable.run_id, "takes"): '{"unhashable": "test_caching.Opaque object"}',
    }
    with Database.open().write() as tx:
        for (run_id, task_key), text in old.items():
            tx.execute(
                "UPDATE task_runs SET cache_parts = :p WHERE run_id = :r AND task_key = :t",
                {"p": text, "r": run_id, "t": task_key},
            )
    assert history.explain(uncached.run_id, "uncached")["reason"] == "not cached: cache=False on the task"
    assert history.explain(unhashable.run_id, "takes")["reason"] == (
        "not cached: an input cannot be fingerprinted (test_caching.Opaque object)"
    )


def test_a_cache_key_callable_decides_what_counts_as_the_same_input(ledger):
    first = run(store_chain.options, params={"x": 1, "note": "first"})
    assert first.output["keyed"] == "1:first"
    ledger.take()

    same_key = run(store_chain.options, params={"x": 1, "note": "second"})
    assert same_key.tasks["keyed"].state is CACHED
    assert same_key.output["keyed"] == "1:first", "the key ignores note, so the earlier output is reused"
    other_key = run(store_chain.options, params={"x": 2, "note": "second"})
    assert other_key.tasks["keyed"].state is SUCCESS and other_key.output["keyed"] == "2:second"
    assert ledger.take() == Counter(["uncached", "uncached", "keyed"])


def test_a_cached_output_expires_after_its_ttl(ledger, manual_clock):
    run(store_chain.expiring)
    assert run(store_chain.expiring).tasks["fleeting"].state is CACHED, "still fresh"
    manual_clock.advance(0.7)  # the task's cache_ttl is 0.5 s; the ttl is read on the run's clock
    late = run(store_chain.expiring)
    assert late.tasks["fleeting"].state is SUCCESS
    assert ledger.take() == Counter({"fleeting": 2})


def test_the_ttl_counts_from_when_the_output_was_computed_not_from_its_last_use(ledger, manual_clock):
    run(store_chain.expiring)  # computed at t = 0; the task's cache_ttl is 0.5 s
    manual_clock.advance(0.25)
    reuse = run(store_chain.expiring)  # normally a cache hit at t = 0.25, recorded with a new end time
    (computed,) = Database.open().query(
        "SELECT MAX(ended) AS t FROM task_runs WHERE task_key = 'fleeting' AND state = 'success'"
    )
    manual_clock.advance(max(0.0, computed["t"] + 0.6 - manual_clock.time()))  # past the ttl since computed

    late = run(store_chain.expiring)

    assert late.tasks["fleeting"].state is SUCCESS, f"the reuse was {reuse.tasks['fleeting'].state}"


# -- damaged artifacts -------------------------------------------------------------------------


def object_path(suiro_home: Path, run_id: str, task: str) -> tuple[str, Path]:
    (digest,) = [a["digest"] for a in history.artifacts(run_id) if a["task_key"] == task]
    return digest, ArtifactStore(suiro_home / "artifacts").path(digest)


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_a_missing_or_truncated_artifact_makes_its_producer_run_again(
    ledger, first_chain, suiro_home, damage
):
    digest, path = object_path(suiro_home, first_chain.run_id, "load")
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-3])

    again = run(store_chain.chain)

    assert again.ok and again.output == first_chain.output
    assert again.tasks["load"].state is SUCCESS
    assert ledger.take() == Counter(["load"]), "the same output again: everything after it is still cached"
    assert ArtifactStore(suiro_home / "artifacts").verify(digest), "the object was written again"


def test_a_corrupt_artifact_fails_its_reader_and_is_moved_aside(ledger, first_chain, suiro_home):
    digest, path = object_path(suiro_home, first_chain.run_id, "load")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only reading the bytes can tell
    path.write_bytes(bytes(data))

    broken = run(store_chain.chain, params={"factor": 3})  # scale must read load's output

    assert broken.state is RunState.FAILED
    assert states(broken) == {
        "load": CACHED,
        "scale": TaskState.FAILED,
        "shift": CACHED,
        "report": TaskState.UPSTREAM_FAILED,
    }
    error = broken.tasks["scale"].errors[-1]
    assert error.type == "suiro.errors.ArtifactCorruptError"
    assert f"corrupt artifact {digest}" in error.message and "cannot be used" in error.message
    assert ledger.take() == Counter(), "scale failed before its body ran"
    assert not path.exists()
    assert (suiro_home / "artifacts" / "corrupt" / digest).read_bytes() == bytes(data), "kept for inspection"

    fixed = run(store_chain.chain, params={"factor": 3})

    assert fixed.ok and fixed.output == {"label": "a", "scaled": 30, "shifted": 15}
    assert ledger.take() == Counter(["load", "scale", "report"])
    assert ArtifactStore(suiro_home / "artifacts").verify(digest)


def test_the_error_of_a_task_that_could_not_read_its_input_is_recorded(ledger, first_chain, suiro_home):
    digest, path = object_path(suiro_home, first_chain.run_id, "load")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    broken = run(store_chain.chain, params={"factor": 3})
    assert broken.tasks["scale"].state is TaskState.FAILED
    errors = history.errors(broken.run_id, "scale")
    assert errors and digest in errors[-1]["error_message"]


def test_a_corrupt_cached_pipeline_output_does_not_escape_the_run(ledger, suiro_home):
    first = run(store_chain.loaded)
    digest, path = object_path(suiro_home, first.run_id, "load")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    second = run(store_chain.loaded)  # every task is cached; only the output needs the bytes

    recorded = Database.open().query("SELECT state, error FROM runs WHERE id = :r", {"r": second.run_id})
    assert recorded[0]["state"] == second.state.value != "running"
    if second.ok:
        assert second.output == [0, 1, 2, 3, 4]
    else:
        assert digest in recorded[0]["error"], "the run's recorded error names the corrupt artifact"
    third = run(store_chain.loaded)
    assert third.ok and third.output == [0, 1, 2, 3, 4]
