"""Definition-time checks: a call against its task's (or sub-pipeline's) signature and annotations,
a pipeline's parameters and defaults, and what it says about itself (task defaults, description,
owner, tags). Each problem is a ``DefinitionError`` naming the line and what to do.

Pure: reads signatures, annotations and the nodes traced so far; traces and runs nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from suiro.annotations import incompatible, item_type, literal_problem, matches
from suiro.errors import DefinitionError, did_you_mean
from suiro.files import is_file_annotation
from suiro.graph import EMPTY, Binding, Const, Expr, Node, Param, describe, summary
from suiro.mapping import MAPPABLE, unmapped
from suiro.ref import Ref, has_ref, to_binding
from suiro.task import Task, check_defaults

if TYPE_CHECKING:
    from suiro.pipeline import Pipeline


def check_call(
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


def check_types(
    nodes: Mapping[str, Node],
    task: Task[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    mapped: bool,
    location: str,
) -> None:
    """A literal or a task output that cannot fit the parameter's annotation fails at its line."""
    hints = hints_or_empty(task.fn)
    bound = task.signature.bind(*args, **kwargs).arguments
    for name, value in bound.items():
        expected = hints.get(name)
        if is_file_annotation(expected):
            continue  # an Input[...] gets a stored file's handle, whatever its producer's annotation
        if expected is None or task.signature.parameters[name].kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        each = mapped and not isinstance(value, unmapped)  # the parameter gets each item of the value
        if isinstance(value, unmapped):
            items = [value.value]
        elif each and isinstance(value, MAPPABLE):
            items, each = list(value), False  # a literal list: its items are checked one by one
        else:
            items = [value]
        for item in items:
            problem = type_problem(nodes, item, expected, each=each)
            if problem:
                raise DefinitionError(
                    f"{task.name}{'.map' if mapped else ''}() at {location}: argument {name} {problem}; "
                    "pass a value of that type or change the annotation.",
                    task=task.name,
                    location=location,
                )


def type_problem(nodes: Mapping[str, Node], value: Any, expected: Any, *, each: bool = False) -> str | None:
    """Why ``value`` cannot feed a parameter annotated ``expected`` (each of its items if ``each``)."""
    if isinstance(value, Ref):
        use = value._binding
        if isinstance(use, Expr):  # a comparison, &, | or ~ gives a bool; others are not judged
            from suiro.expressions import OPERATORS

            gives_bool = OPERATORS[use.op].gives_bool and not each
            if gives_bool and incompatible(bool, expected):
                wanted = getattr(expected, "__name__", expected)
                return f"gets {describe(use)}, a bool, but is annotated {wanted}"
            return None
        if use.path or use.is_param or use.source not in nodes or nodes[use.source].is_map:
            return None
        if nodes[use.source].task.outputs:  # it gives its Output files, not what its annotation says
            return None
        produced = hints_or_empty(nodes[use.source].task.fn).get("return")
        if each:  # only a list that names its items says what each item is: list[str], tuple[str, ...]
            produced = item_type(produced)
        if produced is not None and incompatible(produced, expected):
            what = "the items of the output of {}, each a {}" if each else "the output of {}, a {}"
            return (
                f"gets {what.format(use.source, produced.__name__)}, but is annotated "
                f"{getattr(expected, '__name__', expected)}"
            )
        return None
    if has_ref(value):
        return None
    reason = literal_problem(expected, value)
    return (
        f"= {value!r} does not fit {getattr(expected, '__name__', expected)} ({reason})" if reason else None
    )


def hints_or_empty(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s resolved annotations (read-only: shared), or {} when they cannot be resolved."""
    try:
        return _type_hints(fn)
    except Exception:  # unresolvable annotations are not checked
        return {}


def _check_literal_lengths(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], location: str
) -> None:
    """Mapped literal lists of different lengths fail now, not when the pipeline runs."""
    literals = [v for v in (*args, *kwargs.values()) if isinstance(v, MAPPABLE) and not has_ref(v)]
    if len({len(v) for v in literals}) > 1:
        sizes = ", ".join(str(len(v)) for v in literals)
        raise DefinitionError(
            f"{task.name}.map at {location}: the mapped lists differ in length ({sizes}); "
            "give lists of one length or wrap the whole ones in unmapped().",
            task=task.name,
            location=location,
        )


class About(NamedTuple):
    """What a pipeline says about itself and its tasks, checked: task defaults, description, owner, tags."""

    task_defaults: dict[str, Any]
    description: str | None
    owner: str | None
    tags: frozenset[str]

    @classmethod
    def of(
        cls,
        fn: Callable[..., Any],
        name: str,
        location: str,
        *,
        task_defaults: Any,
        description: Any,
        owner: Any,
        tags: Any,
    ) -> About:
        where = f"pipeline {name} at {location}"
        defaults = check_defaults(task_defaults, owner=where, location=location)
        tags = [tags] if isinstance(tags, str) else tags
        problems = [
            f"{label} must be text, got {value!r}"
            for label, value in (("description", description), ("owner", owner))
            if value is not None and not isinstance(value, str)
        ]
        if not isinstance(tags, Iterable) or not all(isinstance(t, str) for t in tags):
            problems.append(f"tags must be text or a list of text, got {tags!r}")
        if problems:
            raise DefinitionError(f"{where}: {'; '.join(problems)}.", task=name, location=location)
        return cls(defaults, description or summary(fn), owner, frozenset(tags))


def bind_inputs(
    nodes: Mapping[str, Node],
    graph_name: str,
    inner: Pipeline,
    call: tuple[tuple[Any, ...], dict[str, Any]],
    location: str,
) -> dict[str, Binding]:
    """Each of a sub-pipeline's parameters' binding: what the call passed, else its default."""
    args, kwargs = call
    names = [p.name for p in inner.params]
    unknown = [k for k in kwargs if k not in names]
    try:
        if unknown:
            raise TypeError(f"got an unexpected keyword argument {unknown[0]!r}")
        given = inspect.signature(inner.fn).bind(*args, **kwargs).arguments
    except TypeError as exc:
        hint = did_you_mean(unknown[0], names) if unknown else ""
        raise DefinitionError(
            f"pipeline {inner.name}() at {location}: {exc}{hint}; its parameters are ({', '.join(names)}).",
            task=inner.name,
            location=location,
        ) from None
    inputs: dict[str, Binding] = {}
    for param in inner.params:
        if param.name not in given:
            inputs[param.name] = Const(param.default)
            continue
        value = given[param.name]
        problem = type_problem(nodes, value, param.annotation) if param.annotation is not EMPTY else None
        if problem:
            raise DefinitionError(
                f"pipeline {inner.name}() at {location}: argument {param.name} {problem}; "
                "pass a value of that type or change the annotation.",
                task=inner.name,
                location=location,
            )
        inputs[param.name] = to_binding(value, graph_name)
    return inputs


def params_of(fn: Callable[..., Any], name: str, location: str) -> tuple[Param, ...]:
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
    from suiro.logical import is_marker

    if is_marker(default):
        _check_marker(pipeline_name, location, param, annotation, default)
        return default
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


def _check_marker(pipeline_name: str, location: str, param: str, annotation: Any, marker: Any) -> None:
    """A ``suiro.logical`` default must fit its annotation as the value it stands for will."""
    import datetime

    sample = marker.sample()
    fits = matches(annotation, sample) and not (
        annotation is datetime.date and isinstance(sample, datetime.datetime)
    )
    if not fits:
        from pydantic import TypeAdapter

        try:
            fits = TypeAdapter(annotation).validate_python(sample, strict=True) is not None
        except Exception:
            fits = False
    if not fits:
        raise DefinitionError(
            f"pipeline {pipeline_name} at {location}: parameter {param} has default {marker!r} "
            f"({marker.kind}), which does not match its annotation {_type_name(annotation)}; "
            "annotate it to match or choose another suiro.logical marker.",
            task=pipeline_name,
            location=location,
        )


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


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
