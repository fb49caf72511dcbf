"""Task outputs to bytes and back, with the format chosen by the value's type.

Owns value -> (serializer name, bytes). The same value must give the same bytes: artifacts are
content-addressed, so equal outputs then share one object and cache keys built from input
digests stay stable. ``dump`` streams the bytes into a binary file object the caller gives (the
store's temp file, hashed as it is written), so a large output is never also held in memory as
bytes; every format writes the same bytes there as into memory (``dumps``). Must not import
pandas, numpy, pyarrow, sklearn or joblib at import time (``import suiro`` stays fast): types are
recognised by module and class name, libraries imported in the branch that needs them. Opens no
file itself; the store verifies bytes before ``loads``.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from suiro.errors import SerializerError, did_you_mean

SERIALIZERS: tuple[str, ...] = ("json", "npy", "parquet", "joblib", "pickle")

#: The class joblib's own writer wraps every numpy array in; only its unpickler reads those.
_JOBLIB_ARRAY = b"NumpyArrayWrapper"
# Pinned so the bytes do not change with the interpreter's default protocol.
_PICKLE_PROTOCOL = 5
# Deeper values go to pickle: the C json encoder recurses, and a cycle must end somewhere.
_MAX_JSON_DEPTH = 200
_MODEL_CLASSES = {"lightgbm": {"Booster", "LGBMModel"}, "xgboost": {"Booster", "XGBModel"}}
# What pyarrow raises for frames it cannot store (ArrowInvalid, ArrowTypeError, ...).
_ARROW_ERRORS = (ValueError, TypeError, NotImplementedError)


class _UnfitError(Exception):
    """The chosen serializer cannot store this value; ``dumps`` falls back or reports it."""


def kind_of(value: Any) -> str:
    """Name the value's type as ``module.Name`` via the shortest package that exports it.

    Recorded with each artifact so people and the UI see what a task returned without loading
    it, e.g. ``sklearn.linear_model.LogisticRegression`` rather than ``..._logistic.``.
    """
    cls = type(value)
    parts = cls.__module__.split(".")
    for end in range(1, len(parts)):
        module = sys.modules.get(".".join(parts[:end]))
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            return f"{'.'.join(parts[:end])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def dumps(value: Any, serializer: str | None = None) -> tuple[str, bytes]:
    """Serialize ``value`` with ``serializer``, or with the format its type calls for.

    Args:
        value: any task output.
        serializer: a name from ``SERIALIZERS`` to force, or None to choose by type.

    Returns:
        The serializer actually used and the bytes.

    Raises:
        SerializerError: the name is unknown, or the value cannot be stored with it (or,
            when choosing, cannot be pickled at all).
    """
    buf = io.BytesIO()
    name = dump(value, buf, serializer)
    return name, buf.getvalue()


def dump(value: Any, file: BinaryIO, serializer: str | None = None) -> str:
    """Write ``value`` to ``file`` as ``dumps`` would, without holding its bytes in memory.

    Args:
        value: any task output.
        file: an empty binary file object; when a format turns out not to fit (and pickle is
            tried instead) it is rewound and truncated, so it must support both.
        serializer: a name from ``SERIALIZERS`` to force, or None to choose by type.

    Returns:
        The serializer actually used.

    Raises:
        SerializerError: as for ``dumps``.
        OSError: ``file`` could not be written (disk full, file too large): never taken for a
            value that does not fit a format.
    """
    if serializer is not None:
        _check_name(serializer)
        if not _ACCEPTS[serializer](value):
            raise _unfit_error(serializer, value, "it only stores " + _STORES[serializer])
        _dump_or_raise(serializer, value, file)
        return serializer
    name = _choose(value)
    if name != "pickle":
        try:
            _WRITERS[name](value, file)
            return name
        except _UnfitError:  # e.g. a frame with mixed-type object columns: pickle keeps it intact
            file.seek(0)
            file.truncate()
    _dump_or_raise("pickle", value, file)
    return "pickle"


def is_inline_candidate(value: Any, serializer: str | None = None) -> bool:
    """Whether ``value`` would be stored as JSON, the one format small enough values keep inline."""
    return serializer == "json" or (serializer is None and _is_json(value))


def loads(serializer: str, data: bytes) -> Any:
    """Turn bytes made by ``dumps(..., serializer)`` back into the value.

    Only call this on bytes whose digest was verified: ``pickle`` and ``joblib`` execute code.

    Raises:
        SerializerError: the name is unknown or the bytes cannot be decoded.
    """
    _check_name(serializer)
    try:
        return _decode(serializer, data)
    except Exception as exc:  # a loader can raise anything; callers get one error type
        raise SerializerError(
            f"cannot load {serializer!r} artifact bytes ({type(exc).__name__}: {exc}); "
            "install the libraries the producing task used, or rerun it with --fresh.",
            serializer=serializer,
        ) from exc


#: Formats ``load`` reads from a file as it goes: their decoding runs no code, so it may start
#: before the whole object is verified (the caller verifies it before handing the value out).
STREAMED: tuple[str, ...] = ("npy",)


def load(serializer: str, file: BinaryIO) -> Any:
    """Read a value of a ``STREAMED`` format from ``file`` without its bytes ever all in memory.

    Raises:
        SerializerError: the format is not streamed, or the bytes cannot be decoded.
    """
    if serializer not in STREAMED:
        raise SerializerError(
            f"{serializer!r} artifacts are not read as a stream; use loads.", serializer=serializer
        )
    try:
        import numpy.lib.format as npy

        # Not a plain file to numpy: it reads the data in chunks into the array it allocates.
        return npy.read_array(file, allow_pickle=False)
    except Exception as exc:
        raise SerializerError(
            f"cannot load {serializer!r} artifact bytes ({type(exc).__name__}: {exc}); "
            "install the libraries the producing task used, or rerun it with --fresh.",
            serializer=serializer,
        ) from exc


def _check_name(serializer: str) -> None:
    if serializer not in SERIALIZERS:
        raise SerializerError(
            f"unknown serializer {serializer!r}{did_you_mean(serializer, SERIALIZERS)}; "
            f"use one of {', '.join(sorted(SERIALIZERS))}.",
            serializer=serializer,
        )


def _unfit_error(serializer: str, value: Any, reason: str) -> SerializerError:
    kind = kind_of(value)
    fix = _FIXES.get(serializer, "return a supported type or force serializer='pickle'")
    return SerializerError(
        f"serializer {serializer!r} cannot store a {kind} ({reason}); {fix}.",
        serializer=serializer,
        kind=kind,
    )


def _dump_or_raise(serializer: str, value: Any, file: BinaryIO) -> None:
    try:
        _WRITERS[serializer](value, file)
    except _UnfitError as exc:
        raise _unfit_error(serializer, value, str(exc)) from exc.__cause__


def _choose(value: Any) -> str:
    """Pick the serializer for a value by its type: safe, portable formats before pickle."""
    if _is_json(value):
        return "json"
    if _is_plain_ndarray(value):
        return "npy"
    if _is_dataframe(value):
        return "parquet"
    if _is_model(value):
        return "joblib"
    return "pickle"


def _is_json(value: Any) -> bool:
    """True for JSON's own types only, so a tuple, set or subclass keeps its type via pickle.

    Iterative with a depth limit; a container met twice (shared or cyclic) is refused,
    since JSON would silently copy it.
    """
    stack, seen = [(value, 0)], set()
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if item is None or kind in (str, bool, int):
            continue
        if kind is float:
            if not math.isfinite(item):
                return False
            continue
        if kind not in (list, dict) or depth >= _MAX_JSON_DEPTH or id(item) in seen:
            return False
        seen.add(id(item))
        if kind is dict:
            if any(type(key) is not str for key in item):
                return False
            item = item.values()
        stack.extend((child, depth + 1) for child in item)
    return True


def _is_plain_ndarray(value: Any) -> bool:
    """An exact numpy ndarray (subclasses keep their type via pickle) without Python objects."""
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray" and not value.dtype.hasobject


def _is_dataframe(value: Any) -> bool:
    """An exact pandas DataFrame; subclasses would come back as plain frames from Parquet."""
    cls = type(value)
    if cls.__name__ != "DataFrame" or cls.__module__.partition(".")[0] != "pandas":
        return False
    import pandas as pd

    return cls is pd.DataFrame


def _is_model(value: Any) -> bool:
    """scikit-learn estimators (anything in sklearn with ``get_params``), LightGBM and XGBoost models."""
    for cls in type(value).__mro__:
        top = cls.__module__.partition(".")[0]
        if top == "sklearn" and hasattr(value, "get_params"):
            return True
        if cls.__name__ in _MODEL_CLASSES.get(top, ()):
            return True
    return False


def _dump_json(value: Any, file: BinaryIO) -> None:
    try:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # ints past 4300 digits, lone surrogates
        raise _UnfitError(str(exc)) from exc
    file.write(data)


def _dump_npy(value: Any, file: BinaryIO) -> None:
    import numpy as np

    if not value.flags.c_contiguous:
        value = np.array(value, order="C")  # one layout per value, so one digest per value
    try:
        # To an object that is not a plain file, numpy writes in chunks of at most 16 MiB.
        np.save(file, value, allow_pickle=False)
    except ValueError as exc:
        raise _UnfitError(str(exc)) from exc


#: What ``pandas.api.types.infer_dtype`` may say of an object column Parquet gives back as it was
#: (a column of dicts or lists comes back with every dict's keys and as arrays; ints, floats,
#: bools and datetimes held as objects come back with their own dtype).
_EXACT_OBJECTS = frozenset({"string", "bytes", "empty", "time", "date", "decimal"})


def _parquet_loses(value: Any) -> str | None:
    """What Parquet would not give back of a DataFrame exactly, or None: a cache hit or a resume
    must hand a task the frame a fresh run hands it."""
    from pandas.api.types import infer_dtype

    if getattr(value.index, "freq", None) is not None:
        return f"its index's frequency ({value.index.freqstr})"
    for name, column in value.items():
        if column.dtype != object:
            continue
        kind = infer_dtype(column, skipna=True)
        if kind not in _EXACT_OBJECTS:
            return f"column {name!r} of Python objects ({kind})"
        missing = column[column.isna()]
        if any(item is not None for item in missing):
            return f"the NaN in column {name!r} of {kind} values (read back as None)"
    return None


def _dump_parquet(value: Any, file: BinaryIO) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    lost = _parquet_loses(value)
    if lost is not None:
        raise _UnfitError(f"Parquet would change {lost}")
    try:
        # preserve_index=None keeps a RangeIndex as metadata and any other index as columns.
        pq.write_table(pa.Table.from_pandas(value, preserve_index=None), file)
    except _ARROW_ERRORS as exc:
        raise _UnfitError(str(exc)) from exc


def _dump_joblib(value: Any, file: BinaryIO) -> None:
    """A model as a plain pickle (C pickler, protocol 5), which ``joblib.load`` reads as well.

    ``joblib.dump`` pickles in pure Python to give numpy arrays its own wrappers: a 300-tree
    forest took ~50 ms to write and ~30 ms to read back, against ~5 ms each this way (W3's
    largest overhead over plain Python). Arrays go through protocol 5 without a copy.
    """
    try:
        pickle.dump(value, file, protocol=_PICKLE_PROTOCOL)
    except OSError:
        raise  # the file, not the value
    except Exception as exc:  # whatever the value's __reduce__ raises
        raise _UnfitError(f"{type(exc).__name__}: {exc}") from exc


def _dump_pickle(value: Any, file: BinaryIO) -> None:
    import cloudpickle

    try:
        # Large buffers (bytes, arrays) go straight to the file, not through a copy.
        cloudpickle.dump(value, file, protocol=_PICKLE_PROTOCOL)
    except OSError:
        raise  # the file, not the value
    except Exception as exc:  # whatever the value's __reduce__ raises
        raise _UnfitError(f"{type(exc).__name__}: {exc}") from exc


def _decode(serializer: str, data: bytes) -> Any:
    """Bytes back to a value; heavy libraries are imported only for their own format."""
    if serializer == "json":
        return json.loads(data)
    if serializer == "pickle":
        return pickle.loads(data)  # the one audited unpickler: the store verified the digest first
    buf = io.BytesIO(data)
    if serializer == "npy":
        import numpy as np

        return np.load(buf, allow_pickle=False)
    if serializer == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(buf).to_pandas()
    if _JOBLIB_ARRAY not in data:  # written by _dump_joblib: a plain pickle
        return pickle.loads(data)
    import joblib  # written by joblib.dump (suiro before 2026-12): its arrays need its unpickler

    return joblib.load(buf)


_WRITERS: dict[str, Callable[[Any, BinaryIO], None]] = {
    "json": _dump_json,
    "npy": _dump_npy,
    "parquet": _dump_parquet,
    "joblib": _dump_joblib,
    "pickle": _dump_pickle,
}
_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "json": _is_json,
    "npy": _is_plain_ndarray,
    "parquet": _is_dataframe,
    "joblib": lambda value: True,
    "pickle": lambda value: True,
}
_FIXES = {
    "joblib": "return a value without open files, locks or sockets",
    "pickle": "return a value without open files, locks or sockets",
}
_STORES = {
    "json": "None, bool, int, finite float, str, list and str-keyed dict",
    "npy": "numpy arrays without object dtype",
    "parquet": "pandas DataFrames",
}
