"""Cache keys: a digest of what a task's output depends on, and nothing else.

Pure: no I/O, no store. A key is built from the task's code (comments, blank
lines, docstrings and decorators do not count), the options that change output,
and a fingerprint of every input (parameters and literals by value, upstream
outputs by their artifact digest). The parts are kept so ``suiro explain`` can say
which one changed. Values that cannot be fingerprinted deterministically make
the task uncachable rather than wrongly cached.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import functools
import hashlib
import inspect
import os
import site
import sys
import sysconfig
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: Nesting depth past which a value is not fingerprinted (and the task not cached).
MAX_DEPTH = 32


class UnhashableError(Exception):
    """A value has no deterministic fingerprint."""


@dataclass(frozen=True, slots=True)
class CacheKey:
    """A task's cache key and the digests it was made of (``code``, ``options``, ``inputs``)."""

    key: str
    parts: Mapping[str, Any]


class Uncached(StrEnum):
    """Why a task call is never reused: the part of its key's parts that says so.

    The memo writes the marker, ``suiro explain`` (``uncached_reason``) reads it back from
    ``task_runs.cache_parts``. The values are the JSON keys parts have always been recorded
    under, so records written before this type read the same.
    """

    #: The task opted out (``cache=False``); the value says so in words.
    DISABLED = "disabled"
    #: An input has no fingerprint (the call has no key); the value names the input's type.
    UNHASHABLE = "unhashable"


def uncached_reason(parts: Mapping[str, Any]) -> str | None:
    """Why the call a key's ``parts`` were recorded for was never cached; None if no marker says."""
    if Uncached.DISABLED in parts:
        return f"not cached: {parts[Uncached.DISABLED]}"
    if Uncached.UNHASHABLE in parts:
        return f"not cached: an input cannot be fingerprinted ({parts[Uncached.UNHASHABLE]})"
    return None


def digest(data: bytes | str) -> str:
    """sha256 hex of bytes (or UTF-8 text)."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@functools.lru_cache(maxsize=4096)
def code_digest(fn: Callable[..., Any]) -> str:
    """Digest of a function's code, blind to comments, whitespace, docstrings and decorators."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        if inspect.isclass(fn):  # its source is found through its module, which may be unregistered
            members = vars(fn).items()
            return combine(
                fn.__qualname__, sorted((k, code_digest(v)) for k, v in members if inspect.isfunction(v))
            )
        code = getattr(fn, "__code__", None)
        return digest(code.co_code + repr(code.co_consts).encode()) if code else digest(repr(fn))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node is tree.body[0]:
                node.decorator_list = []
            body = node.body
            first = body[0].value if body and isinstance(body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node.body = body[1:] or [ast.Pass()]
    return digest(ast.dump(tree, annotate_fields=False, include_attributes=False))


#: User functions and classes followed from one task's code (a guard against huge modules).
MAX_REACHED = 200


def task_code_digest(fn: Callable[..., Any]) -> str:
    """Digest of what a task's code is: its own code (``code_digest``), plus what it reads from
    user code through its globals, followed transitively — the code of the functions and classes
    it calls (``helper(x)``, ``utils.norm(x)``, ``from utils import norm``) and the values of the
    module-level names it reads (``FACTOR = 5``, a dict of settings).

    Why: a cache keyed on the task's text alone serves a stale output when a helper or a
    constant beside it is edited — a wrong result, the worst bug a cache can have. Library code
    (the standard library, installed packages, suiro) is not followed: its version is the
    environment's, as in every peer. A value that has no fingerprint (a client, a lock) is left
    out; a value is read as it was first seen in this process unless its name is bound to another
    (``_VALUES``). Not cached whole across calls, as a notebook may rebind a global between two
    runs: the memo computes it once per task per run.
    """
    found: list[tuple[str, str]] = []
    _reach(inspect.unwrap(fn), found, set())
    base = code_digest(fn)
    return base if not found else combine(base, found)


def _reach(fn: Any, found: list[tuple[str, str]], seen: set[int]) -> None:
    """Add to ``found`` what function ``fn`` reads from user code through its globals, each as
    (the name it is read by, its digest), in an order fixed by the code alone.

    Names are those in the code (``helper``, ``utils.norm``), not modules' names: a pipeline
    file's module is named after its path, and the same code at another path is the same code.
    """
    code, names = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
    if code is None or names is None or id(fn) in seen or len(seen) >= MAX_REACHED:
        return
    seen.add(id(fn))
    read = _names_read(code)
    for name in sorted(read):
        if name not in names:
            continue
        value = names[name]
        if not inspect.ismodule(value):
            _note(name, value, names, found, seen)
        elif _is_user_module(value.__name__):
            for attr in sorted(read & set(vars(value))):
                _note(f"{name}.{attr}", getattr(value, attr), vars(value), found, seen)


def _note(label: str, value: Any, home: dict[str, Any], found: list[tuple[str, str]], seen: set[int]) -> None:
    """Add one global ``value`` (of the module whose globals are ``home``) that a task reads."""
    if inspect.isfunction(value) or inspect.isclass(value):
        module = getattr(value, "__module__", None)
        if not (module == home.get("__name__") or _is_user_module(module)):  # beside its reader, or ours
            return
        found.append((label, code_digest(value)))
        inside = [value] if inspect.isfunction(value) else list(vars(value).values())
        for method in inside:
            _reach(method, found, seen)  # a class's methods read globals too; others are skipped
        return
    if callable(value) or inspect.ismodule(value):
        return  # a library function, a task object, a builtin: not the user's code to follow here
    where = (home.get("__name__"), label)
    known = _VALUES.get(where)
    if known is not None and known[0] is value:
        found.append((label, known[1]))
        return
    try:
        digest_ = fingerprint(value)
    except Exception:  # no fingerprint (a client, a lock): the key cannot see it
        return
    _VALUES[where] = (value, digest_)
    found.append((label, digest_))


#: The fingerprint of each module-level value a task read in this process, with the value (held,
#: so that its identity stays its own). A name bound to another value (``FACTOR = 5`` run again in
#: a notebook) is fingerprinted again; a value changed in place (a list a task appends its calls
#: to) keeps the fingerprint it had when first read, so bookkeeping does not defeat the cache.
_VALUES: dict[tuple[Any, str], tuple[Any, str]] = {}


@functools.lru_cache(maxsize=4096)
def _names_read(code: Any) -> frozenset[str]:
    """The global and attribute names a code object and the functions nested in it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names_read(const)
    return frozenset(names)


@functools.lru_cache(maxsize=1024)
def _is_user_module(name: str | None) -> bool:
    """Whether a module is the user's code: not the standard library, an installed package or suiro.

    A module without a file (``__main__`` of a notebook) is the user's.
    """
    module = sys.modules.get(name or "")
    top = (name or "").split(".")[0]
    if module is None or top in ("suiro", "builtins") or top in sys.stdlib_module_names:
        return False
    file = getattr(module, "__file__", None)
    if file is None:
        return name == "__main__" or not hasattr(module, "__path__")
    path = os.path.realpath(file)
    return not any(path.startswith(root + os.sep) for root in _library_roots())


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Folders whose modules are libraries: the standard library and every site-packages."""
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update([*site.getsitepackages(), site.getusersitepackages()])
    return tuple(sorted(os.path.realpath(r) for r in roots if r))


#: Names through which a task reads its run's logical time: ``suiro.context().logical_time``,
#: ``.interval_start``, ``.interval_end`` (and ``.scheduled``, which holds them all).
LOGICAL_NAMES = frozenset({"logical_time", "interval_start", "interval_end", "scheduled"})


def reads_logical_time(fn: Callable[..., Any]) -> bool:
    """True if the task's own code names its run's logical time (``LOGICAL_NAMES``).

    Such a task's output depends on the tick its run stands for, which is no input or parameter:
    its cache key must carry the logical time, or the 30 November run would reuse the output
    computed for 29 November (G10). Read from the compiled code (attribute and global names,
    and string constants for ``getattr``), nested functions included; a helper in another
    function is not seen: pass the time as a parameter (``suiro.logical``) instead.
    """
    code = getattr(inspect.unwrap(fn), "__code__", None)
    return code is not None and _code_reads_logical_time(code)


@functools.lru_cache(maxsize=4096)
def _code_reads_logical_time(code: Any) -> bool:
    if not LOGICAL_NAMES.isdisjoint(code.co_names):
        return True
    for const in code.co_consts:
        if isinstance(const, str) and const in LOGICAL_NAMES:
            return True
        if hasattr(const, "co_names") and _code_reads_logical_time(const):
            return True
    return False


def fingerprint(value: Any) -> str:
    """A deterministic digest of a value, equal for equal values across processes.

    Raises:
        UnhashableError: the value (or something inside it) has no deterministic fingerprint.
    """
    return digest(_token(value, 0))


def combine(*parts: Any) -> str:
    """Digest of several already-computed digests or plain tokens (str, int, None, lists/tuples of them).

    ``repr`` of such values is deterministic across processes and runs, and several times
    faster than JSON; this sits on the per-task path of every recorded run.
    """
    return digest(repr(parts))


def make_key(
    task_name: str,
    fn: Callable[..., Any],
    options: Mapping[str, Any],
    inputs: Mapping[str, str],
    *,
    custom: str | None = None,
    code: str | None = None,
) -> CacheKey:
    """The cache key of one task call from its code, options and input fingerprints.

    ``custom`` (from a ``cache_key=`` callable) replaces the inputs part. ``code`` is the task's
    ``task_code_digest`` when the caller holds it (the memo, once per task per run).
    """
    parts: dict[str, Any] = {
        "code": task_code_digest(fn) if code is None else code,
        "options": combine(sorted((k, repr(v)) for k, v in options.items())),
        "inputs": dict(sorted(inputs.items())) if custom is None else {"cache_key": digest(custom)},
    }
    return CacheKey(
        combine(task_name, parts["code"], parts["options"], sorted(parts["inputs"].items())), parts
    )


def diff_parts(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between two keys' parts, as short names: ``code``, ``options``, ``input batch_id``.

    Inputs are named by the parameter they bind (the parts' ``names``), so a positional argument
    is ``input batch_id``, not ``input #1``.
    """
    if old is None:
        return ["no earlier run of this task to compare with"]
    changes = [part for part in ("code", "options") if old.get(part) != new.get(part)]
    before, after = _labelled(old, new), _labelled(new, old)
    for label in sorted(set(before) | set(after)):
        if before.get(label) != after.get(label):
            changes.append(f"input {label}")
    return changes


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``diff_parts`` as a phrase for ``ran because ...``: "`batch_id` changed from 3 to 4 and code
    changed", with the values of parameters and small literals when they were recorded."""
    phrases = [f"{part} changed" for part in ("code", "options") if old.get(part) != new.get(part)]
    before, after = _labelled(old, new), _labelled(new, old)
    for label in sorted(set(before) | set(after)):
        was, now = before.get(label), after.get(label)
        if was != now:
            phrases.append(_input_phrase(label, was, now))
    if not phrases:
        return "nothing recorded changed"
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _labelled(parts: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Inputs by the name a user knows, each ``(digest, shown value, source task, passed as)``.

    Records made before positions were named (no ``names``) borrow the other side's names: the
    same position binds the same parameter unless the task's signature changed, and then its code
    changed too.
    """
    names = {**other.get("names", {}), **parts.get("names", {})}
    shown, sources = parts.get("shown", {}), parts.get("sources", {})
    return {
        names.get(name, name): (fp, shown.get(name), sources.get(name), name.startswith("#"))
        for name, fp in parts.get("inputs", {}).items()
    }


def _input_phrase(label: str, was: tuple[Any, ...] | None, now: tuple[Any, ...] | None) -> str:
    if label == "cache_key":
        return "the key from cache_key= changed"
    if was is None:
        return f"`{label}` was added"
    if now is None:
        return f"`{label}` was removed"
    if was[0] == now[0]:
        return f"`{label}` is passed {'by position' if now[3] else 'by name'} now"
    if was[1] is not None and now[1] is not None and was[1] != now[1]:
        return f"`{label}` changed from {was[1]} to {now[1]}"
    if now[2] is not None:
        return f"`{label}` changed (a new output of task {now[2]})"
    return f"`{label}` changed"


@functools.singledispatch
def _token(value: Any, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise UnhashableError(f"nested deeper than {MAX_DEPTH} levels")
    token = getattr(type(value), "__suiro_token__", None)
    if token is not None:  # suiro.File and Input: by the file's content, not its path
        return token(value)
    module = type(value).__module__
    if module.startswith("numpy") and hasattr(value, "dtype"):
        return _numpy_token(value)
    if module.startswith("pandas"):
        return _pandas_token(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _token(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
        return f"dc:{type(value).__qualname__}:{fields}"
    model_fields = getattr(type(value), "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(value, "model_dump"):  # a pydantic model, by its fields
        items = {**{name: getattr(value, name) for name in model_fields}, **(value.model_extra or {})}
        fields = {name: _token(item, depth + 1) for name, item in items.items()}
        return f"pm:{type(value).__qualname__}:{fields}"
    if isinstance(value, type):
        return f"type:{value.__module__}.{value.__qualname__}"
    if callable(value):
        return _callable_token(value, depth)
    raise UnhashableError(f"{type(value).__module__}.{type(value).__qualname__} object")


@_token.register(type(None))
@_token.register(bool)
@_token.register(int)
@_token.register(float)
@_token.register(complex)
def _scalar(value: Any, depth: int) -> str:
    return f"{type(value).__name__}:{value!r}"


@_token.register(datetime.date)
@_token.register(datetime.datetime)
@_token.register(datetime.time)
@_token.register(datetime.timedelta)
def _moment(value: Any, depth: int) -> str:
    # By value as ISO text: an aware datetime with its UTC offset, so one read back from a record
    # (a fixed offset) and one made in its zone (a ZoneInfo) are the same input.
    text = str(value) if isinstance(value, datetime.timedelta) else value.isoformat()
    return f"{type(value).__name__}:{text}"


@_token.register(str)
def _str(value: str, depth: int) -> str:
    return f"str:{len(value)}:{value}"


@_token.register(bytes)
def _bytes(value: bytes, depth: int) -> str:
    return f"bytes:{digest(value)}"


@_token.register(list)
@_token.register(tuple)
def _sequence(value: list[Any] | tuple[Any, ...], depth: int) -> str:
    if depth > MAX_DEPTH:
        raise UnhashableError(f"nested deeper than {MAX_DEPTH} levels")
    return f"{type(value).__name__}[" + ",".join(_token(v, depth + 1) for v in value) + "]"


@_token.register(set)
@_token.register(frozenset)
def _set(value: set[Any], depth: int) -> str:
    if depth > MAX_DEPTH:
        raise UnhashableError(f"nested deeper than {MAX_DEPTH} levels")
    return f"{type(value).__name__}{{" + ",".join(sorted(_token(v, depth + 1) for v in value)) + "}"


@_token.register(dict)
def _dict(value: dict[Any, Any], depth: int) -> str:
    if depth > MAX_DEPTH:
        raise UnhashableError(f"nested deeper than {MAX_DEPTH} levels")
    items = sorted((_token(k, depth + 1), _token(v, depth + 1)) for k, v in value.items())
    return "dict{" + ",".join(f"{k}:{v}" for k, v in items) + "}"


def _callable_token(fn: Any, depth: int) -> str:
    """A function by what it does: its code, defaults and closed-over values (not just its name).

    Two lambdas on one line, or two closures of one factory, must not share a cache entry.
    """
    name = getattr(fn, "__qualname__", None)
    if name is None:
        raise UnhashableError(f"{type(fn).__name__} object")
    code = getattr(fn, "__code__", None)
    if code is None:  # builtins and C functions: their name is what they are
        return f"fn:{getattr(fn, '__module__', '')}.{name}"
    cells = [c.cell_contents for c in (fn.__closure__ or ()) if _has_contents(c)]
    parts = [code_digest(fn), _token(fn.__defaults__ or (), depth + 1), _token(tuple(cells), depth + 1)]
    return f"fn:{fn.__module__}.{name}:" + ":".join(parts)


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _numpy_token(value: Any) -> str:
    if getattr(value, "dtype", None) is not None and value.dtype.hasobject:
        raise UnhashableError("numpy array of Python objects")
    if getattr(value, "shape", ()) == ():
        return f"np:{value.dtype}:{value.item()!r}"
    import numpy as np

    arr = np.ascontiguousarray(value)
    return f"np:{arr.dtype}:{arr.shape}:{digest(arr.tobytes())}"


def _pandas_token(value: Any) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame | pd.Series):
        hashed = pd.util.hash_pandas_object(value, index=True).to_numpy()
        columns = list(map(str, value.columns)) if isinstance(value, pd.DataFrame) else [str(value.name)]
        dtypes = [str(t) for t in (value.dtypes if isinstance(value, pd.DataFrame) else [value.dtype])]
        return f"pd:{type(value).__name__}:{columns}:{dtypes}:{digest(hashed.tobytes())}"
    raise UnhashableError(f"pandas {type(value).__name__}")
