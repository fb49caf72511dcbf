"""What ``suiro explain`` is told about a node's inputs: parameter names and short, masked values.

``memo.node_key`` records them beside the key's parts; the key itself stays what it was.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from suiro import pipeline, secrets, task
from suiro.cache import make_key
from suiro.memo import BRIEF, Memo, brief


@task
def load(source: str, batch_id: int, *more: int, note: str = "") -> list[int]:
    return [batch_id]


@task
def train(rows: list[int], rate: float) -> float:
    return sum(rows) * rate


@pipeline
def batches(batch_id: int = 3, label: str = "x"):
    rows = load("db", batch_id, 7, 8, note=label)
    return train(rows, 0.5)


@task
def info(batch_id: int) -> dict[str, Any]:
    return {"rows": [batch_id]}


@task
def consume(first: Any, meta: Any, empty: Any, limit: Any) -> Any:
    return first, meta, empty, limit


@pipeline
def stepped(grid: dict, batch_id: int = 3):
    out = info(batch_id)
    return consume(out["rows"][0], out.meta, ~out, limit=grid["limit"])


class NoOutputs:
    """Keys only: ``node_key`` asks the output store nothing but digests of recorded outputs."""

    finalize = None

    def digest_of(self, artifact: str) -> str:
        return artifact


def test_node_key_records_names_values_and_sources_beside_an_unchanged_key():
    memo = Memo(NoOutputs(), {"batch_id": 3, "label": "x"})
    node = batches.graph.nodes["load"]
    key, parts = memo.node_key(node)
    assert parts["names"] == {"#0": "source", "#1": "batch_id", "#2": "more[0]", "#3": "more[1]"}
    assert parts["shown"] == {"#0": "'db'", "#1": "3", "#2": "7", "#3": "8", "note": "'x'"}
    assert "sources" not in parts
    assert key == make_key("load", load.fn, {"serializer": None, "map": False}, parts["inputs"])
    memo.record("load", "digest-of-rows")
    _, parts = memo.node_key(batches.graph.nodes["train"])
    assert (parts["names"], parts["sources"], parts["shown"]) == (
        {"#0": "rows", "#1": "rate"},
        {"#0": "load"},
        {"#1": "0.5"},
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (3, "3"),
        (None, "None"),
        ("a", "'a'"),
        ([1, "b", None], "[1, 'b', None]"),
        ({"depth": 3}, "{'depth': 3}"),
        ("x" * 100, "'" + "x" * (BRIEF - 4) + "..."),
        ([[1]], None),  # nested: not shown
        (list(range(21)), None),
        ("x" * 1001, None),
        (object(), None),
    ],
)
def test_brief_shows_small_values_cut_to_60_characters(value, shown):
    assert brief(value) == shown


def test_brief_masks_a_secret_before_cutting(monkeypatch):
    monkeypatch.setenv("SUIRO_SECRET_T", "hunter2-CANARY-x")
    secrets.reload()
    try:
        assert brief("y" * 50 + "hunter2-CANARY-x") == "'" + "y" * 50 + "***'"
        assert brief("y" * 54 + "hunter2-CANARY-x" + "zz") == "'" + "y" * 54 + "**..."
    finally:
        monkeypatch.delenv("SUIRO_SECRET_T")
        secrets.reload()


def test_an_input_read_through_a_path_is_keyed_by_the_paths_canonical_text():
    """The key of a ``Use`` with a path is the digest of ``repr((base, steps))``, each step written
    ``[kind, argument]`` with the kind ``'item'``, ``'attr'`` or ``'not'``: the text every recorded
    key was made of, so it must not change with how steps are represented (or every cache entry of
    a pipeline that indexes an output would be missed once). The texts are spelt out here, and
    hashed with hashlib, rather than built by the code under test."""
    base = "d" * 64  # the recorded output digest of info
    memo = Memo(NoOutputs(), {"grid": {"limit": 5}, "batch_id": 3})
    memo.record("info", base)
    key, parts = memo.node_key(stepped.graph.nodes["consume"])

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    grid = parts["inputs"]["limit"]
    assert parts["inputs"] == {
        "#0": sha(f"('{base}', [['item', 'rows'], ['item', 0]])"),
        "#1": sha(f"('{base}', [['attr', 'meta']])"),
        "#2": sha(f"('{base}', [['not', None]])"),
        "limit": grid,
    }
    assert grid == sha(f"('{memo._param_fp('grid')}', [['item', 'limit']])")
    assert key == make_key("consume", consume.fn, {"serializer": None, "map": False}, parts["inputs"])
