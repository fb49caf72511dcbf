"""Serializers: the right format per type, exact round trips, deterministic bytes."""

from __future__ import annotations

import datetime
import io
import pickle
import re
import subprocess
import sys
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from suiro.errors import SerializerError
from suiro.store.serializers import SERIALIZERS, dumps, kind_of, loads


def roundtrip(value, serializer=None):
    name, data = dumps(value, serializer)
    return name, loads(name, data)


def same_types(a, b) -> bool:
    """Equal and of the same types all the way down (1 == True == 1.0 would hide bugs)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_types(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_types(a[k], b[k]) for k in a)
    return a == b


def make_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"x": [1.5, np.nan, 3.0], "label": ["a", None, "c"], "n": [1, 2, 3]},
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )


def fitted_model():
    features = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 2.0], [3.0, 1.0], [4.0, 3.0], [5.0, 2.5]])
    y = np.array([0, 0, 0, 1, 1, 1])
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(features, y), features


class Frame(pd.DataFrame):
    """A DataFrame subclass: Parquet would return a plain frame, so it must go to pickle."""


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_json_values_round_trip_exactly_and_deterministically(value):
    name, data = dumps(value)
    assert name == "json"
    assert same_types(loads(name, data), value)
    assert dumps(value) == (name, data)


def test_json_keeps_dict_order_and_is_compact_utf8():
    value = {"z": 1, "a": [1, 2.5, None, True], "ü": "日本"}
    name, data = dumps(value)
    assert (name, data) == ("json", '{"z":1,"a":[1,2.5,null,true],"ü":"日本"}'.encode())
    assert list(loads(name, data)) == ["z", "a", "ü"]


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),
        {1, 2},
        frozenset({"a"}),
        {1: "int key"},
        {"nested": (1, 2)},
        float("nan"),
        float("inf"),
        np.float64(1.5),
        OrderedDict(a=1),
        b"bytes",
        "\ud800",  # a lone surrogate cannot be encoded as UTF-8
        10**5000,  # past the int-to-str digit limit
    ],
    ids=lambda value: type(value).__name__,
)
def test_values_json_would_change_go_to_pickle_and_keep_their_type(value):
    name, back = roundtrip(value)
    assert name == "pickle"
    assert type(back) is type(value)
    if value == value:  # NaN is not equal to itself
        assert back == value


def test_shared_cyclic_and_deep_containers_go_to_pickle():
    shared = [1]
    cyclic: list = []
    cyclic.append(cyclic)
    deep: list = []
    for _ in range(300):
        deep = [deep]
    assert dumps({"a": shared, "b": shared})[0] == "pickle"
    name, back = roundtrip(cyclic)
    assert name == "pickle" and back[0] is back
    assert dumps(deep)[0] == "pickle"


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.array(3.5),
        np.zeros((0, 3), dtype=np.float32),
        np.array([True, False]),
        np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[D]"),
        np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        np.array([1.0, 2.0], dtype=">f8"),
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_arrays_use_npy_and_keep_dtype_and_shape(array):
    name, back = roundtrip(array)
    assert name == "npy"
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_fortran_and_c_ordered_equal_arrays_give_the_same_bytes():
    array = np.arange(12.0).reshape(3, 4)
    assert dumps(np.asfortranarray(array)) == dumps(array)
    np.testing.assert_array_equal(roundtrip(np.asfortranarray(array))[1], array)


def test_object_arrays_and_array_subclasses_go_to_pickle():
    name, back = roundtrip(np.array([1, "a"], dtype=object))
    assert name == "pickle" and back.dtype == object
    masked = np.ma.masked_array([1, 2], mask=[True, False])
    name, back = roundtrip(masked)
    assert name == "pickle" and type(back) is np.ma.MaskedArray


def test_npy_never_unpickles():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SerializerError, match=r"cannot load 'npy' artifact bytes .*allow_pickle"):
        loads("npy", buf.getvalue())


@pytest.mark.parametrize(
    "frame",
    [
        make_frame(),
        pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(10, 14, 2)),
        pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, "x"), (2, "y")], names=["i", "j"])),
        pd.DataFrame({0: [1, 2], 1: [3, 4]}),
        pd.DataFrame(
            {"t": pd.date_range("2020-01-01", periods=3, tz="UTC"), "c": pd.Categorical(list("aba"))}
        ),
        pd.DataFrame(),
    ],
    ids=["str-index", "range-index", "multi-index", "int-columns", "tz-and-categorical", "empty"],
)
def test_dataframes_use_parquet_and_keep_index(frame):
    name, back = roundtrip(frame)
    assert name == "parquet"
    pd.testing.assert_frame_equal(back, frame)


def test_frames_parquet_cannot_store_fall_back_to_pickle():
    mixed = pd.DataFrame({"o": [1, "a"]})
    name, back = roundtrip(mixed)
    assert name == "pickle"
    pd.testing.assert_frame_equal(back, mixed)
    with pytest.raises(SerializerError, match=r"serializer 'parquet' cannot store a pandas\.DataFrame"):
        dumps(mixed, "parquet")


@pytest.mark.parametrize(
    ("frame", "lost"),
    [
        (pd.DataFrame({"props": [{"clicks": 3}, {"country": "JP"}]}), "column 'props' of Python objects"),
        (pd.DataFrame({"tags": [["a", "b"], []]}), "column 'tags' of Python objects"),
        (pd.DataFrame({"n": pd.Series([1, 2], dtype=object)}), "column 'n' of Python objects"),
        (pd.DataFrame({"s": pd.Series(["a", np.nan], dtype=object)}), "NaN in column 's' of string"),
        (pd.DataFrame({"x": [1, 2]}, index=pd.date_range("2026-01-01", periods=2, freq="D")), "frequency"),
    ],
    ids=["dicts", "lists", "ints-as-objects", "nan-in-strings", "index-freq"],
)
def test_a_frame_parquet_would_change_goes_to_pickle_whole(frame, lost):
    # Parquet gave the dicts every dict's keys (ints as floats), the lists as arrays, a NaN as
    # None and dropped the frequency: a cache hit or a resume handed tasks another frame
    name, back = roundtrip(frame)
    assert name == "pickle"
    pd.testing.assert_frame_equal(back, frame, check_freq=True)
    assert [type(v) for v in back.iloc[:, 0]] == [type(v) for v in frame.iloc[:, 0]]
    with pytest.raises(SerializerError, match=re.escape(lost)):
        dumps(frame, "parquet")


def test_strings_with_none_and_bytes_and_dates_stay_in_parquet():
    frame = pd.DataFrame({"s": ["a", None], "b": [b"x", None], "d": [datetime.date(2026, 1, 1), None]})
    name, back = roundtrip(frame)
    assert name == "parquet"
    pd.testing.assert_frame_equal(back, frame)


def test_dataframe_subclass_keeps_its_type():
    name, back = roundtrip(Frame({"a": [1]}))
    assert name == "pickle" and type(back) is Frame


def test_the_same_dataframe_built_twice_gives_the_same_bytes():
    assert dumps(make_frame()) == dumps(make_frame())


def test_sklearn_models_use_joblib_and_predict_the_same():
    model, features = fitted_model()
    name, back = roundtrip(model)
    assert name == "joblib"
    np.testing.assert_array_equal(back.predict_proba(features), model.predict_proba(features))
    assert dumps(RandomForestClassifier(random_state=0))[0] == "joblib"


def test_a_model_is_written_by_the_c_pickler_and_joblib_still_reads_it():
    # joblib's own writer pickles in pure Python (a 300-tree forest: ~50 ms to write, ~30 ms to
    # read, against ~5 ms each with the C pickler); its wrappers would show in the bytes.
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit([[0.0], [1.0], [2.0]], [0, 1, 1])
    name, data = dumps(forest)
    assert name == "joblib"
    assert b"NumpyArrayWrapper" not in data
    import joblib

    for back in (loads(name, data), joblib.load(io.BytesIO(data))):  # joblib.load reads a plain pickle
        np.testing.assert_array_equal(back.predict([[0.0], [2.0]]), forest.predict([[0.0], [2.0]]))


def test_a_model_stored_by_joblib_s_own_writer_still_loads():
    import joblib

    _, features = fitted_model()
    buffer = io.BytesIO()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, [0, 0, 0, 1, 1, 1])
    joblib.dump(forest, buffer)
    old = buffer.getvalue()
    assert b"NumpyArrayWrapper" in old  # the format older suiro wrote
    assert loads("joblib", old).n_estimators == 3


def test_models_fitted_twice_the_same_way_give_the_same_bytes():
    assert dumps(fitted_model()[0]) == dumps(fitted_model()[0])


def test_forcing_a_serializer_that_fits_is_honoured():
    assert roundtrip({"a": 1}, "pickle") == ("pickle", {"a": 1})
    assert roundtrip([1, 2], "joblib") == ("joblib", [1, 2])
    assert roundtrip({"a": 1}, "json") == ("json", {"a": 1})


@pytest.mark.parametrize(
    ("serializer", "value", "message"),
    [
        ("json", (1, 2), r"serializer 'json' cannot store a builtins\.tuple \(it only stores None"),
        ("npy", [1.0], r"serializer 'npy' cannot store a builtins\.list \(it only stores numpy arrays"),
        ("parquet", {"a": [1]}, r"serializer 'parquet' cannot store a builtins\.dict"),
        (
            "pickle",
            threading.Lock(),
            r"serializer 'pickle' cannot store a _thread\.lock .*without open files",
        ),
    ],
)
def test_forcing_a_serializer_that_cannot_store_the_value_names_both(serializer, value, message):
    with pytest.raises(SerializerError, match=message) as info:
        dumps(value, serializer)
    assert info.value.serializer == serializer
    assert info.value.kind == kind_of(value)


def test_unpicklable_values_are_reported_even_when_choosing():
    with pytest.raises(SerializerError, match=r"serializer 'pickle' cannot store a _thread\.lock"):
        dumps(threading.Lock())


def test_unknown_serializer_names_the_known_ones_and_the_closest():
    with pytest.raises(
        SerializerError,
        match=r"unknown serializer 'jsn' \(did you mean \"json\"\?\); use one of joblib, json",
    ):
        dumps(1, "jsn")
    with pytest.raises(SerializerError, match=r"unknown serializer 'yaml'; use one of"):
        loads("yaml", b"")


def test_undecodable_bytes_raise_serializer_error():
    with pytest.raises(SerializerError, match=r"cannot load 'json' artifact bytes \(JSONDecodeError"):
        loads("json", b"{not json")
    with pytest.raises(SerializerError, match=r"cannot load 'parquet' artifact bytes"):
        loads("parquet", b"PAR1 nope")


def test_serializer_error_survives_pickling_with_its_fields():
    err = pickle.loads(pickle.dumps(SerializerError("msg", serializer="npy", kind="builtins.list")))
    assert (str(err), err.serializer, err.kind) == ("msg", "npy", "builtins.list")


def test_kind_of_uses_public_import_paths():
    assert kind_of(pd.DataFrame()) == "pandas.DataFrame"
    assert kind_of(np.zeros(1)) == "numpy.ndarray"
    assert kind_of({}) == "builtins.dict"
    assert kind_of(LogisticRegression()) == "sklearn.linear_model.LogisticRegression"
    assert kind_of(Frame()) == f"{__name__}.Frame"


def test_serializers_are_the_documented_five():
    assert SERIALIZERS == ("json", "npy", "parquet", "joblib", "pickle")


def test_importing_the_store_loads_no_heavy_library():
    code = (
        "import sys, suiro.store.serializers as s, suiro.store.artifacts\n"
        "s.dumps({'a': [1, 2]}); s.dumps((1, 2))\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'sklearn', 'joblib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
