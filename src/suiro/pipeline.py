"""``@pipeline``: trace a Python function once into a static ``Graph``.

Owns references (``Ref``), ``when`` branches and the checks made at definition
time (bad calls, ``if`` on a reference, defaults that do not fit their annotation,
cycles). Runs nothing: calling a task while tracing records a node and returns a
``Ref`` to its future output.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any, overload

from suiro.annotations import incompatible, literal_problem, matches
from suiro.errors import DefinitionError, did_you_mean
from suiro.graph import EMPTY, Binding, Condition, Const, Graph, Node, Pack, Param, Unmapped, Use
from suiro.mapping import MAPPABLE, unmapped
from suiro.task import Task, active_tracer


class Ref:
    """A placeholder for a value a task will produce (or a parameter's value).

    Index it (``ref["key"]``, ``ref[0]``) or take an attribute (``ref.attr``) to make
    a derived reference; ``~ref`` is its negation, for ``when(~ref)``. Using it as
    a Python bool is an error: the value does not exist while the pipeline is traced.
    """

    __slots__ = ("_graph_name", "_location", "_use")

    def __init__(self, use: Use, location: str, graph_name: str):
        object.__setattr__(self, "_use", use)
        object.__setattr__(self, "_location", location)
        object.__setattr__(self, "_graph_name", graph_name)

    def _derive(self, step: tuple[str, Any]) -> Ref:
        use = self._use
        return Ref(Use(use.source, use.is_param, (*use.path, step)), self._location, self._graph_name)

    def __getitem__(self, key: Any) -> Ref:
        return self._derive(("item", key))

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._derive(("attr", name))

    def __invert__(self) -> Ref:
        return self._derive(("not", None))

    def __rshift__(self, other: Ref) -> Ref:
        """``a >> b``: b runs after a, without taking its output (as in Airflow)."""
        _current_trace().order(self, other)
        return other

    def __lshift__(self, other: Ref) -> Ref:
        _current_trace().order(other, self)
        return other

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"{self._describe()} was used as a Python bool (if/and/or/not) at {_user_location()}; "
            "its value does not exist while the pipeline is traced, so use `with when(ref):` "
            "for a branch (and ~ref for its negation).",
            task=self._use.source,
            location=_user_location(),
        )

    def __iter__(self) -> Iterator[Any]:
        raise DefinitionError(
            f"{self._describe()} was iterated or unpacked at {_user_location()}; its length is "
            "unknown while tracing, so index it (ref[0]) or fan out with task.map(ref).",
            task=self._use.source,
            location=_user_location(),
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise DefinitionError(f"{self._describe()} is read-only; set values inside a task instead.")

    def __repr__(self) -> str:
        return f"<Ref {self._describe()}>"

    def _describe(self) -> str:
        use = self._use
        text = f"parameter {use.source}" if use.is_param else f"the output of {use.source}"
        for kind, value in use.path:
            text += {"item": f"[{value!r}]", "attr": f".{value}", "not": " (negated)"}[kind]
        return text


class Pipeline:
    """A traced pipeline: its graph, parameters, and options like ``schedule`` and ``executor``.

    ``executor`` is where its tasks run when the caller does not say (``"processes"``
    for CPU-bound training, for example).

    Run it with ``suiro.run(pipeline, params={...})`` or ``suiro run FILE.py``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        schedule: str | None = None,
        executor: str | None = None,
    ):
        self.fn = fn
        self.name = name or fn.__name__
        self.schedule = schedule
        self.executor = executor
        self.graph = _trace(fn, self.name)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @property
    def params(self) -> tuple[Param, ...]:
        """The pipeline's parameters, in signature order."""
        return self.graph.params

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        location = _user_location()
        raise DefinitionError(
            f"pipeline {self.name} was called at {location}, but pipelines are not run by calling them; "
            f"use suiro.run({self.name}, params={{...}}) or `suiro run FILE.py:{self.name}`.",
            task=self.name,
            location=location,
        )

    def __repr__(self) -> str:
        return f"<pipeline {self.name}: {len(self.graph.nodes)} tasks>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    fn: None = None, /, *, name: str | None = None, schedule: str | None = None, executor: str | None = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    schedule: str | None = None,
    executor: str | None = None,
) -> Any:
    """Trace a function into a pipeline, bare (``@pipeline``) or with options.

    The function runs once, now, with a reference in place of each parameter;
    every task call inside it becomes a node. Errors in the definition are raised
    here, naming the task and the line.
    """

    def decorate(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name, schedule=schedule, executor=executor)

    return decorate if fn is None else decorate(fn)


def when(condition: Ref) -> contextlib.AbstractContextManager[None]:
    """Run the tasks called inside the block only if ``condition`` is truthy.

    Tasks whose condition is false are ``skipped``; use ``when(~ref)`` for the other
    branch and ``trigger_rule="one_success"`` on a task that joins both.
    """
    trace = _current_trace("when()")
    if not isinstance(condition, Ref):
        location = _user_location()
        raise DefinitionError(
            f"when() at {location} needs the output of a task or a parameter, got {condition!r}; "
            "use a plain Python if for values known while tracing.",
            location=location,
        )
    use = condition._use
    negate = False
    while use.path and use.path[-1][0] == "not":
        negate = not negate
        use = Use(use.source, use.is_param, use.path[:-1])
    return _guarded(trace, Condition(use, negate))


@contextlib.contextmanager
def _guarded(trace: _Trace, condition: Condition) -> Iterator[None]:
    trace.conditions.append(condition)
    try:
        yield
    finally:
        trace.conditions.pop()


class _Trace:
    """The tracer active while a pipeline function runs; builds its nodes."""

    def __init__(self, name: str):
        self.name = name
        self.nodes: dict[str, Node] = {}
        self.conditions: list[Condition] = []
        self.counts: dict[str, int] = {}

    def add_call(
        self,
        task: Task[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        mapped: bool,
        max_concurrency: int | None,
        location: str,
    ) -> Ref:
        _check_call(task, args, kwargs, location=location, mapped=mapped)
        key = self._new_key(task.name)
        node = Node(
            key=key,
            task=task,
            args=tuple(self._bind(a, mapped, task, location) for a in args),
            kwargs={k: self._bind(v, mapped, task, location) for k, v in kwargs.items()},
            location=location,
            is_map=mapped,
            max_concurrency=max_concurrency,
            conditions=tuple(self.conditions),
        )
        _check_types(self, task, args, kwargs, mapped=mapped, location=location)
        self.nodes[key] = node
        return Ref(Use(key), location, self.name)

    def order(self, first: Ref, then: Ref) -> None:
        for ref in (first, then):
            if not isinstance(ref, Ref) or ref._use.is_param or ref._use.source not in self.nodes:
                raise DefinitionError(
                    f">> needs task outputs on both sides, got {ref!r} at {_user_location()}.",
                    location=_user_location(),
                )
        self.nodes[then._use.source].after.add(first._use.source)

    def _new_key(self, name: str) -> str:
        """``name``, then ``name_2``, ``name_3``...: never the key of an existing node."""
        count = self.counts.get(name, 0) + 1
        key = name if count == 1 else f"{name}_{count}"
        while key in self.nodes:
            count += 1
            key = f"{name}_{count}"
        self.counts[name] = count
        return key

    def _bind(self, value: Any, mapped: bool, task: Task[Any, Any], location: str) -> Binding:
        if mapped and isinstance(value, unmapped):
            return Unmapped(self._bind(value.value, False, task, location))
        if mapped and not isinstance(value, (Ref, *MAPPABLE)):
            raise DefinitionError(
                f"{task.name}.map at {location}: {value!r} ({type(value).__name__}) is not a list; "
                "wrap it in unmapped() to pass it whole to every item.",
                task=task.name,
                location=location,
            )
        return _to_binding(value, self)


def _to_binding(value: Any, trace: _Trace) -> Binding:
    """Turn an argument into a binding, finding references inside lists, tuples and dicts."""
    if isinstance(value, Ref):
        if value._graph_name != trace.name:
            raise DefinitionError(
                f"{value!r} belongs to pipeline {value._graph_name}, not {trace.name}; "
                "a reference can only be used in the pipeline that made it."
            )
        return value._use
    if isinstance(value, unmapped):
        return Unmapped(_to_binding(value.value, trace))
    if isinstance(value, list | tuple) and any(_has_ref(v) for v in value):
        kind = "list" if isinstance(value, list) else "tuple"
        return Pack(kind, tuple((i, _to_binding(v, trace)) for i, v in enumerate(value)))
    if isinstance(value, dict) and any(_has_ref(v) for v in value.values()):
        return Pack("dict", tuple((k, _to_binding(v, trace)) for k, v in value.items()))
    return Const(value)


def _has_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, list | tuple):
        return any(_has_ref(v) for v in value)
    if isinstance(value, dict):
        return any(_has_ref(v) for v in value.values())
    return isinstance(value, unmapped) and _has_ref(value.value)


def _check_call(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, location: str, mapped: bool
) -> None:
    """Bind the call to the task's signature now, so a bad call fails at its line."""
    names = list(task.signature.parameters)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in task.signature.parameters.values())
    unknown = [k for k in kwargs if k not in task.signature.parameters] if not takes_any else []
    try:
        if unknown:
            raise TypeError(f"got an unexpected keyword argument {unknown[0]!r}")
        task.signature.bind(*args, **kwargs)
    except TypeError as exc:
        hint = did_you_mean(unknown[0], names) if unknown else ""
        raise DefinitionError(
            f"{task.name}{'.map' if mapped else ''}() at {location}: {exc}{hint}; "
            f"its parameters are ({', '.join(names)}).",
            task=task.name,
            location=location,
        ) from None
    if mapped:
        _check_literal_lengths(task, args, kwargs, location)


def _check_types(
    trace: _Trace,
    task: Task[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    mapped: bool,
    location: str,
) -> None:
    """A literal or a task output that cannot fit the parameter's annotation fails at its line."""
    hints = _hints_or_empty(task.fn)
    bound = task.signature.bind(*args, **kwargs).arguments
    for name, value in bound.items():
        expected = hints.get(name)
        if expected is None or task.signature.parameters[name].kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        items = (
            [value.value]
            if isinstance(value, unmapped)
            else list(value)
            if mapped and isinstance(value, MAPPABLE)
            else [value]
        )
        for item in items:
            problem = _type_problem(trace, item, expected)
            if problem:
                raise DefinitionError(
                    f"{task.name}{'.map' if mapped else ''}() at {location}: argument {name} {problem}; "
                    "pass a value of that type or change the annotation.",
                    task=task.name,
                    location=location,
                )


def _type_problem(trace: _Trace, value: Any, expected: Any) -> str | None:
    if isinstance(value, Ref):
        use = value._use
        if use.path or use.is_param or use.source not in trace.nodes or trace.nodes[use.source].is_map:
            return None
        produced = _hints_or_empty(trace.nodes[use.source].task.fn).get("return")
        if produced is not None and incompatible(produced, expected):
            return (
                f"gets the output of {use.source}, a {produced.__name__}, but is annotated "
                f"{getattr(expected, '__name__', expected)}"
            )
        return None
    if _has_ref(value):
        return None
    reason = literal_problem(expected, value)
    return (
        f"= {value!r} does not fit {getattr(expected, '__name__', expected)} ({reason})" if reason else None
    )


def _hints_or_empty(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return _type_hints(fn)
    except Exception:  # unresolvable annotations are not checked
        return {}


def _check_literal_lengths(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], location: str
) -> None:
    """Mapped literal lists of different lengths fail now, not when the pipeline runs."""
    literals = [v for v in (*args, *kwargs.values()) if isinstance(v, MAPPABLE) and not _has_ref(v)]
    if len({len(v) for v in literals}) > 1:
        sizes = ", ".join(str(len(v)) for v in literals)
        raise DefinitionError(
            f"{task.name}.map at {location}: the mapped lists differ in length ({sizes}); "
            "give lists of one length or wrap the whole ones in unmapped().",
            task=task.name,
            location=location,
        )


def _trace(fn: Callable[..., Any], name: str) -> Graph:
    if active_tracer.get() is not None:
        raise DefinitionError(f"pipeline {name} was defined while another pipeline was being traced.")
    location = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"
    params = _params_of(fn, name, location)
    trace = _Trace(name)
    token = active_tracer.set(trace)
    try:
        refs = {p.name: Ref(Use(p.name, is_param=True), location, name) for p in params}
        result = fn(**refs)
    finally:
        active_tracer.reset(token)
    graph = Graph(
        name=name,
        params=params,
        nodes=trace.nodes,
        output=None if result is None else _to_binding(result, trace),
        location=location,
    )
    graph.check()
    return graph


def _params_of(fn: Callable[..., Any], name: str, location: str) -> tuple[Param, ...]:
    """Parameters from the signature; a default that does not fit its annotation is an error."""
    try:
        hints = _type_hints(fn)
    except Exception as exc:  # a bad annotation is the user's error; say which
        raise DefinitionError(f"pipeline {name} at {location}: cannot read its annotations: {exc}.") from exc
    params = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise DefinitionError(
                f"pipeline {name} at {location}: *{p.name} parameters are not supported; name each parameter."
            )
        annotation = hints.get(p.name, EMPTY)
        default = p.default
        if default is not EMPTY and annotation is not EMPTY:
            default = _check_default(name, location, p.name, annotation, default)
        params.append(Param(p.name, annotation, default))
    return tuple(params)


def _check_default(pipeline_name: str, location: str, param: str, annotation: Any, default: Any) -> Any:
    """The default as its annotation's type (``"3"`` for ``int`` is 3); an error if it does not fit."""
    if matches(annotation, default):
        return default
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(annotation).validate_python(default)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].rstrip(".")
        raise DefinitionError(
            f"pipeline {pipeline_name} at {location}: parameter {param} has default {default!r}, "
            f"which does not match its annotation ({reason}); fix the default or the annotation.",
            task=pipeline_name,
            location=location,
        ) from None
    except Exception:  # annotations pydantic cannot build a schema for are not checked
        return default


#: Resolved annotations per function, with the ``__annotations__`` dict they were read from.
_HINTS: weakref.WeakKeyDictionary[Any, tuple[Any, dict[str, Any]]] = weakref.WeakKeyDictionary()


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``typing.get_type_hints(fn)``, resolved once per function (the result must not be changed).

    Tracing checks every call against its task's annotations; resolving them anew each time
    (every string annotation compiled and evaluated) cost ~40 µs a call, a third of a traced
    chain's cost. Annotations replaced since (a new ``__annotations__``) are read again; a
    failure is not kept, so a name defined later resolves then.
    """
    annotations = getattr(fn, "__annotations__", None)
    try:
        found = _HINTS.get(fn)
    except TypeError:  # neither hashable nor weakly referable: not kept
        found = None
    if found is not None and found[0] is annotations:
        return found[1]
    import typing

    hints = typing.get_type_hints(fn)
    with contextlib.suppress(TypeError):
        _HINTS[fn] = (annotations, hints)
    return hints


def _current_trace(what: str = ">>") -> _Trace:
    trace = active_tracer.get()
    if not isinstance(trace, _Trace):
        location = _user_location()
        raise DefinitionError(
            f"{what} at {location} is only allowed inside a @pipeline function; call it while tracing one.",
            location=location,
        )
    return trace


def _user_location() -> str:
    """``file:line`` of the first frame outside suiro (the user's pipeline code)."""
    frame = sys._getframe(1)
    here = __file__.rsplit("/", 1)[0]
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame = frame.f_back  # type: ignore[assignment]
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "<unknown>"
