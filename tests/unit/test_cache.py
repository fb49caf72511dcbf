"""Cache keys: code digests blind to cosmetics, value fingerprints equal exactly for equal values.

Functions come from real module files written to ``tmp_path`` (same name, different files), so
``code_digest`` reads real source the way it does for a user's pipeline file. Fingerprint
invariants are property-tested, including across a pickle round trip and across processes
with different hash seeds.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from suiro.cache import (
    MAX_DEPTH,
    Uncached,
    UnhashableError,
    code_digest,
    describe_changes,
    diff_parts,
    fingerprint,
    make_key,
    task_code_digest,
    uncached_reason,
)

_counter = itertools.count()


def load_function(folder: Path, source: str, name: str = "area") -> Callable[..., Any]:
    """Write ``source`` as a new module file in ``folder``, import it, and return ``name`` from it."""
    stem = f"cache_case_{next(_counter)}"
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name)
    return getattr(fn, "fn", fn)  # a suiro Task wraps the function


BASE = '''
from suiro import task


@task
def area(width: float, height: float = 1.0) -> float:
    """Area of a rectangle."""
    product = width * height
    return product
'''

SAME_CODE = {
    "comments": '''
from suiro import task


@task
def area(width: float, height: float = 1.0) -> float:  # the classic
    """Area of a rectangle."""
    # multiply the sides
    product = width * height  # no units
    return product
''',
    "blank lines and indentation": '''
from suiro import task


@task
def area(width: float,
         height: float = 1.0) -> float:
  """Area of a rectangle."""

  product = width  *  height


  return product
''',
    "edited docstring": '''
from suiro import task


@task
def area(width: float, height: float = 1.0) -> float:
    """Compute the area.

    Longer explanation that changes nothing about the result.
    """
    product = width * height
    return product
''',
    "removed docstring": """
from suiro import task


@task
def area(width: float, height: float = 1.0) -> float:
    product = width * height
    return product
""",
    "changed decorator": '''
from suiro import task


@task(retries=3, retry_delay=2.0, tags={"geometry"})
def area(width: float, height: float = 1.0) -> float:
    """Area of a rectangle."""
    product = width * height
    return product
''',
    "unrelated code around it": '''
from suiro import task

OTHER = 42


def helper():
    return OTHER


@task
def area(width: float, height: float = 1.0) -> float:
    """Area of a rectangle."""
    product = width * height
    return product
''',
}

CHANGED_CODE = {
    "operator": BASE.replace("width * height", "width + height"),
    "extra term": BASE.replace("width * height", "width * height + 0"),
    "default value": BASE.replace("height: float = 1.0", "height: float = 2.0"),
    "parameter name": BASE.replace("height", "depth"),
    "extra statement": BASE.replace("    return product", "    product = abs(product)\n    return product"),
    "string literal that is not the docstring": BASE.replace(
        "    return product", '    print("area")\n    return product'
    ),
}


# -- code_digest --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(SAME_CODE))
def test_code_digest_ignores_cosmetic_edits(tmp_path, variant):
    base = load_function(tmp_path, BASE)
    edited = load_function(tmp_path, SAME_CODE[variant])
    assert base is not edited
    assert code_digest(edited) == code_digest(base)


@pytest.mark.parametrize("variant", sorted(CHANGED_CODE))
def test_code_digest_changes_with_the_code(tmp_path, variant):
    base = load_function(tmp_path, BASE)
    edited = load_function(tmp_path, CHANGED_CODE[variant])
    assert code_digest(edited) != code_digest(base)


def test_code_digest_is_a_sha256_hex_and_stable(tmp_path):
    fn = load_function(tmp_path, BASE)
    again = load_function(tmp_path, BASE)
    assert len(code_digest(fn)) == 64 and int(code_digest(fn), 16) >= 0
    assert code_digest(fn) == code_digest(again)


# -- task_code_digest: what a task reads from the user's code ----------------------------------

READS = """
import math

import numpy as np

LIMIT = 3
SETTINGS = {"offset": 10}
CALLS = []


def helper(x):
    return x * LIMIT


class Model:
    def predict(self, x):
        return x + SETTINGS["offset"]


def area(x):
    CALLS.append(x)
    return helper(x) + Model().predict(x) + math.floor(np.sqrt(x))
"""


@pytest.mark.parametrize(
    "edit",
    [("x * LIMIT", "x * LIMIT + 1"), ("LIMIT = 3", "LIMIT = 4"), ('"offset": 10', '"offset": 11')],
    ids=["a helper's code", "a constant it reads", "a value a class's method reads"],
)
def test_a_tasks_code_covers_the_helpers_classes_and_values_it_reads(tmp_path, edit):
    # Its own text alone would serve the output computed before the edit: a wrong result
    base = load_function(tmp_path, READS)
    edited = load_function(tmp_path, READS.replace(*edit))
    assert code_digest(edited) == code_digest(base), "the task's own text is the same"
    assert task_code_digest(edited) != task_code_digest(base)


def test_the_same_code_in_another_file_has_the_same_task_digest(tmp_path):
    first, second = load_function(tmp_path, READS), load_function(tmp_path, READS)
    assert first.__module__ != second.__module__
    assert task_code_digest(first) == task_code_digest(second) != code_digest(first)


def test_a_value_changed_in_place_keeps_its_digest_and_a_rebound_name_does_not(tmp_path):
    fn = load_function(tmp_path, READS)
    before = task_code_digest(fn)
    fn(4)  # appends to CALLS: bookkeeping, not an edit
    assert fn.__globals__["CALLS"] == [4] and task_code_digest(fn) == before
    fn.__globals__["LIMIT"] = 5  # as a notebook cell run again rebinds it
    assert task_code_digest(fn) != before
    fn.__globals__["LIMIT"] = 3
    assert task_code_digest(fn) == before


def test_library_code_and_values_without_a_fingerprint_are_not_followed(tmp_path):
    source = READS + "\nimport threading\nLOCK = threading.Lock()\n\n\ndef area(x):\n    with LOCK:\n"
    fn = load_function(tmp_path, source + "        return np.sqrt(x) + math.pi\n")
    assert task_code_digest(fn) == code_digest(fn), "numpy, math and a lock add nothing"


def test_a_helper_in_a_module_of_the_users_is_followed_by_either_import(tmp_path, monkeypatch):
    name = f"cache_helpers_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text("SCALE = 2\n\n\ndef norm(x):\n    return x * SCALE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    by_module = load_function(tmp_path, f"import {name} as h\n\n\ndef area(x):\n    return h.norm(x)\n")
    by_name = load_function(tmp_path, f"from {name} import norm\n\n\ndef area(x):\n    return norm(x)\n")
    before = task_code_digest(by_module), task_code_digest(by_name)
    assert before[0] != code_digest(by_module) and before[1] != code_digest(by_name)
    monkeypatch.setattr(sys.modules[name], "SCALE", 3)
    assert task_code_digest(by_module) != before[0] and task_code_digest(by_name) != before[1]


def test_code_digest_of_a_method_is_blind_to_its_indentation(tmp_path):
    method = load_function(
        tmp_path,
        '''
        class Shapes:
            def area(self, width, height):
                """Nested, so the source is indented."""
                return width * height


        area = Shapes.area
        ''',
    )
    plain = load_function(
        tmp_path,
        """
        def area(self, width, height):
            return width * height
        """,
    )
    assert code_digest(method) == code_digest(plain)


def test_code_digest_without_source_still_tells_code_apart():
    scope_a: dict[str, Any] = {}
    scope_b: dict[str, Any] = {}
    scope_c: dict[str, Any] = {}
    exec(compile("def f(x):\n    return x + 1\n", "<no file>", "exec"), scope_a)
    exec(compile("def f(x):\n    return x + 1\n", "<no file>", "exec"), scope_b)
    exec(compile("def f(x):\n    return x + 2\n", "<no file>", "exec"), scope_c)
    assert code_digest(scope_a["f"]) == code_digest(scope_b["f"])
    assert code_digest(scope_a["f"]) != code_digest(scope_c["f"])
    assert len(code_digest(len)) == 64  # a builtin has no code object at all


# -- fingerprint: equality ----------------------------------------------------------------------


EQUAL_PAIRS = [
    pytest.param({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, id="dict order"),
    pytest.param({"x": {"p": 1, "q": 2}}, {"x": {"q": 2, "p": 1}}, id="nested dict order"),
    pytest.param({3, 1, 2}, {2, 3, 1}, id="set order"),
    pytest.param(frozenset({"a", "b"}), frozenset({"b", "a"}), id="frozenset order"),
    pytest.param("", "", id="empty string"),
    pytest.param([1.5, None, "x"], [1.5, None, "x"], id="mixed list"),
    pytest.param(b"\x00\xff", b"\x00\xff", id="bytes"),
]


@pytest.mark.parametrize(("left", "right"), EQUAL_PAIRS)
def test_equal_values_have_equal_fingerprints(left, right):
    assert fingerprint(left) == fingerprint(right)


DIFFERENT_PAIRS = [
    pytest.param([1, 2], [2, 1], id="list order"),
    pytest.param((1, 2), (2, 1), id="tuple order"),
    pytest.param([1, 2], (1, 2), id="list vs tuple"),
    pytest.param({1, 2}, frozenset({1, 2}), id="set vs frozenset"),
    pytest.param(["ab", "c"], ["a", "bc"], id="string boundaries"),
    pytest.param(["a,b"], ["a", "b"], id="separator inside a string"),
    pytest.param({"a": "b:c"}, {"a:b": "c"}, id="key/value boundary"),
    pytest.param({"a": 1}, {"a": 1, "b": None}, id="extra key with None"),
    pytest.param([None], [], id="None element"),
    pytest.param("1", b"1", id="str vs bytes"),
    pytest.param({"k": [1, 2, 3]}, {"k": [1, 2, 4]}, id="deep change"),
]


@pytest.mark.parametrize(("left", "right"), DIFFERENT_PAIRS)
def test_different_values_have_different_fingerprints(left, right):
    assert fingerprint(left) != fingerprint(right)


def test_one_one_point_oh_string_one_and_true_all_differ():
    values = [1, 1.0, "1", True, 1 + 0j, b"1", [1], (1,), None, 0, False, 0.0, -0.0, ""]
    assert len({fingerprint(v) for v in values}) == len(values)


@dataclasses.dataclass(frozen=True)
class Settings:
    depth: int
    name: str


def test_dataclasses_are_fingerprinted_by_their_fields():
    assert fingerprint(Settings(3, "a")) == fingerprint(Settings(3, "a"))
    assert fingerprint(Settings(3, "a")) != fingerprint(Settings(4, "a"))
    assert fingerprint(Settings(3, "a")) != fingerprint({"depth": 3, "name": "a"})


# -- fingerprint: numpy and pandas by content ----------------------------------------------------


def test_numpy_arrays_are_fingerprinted_by_content():
    base = np.arange(6, dtype=np.int64)
    assert fingerprint(base) == fingerprint(np.arange(6, dtype=np.int64))
    changed = base.copy()
    changed[3] = 99
    assert fingerprint(changed) != fingerprint(base)
    assert fingerprint(base.astype(np.int32)) != fingerprint(base), "same values, other dtype"
    assert fingerprint(base.reshape(2, 3)) != fingerprint(base.reshape(3, 2)), "same bytes, other shape"
    grid = np.arange(12).reshape(3, 4)
    view = grid[:, ::2]  # not contiguous
    assert fingerprint(view) == fingerprint(np.ascontiguousarray(view))
    assert fingerprint(np.float64(1.5)) == fingerprint(np.float64(1.5))
    assert fingerprint(np.int64(7)) != fingerprint(np.int32(7))


def test_numpy_array_of_objects_is_unhashable():
    with pytest.raises(UnhashableError, match="numpy array of Python objects"):
        fingerprint(np.array([object(), object()], dtype=object))


def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30])


def test_pandas_frames_are_fingerprinted_by_content():
    assert fingerprint(frame()) == fingerprint(frame())
    cell = frame()
    cell.loc[20, "a"] = 5
    assert fingerprint(cell) != fingerprint(frame())
    assert fingerprint(frame().rename(columns={"a": "c"})) != fingerprint(frame())
    assert fingerprint(frame().set_axis([1, 2, 3])) != fingerprint(frame()), "index is content"
    assert fingerprint(frame().astype({"a": "float64"})) != fingerprint(frame())
    assert fingerprint(frame()["a"]) == fingerprint(frame()["a"].copy())
    assert fingerprint(frame()["a"]) != fingerprint(frame()["a"].rename("z"))


# -- fingerprint: what cannot be fingerprinted -------------------------------------------------


class Opaque:
    pass


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(Opaque(), id="object"),
        pytest.param([1, Opaque()], id="inside a list"),
        pytest.param({"k": {"nested": Opaque()}}, id="inside a dict"),
        pytest.param({Opaque(): 1}, id="as a dict key"),
    ],
)
def test_arbitrary_objects_are_unhashable(value):
    with pytest.raises(UnhashableError, match=r"Opaque object"):
        fingerprint(value)


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def nested_dicts(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return value


def test_nesting_up_to_the_limit_is_fine_and_deeper_is_unhashable():
    fingerprint(nested_lists(MAX_DEPTH))
    fingerprint(nested_dicts(MAX_DEPTH))
    with pytest.raises(UnhashableError, match=f"nested deeper than {MAX_DEPTH} levels"):
        fingerprint(nested_lists(MAX_DEPTH + 1))
    with pytest.raises(UnhashableError, match=f"nested deeper than {MAX_DEPTH} levels"):
        fingerprint(nested_dicts(MAX_DEPTH + 1))


def test_self_referencing_containers_are_unhashable_not_a_recursion_error():
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(UnhashableError, match="nested deeper"):
        fingerprint(loop)
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(UnhashableError, match="nested deeper"):
        fingerprint(cyclic)


def test_deep_frozensets_are_unhashable_like_other_containers():
    value: frozenset[Any] = frozenset()
    for _ in range(MAX_DEPTH + 5):
        value = frozenset([value])
    with pytest.raises(UnhashableError, match=f"nested deeper than {MAX_DEPTH} levels"):
        fingerprint(value)


def make_adder(k: int) -> Callable[[int], int]:
    def add(x: int) -> int:
        return x + k

    return add


def test_closures_over_different_values_do_not_collide():
    assert fingerprint(make_adder(1)) != fingerprint(make_adder(2))


def test_different_lambdas_do_not_collide():
    increment = lambda x: x + 1  # noqa: E731
    double = lambda x: x * 2  # noqa: E731
    assert fingerprint(increment) != fingerprint(double)


def test_named_functions_and_classes_are_fingerprinted_by_name():
    assert fingerprint(make_adder) == fingerprint(make_adder)
    assert fingerprint(make_adder) != fingerprint(nested_lists)
    assert fingerprint(Opaque) != fingerprint(Settings)


# -- keys and their parts -----------------------------------------------------------------------


def test_make_key_parts_and_custom_key(tmp_path):
    fn = load_function(tmp_path, BASE)
    key = make_key("area", fn, {"serializer": None}, {"width": fingerprint(2.0)})
    assert key == make_key("area", fn, {"serializer": None}, {"width": fingerprint(2.0)})
    assert set(key.parts) == {"code", "options", "inputs"}
    assert key.parts["code"] == code_digest(fn)
    assert make_key("area", fn, {"serializer": None}, {"width": fingerprint(3.0)}).key != key.key
    assert make_key("area", fn, {"serializer": "pickle"}, {"width": fingerprint(2.0)}).key != key.key
    assert make_key("volume", fn, {"serializer": None}, {"width": fingerprint(2.0)}).key != key.key
    custom = make_key("area", fn, {}, {"width": "ignored"}, custom="v1")
    assert set(custom.parts["inputs"]) == {"cache_key"}
    assert custom.key == make_key("area", fn, {}, {"width": "other"}, custom="v1").key
    assert custom.key != make_key("area", fn, {}, {}, custom="v2").key


def test_diff_parts_names_what_changed():
    old = {"code": "c1", "options": "o1", "inputs": {"a": "1", "b": "2"}}
    assert diff_parts(old, dict(old)) == []
    assert diff_parts(None, old) == ["no earlier run of this task to compare with"]
    assert diff_parts(old, {**old, "code": "c2"}) == ["code"]
    assert diff_parts(old, {**old, "options": "o2"}) == ["options"]
    assert diff_parts(old, {**old, "inputs": {"a": "1", "b": "3"}}) == ["input b"]
    assert diff_parts(old, {"code": "c2", "options": "o1", "inputs": {"b": "2", "c": "9"}}) == [
        "code",
        "input a",
        "input c",
    ]


def test_diff_parts_and_describe_changes_name_positions_by_their_parameters():
    old = {
        "code": "c",
        "options": "o",
        "inputs": {"#0": "d1", "#1": "b3", "note": "n1"},
        "names": {"#0": "rows", "#1": "batch_id"},
        "shown": {"#1": "3", "note": "'a'"},
        "sources": {"#0": "load"},
    }
    new = {**old, "inputs": {"#0": "d2", "#1": "b4", "note": "n1"}, "shown": {"#1": "4", "note": "'a'"}}
    assert diff_parts(old, new) == ["input batch_id", "input rows"]
    assert describe_changes(old, new) == (
        "`batch_id` changed from 3 to 4 and `rows` changed (a new output of task load)"
    )
    assert describe_changes(old, {**new, "code": "c2"}).startswith("code changed, `batch_id` changed")


def test_describe_changes_of_records_without_names_values_or_both_sides():
    # A record made before positions were named borrows the names of the record it is compared with.
    unnamed = {"code": "c", "options": "o", "inputs": {"#0": "d1", "#1": "b3"}}
    named = {**unnamed, "inputs": {"#0": "d1", "#1": "b4"}, "names": {"#0": "rows", "#1": "batch_id"}}
    assert diff_parts(unnamed, named) == ["input batch_id"]
    assert describe_changes(unnamed, named) == "`batch_id` changed"  # no value recorded before
    by_name = {**named, "inputs": {"#0": "d1", "batch_id": "b4"}, "names": {"#0": "rows"}}
    assert describe_changes(named, by_name) == "`batch_id` is passed by name now"
    assert describe_changes(by_name, {**by_name, "inputs": {"#0": "d1"}}) == "`batch_id` was removed"
    assert describe_changes(unnamed, {**unnamed, "inputs": {"cache_key": "k"}}) == (
        "`#0` was removed, `#1` was removed and the key from cache_key= changed"
    )
    assert describe_changes(unnamed, dict(unnamed)) == "nothing recorded changed"


def test_the_never_cached_markers_are_the_json_keys_records_were_always_written_with():
    """``task_runs.cache_parts`` holds the parts as JSON; a marker must be written and found under
    the keys written before it was a type (``"disabled"``, ``"unhashable"``)."""
    parts = {"code": "c", Uncached.DISABLED: "cache=False on the task", Uncached.UNHASHABLE: "x"}
    text = json.dumps(parts, sort_keys=True)
    assert text == '{"code": "c", "disabled": "cache=False on the task", "unhashable": "x"}'
    assert uncached_reason(json.loads(text)) == uncached_reason(parts)
    assert {Uncached(key) for key in ("disabled", "unhashable")} == set(Uncached)


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ({"disabled": "cache=False on the task"}, "not cached: cache=False on the task"),
        (
            {"unhashable": "builtins.object object"},
            "not cached: an input cannot be fingerprinted (builtins.object object)",
        ),
        ({"code": "c", "options": "o", "inputs": {}}, None),
        ({}, None),
    ],
)
def test_uncached_reason_reads_the_marker_of_a_recorded_key(parts, reason):
    assert uncached_reason(parts) == reason


# -- properties ---------------------------------------------------------------------------------

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
hashable_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8)
python_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.frozensets(hashable_leaf, max_size=4),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
        | st.sets(st.text(max_size=6), max_size=5)
    ),
    max_leaves=12,
)


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal in value and in type at every level (so 1, 1.0 and True differ; 0.0 and -0.0 too)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    return a == b


def mutate(data: st.DataObject, value: Any) -> Any:
    """One change somewhere in a JSON-like value: a leaf, an element or a key."""
    if isinstance(value, list) and value:
        op = data.draw(st.sampled_from(["change", "delete", "insert", "swap"]))
        i = data.draw(st.integers(0, len(value) - 1))
        out = list(value)
        if op == "change":
            out[i] = mutate(data, value[i])
        elif op == "delete":
            del out[i]
        elif op == "insert":
            out.insert(i, data.draw(json_like))
        else:
            j = data.draw(st.integers(0, len(value) - 1))
            out[i], out[j] = out[j], out[i]
        return out
    if isinstance(value, dict) and value:
        op = data.draw(st.sampled_from(["change", "delete", "add", "rename"]))
        key = data.draw(st.sampled_from(sorted(value)))
        out = dict(value)
        if op == "change":
            out[key] = mutate(data, value[key])
        elif op == "delete":
            del out[key]
        elif op == "add":
            out[data.draw(st.text(max_size=6))] = data.draw(json_like)
        else:
            out[data.draw(st.text(max_size=6))] = out.pop(key)
        return out
    return data.draw(json_like)


@settings(max_examples=150, deadline=None)
@given(value=json_like, data=st.data())
def test_any_change_of_a_json_like_value_changes_its_fingerprint(value, data):
    changed = mutate(data, value)
    assume(not strictly_equal(value, changed))  # e.g. a swap of two equal elements
    assert fingerprint(changed) != fingerprint(value)


@settings(max_examples=100, deadline=None)
@given(a=json_like, b=json_like)
def test_fingerprints_are_equal_exactly_when_values_are_strictly_equal(a, b):
    assert (fingerprint(a) == fingerprint(b)) == strictly_equal(a, b)


@settings(max_examples=100, deadline=None)
@given(value=python_values)
def test_fingerprint_survives_a_pickle_round_trip(value):
    assert fingerprint(pickle.loads(pickle.dumps(value))) == fingerprint(value)


CHILD = (
    "import json, pickle, sys\n"
    "from suiro.cache import fingerprint\n"
    "print(json.dumps([fingerprint(v) for v in pickle.load(sys.stdin.buffer)]))\n"
)


def fingerprints_in_another_process(values: list[Any], hash_seed: int) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], input=pickle.dumps(values), capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(values=st.lists(python_values, min_size=5, max_size=25), hash_seed=st.integers(1, 2**16))
def test_fingerprint_is_the_same_in_another_process(values, hash_seed):
    # Sets of strings iterate in a different order under another hash seed.
    assert fingerprints_in_another_process(values, hash_seed) == [fingerprint(v) for v in values]


def test_numpy_and_pandas_fingerprints_are_the_same_in_another_process():
    values = [np.arange(10.0).reshape(2, 5), frame(), frame()["b"], {"arr": np.array([1, 2], dtype=np.int8)}]
    assert fingerprints_in_another_process(values, 12345) == [fingerprint(v) for v in values]


def test_a_pydantic_model_is_fingerprinted_by_its_fields():
    from pydantic import BaseModel

    class Optimizer(BaseModel):
        lr: float
        layers: list[int] = [1]

    assert fingerprint(Optimizer(lr=0.1)) == fingerprint(Optimizer(lr=0.1, layers=[1]))
    assert fingerprint(Optimizer(lr=0.1)) != fingerprint(Optimizer(lr=0.2))
    assert fingerprint(Optimizer(lr=0.1)) != fingerprint(Optimizer(lr=0.1, layers=[2]))
