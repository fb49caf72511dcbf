"""``Ref``: what a task call returns while a pipeline is traced, and what may be done with it.

A reference stands for a value that does not exist yet. Indexing it, taking an attribute,
comparing it, doing arithmetic on it or joining it with text records a binding (a ``Use``
path step or an ``Expr``) that the runner evaluates later. Everything Python would need the
value itself for (``if``, ``len``, ``str``, an f-string, ``os.path.join``, a method call, ``in``)
is a ``DefinitionError`` naming the line and the fix. Traces nothing itself: ``>>`` hands the
edge to the active tracer.
"""

from __future__ import annotations

import dis
import functools
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn

from suiro.errors import DefinitionError
from suiro.graph import Binding, Const, Expr, Pack, Unmapped, Use, describe
from suiro.mapping import unmapped
from suiro.pathstep import Attr, Item, Not
from suiro.task import active_tracer

#: Where this package's code lives: frames there are not the user's.
_HERE = __file__.rsplit("/", 1)[0]
#: Ending of the messages about using a value that does not exist while tracing.
_ABSENT = "its value does not exist while the pipeline is traced"


class Ref:
    """A placeholder for a value a task will produce (or a parameter's value).

    ``ref["key"]``, ``ref.attr``, comparisons (``ref >= 0.9``), arithmetic (``ref * 100``),
    text joins (``workdir + "/input.csv"``), ``~ref`` (not) and ``a & b``, ``a | b`` (and, or)
    make new references, evaluated when the run gets there. Using one as a Python bool, text,
    path, number or container is an error: the value does not exist while the pipeline is traced.
    """

    __slots__ = ("_binding", "_graph_name", "_location")
    __array_ufunc__ = None  # numpy defers to the reflected operators below instead of iterating
    __hash__: Any  # set below: a located error, since == builds an expression

    def __init__(self, binding: Use | Expr, location: str, graph_name: str):
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "_location", location)
        object.__setattr__(self, "_graph_name", graph_name)

    # -- derived references ------------------------------------------------------------------

    def _new(self, binding: Use | Expr) -> Ref:
        return Ref(binding, user_location(), self._graph_name)

    def _expr(self, op: str, *operands: Any) -> Ref:
        return self._new(Expr(op, tuple(to_binding(o, self._graph_name) for o in operands)))

    def __getitem__(self, key: Any) -> Ref:
        use = self._binding
        if isinstance(use, Use) and not isinstance(key, Ref):
            return self._new(Use(use.source, use.is_param, (*use.path, Item(key))))
        return self._expr("item", self, key)

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("_"):
            raise AttributeError(name)
        use = self._binding
        if isinstance(use, Use):
            return self._new(Use(use.source, use.is_param, (*use.path, Attr(name))))
        return self._expr("attr", self, name)

    def __invert__(self) -> Ref:
        use = self._binding
        if isinstance(use, Use):
            return self._new(Use(use.source, use.is_param, (*use.path, Not())))
        return self._expr("not", self)

    def __neg__(self) -> Ref:
        return self._expr("neg", self)

    def __pos__(self) -> Ref:
        return self._expr("pos", self)

    def __abs__(self) -> Ref:
        return self._expr("abs", self)

    # -- ordering without data ------------------------------------------------------------------

    def __rshift__(self, other: Ref) -> Ref:
        """``a >> b``: b runs after a, without taking its output (as in Airflow)."""
        _tracer().order(self, other)
        return other

    def __lshift__(self, other: Ref) -> Ref:
        _tracer().order(other, self)
        return other

    # -- what needs the value itself: located errors with the fix ------------------------------

    def __bool__(self) -> bool:
        if _user_instruction() == "CONTAINS_OP":  # `ref in [a, b]` compares ref == a, then asks bool
            subject = self._binding.operands[0] if isinstance(self._binding, Expr) else self._binding
            self._refuse(
                "was tested with `in`",
                "test membership inside a task (or compare with == for one value)",
                subject=subject,
            )
        self._refuse(
            "was used as a Python bool (if/and/or/not)",
            "use `with when(ref):` for a branch (and ~ref for its negation, a & b or a | b to combine)",
        )

    def __iter__(self) -> Iterator[Any]:
        location = user_location()
        raise DefinitionError(
            f"{self._describe()} was iterated or unpacked at {location}; its length is "
            "unknown while tracing, so index it (ref[0]) or fan out with task.map(ref).",
            task=self._source(),
            location=location,
        )

    def __contains__(self, item: Any) -> bool:
        self._refuse("was tested with `in`", "test membership inside a task")

    def __len__(self) -> int:
        self._refuse("was given to len()", "take its length inside a task (or fan out with task.map(ref))")

    def _hash(self) -> int:
        if _user_instruction() == "CONTAINS_OP":
            self._refuse("was tested with `in`", "test membership inside a task")
        self._refuse("was used as a dict key or set member", "build that dict or set inside a task")

    def __str__(self) -> str:
        self._refuse(
            "was turned into text (str(), print() or %)",
            "join text with + (workdir + '/input.csv') or format it inside a task",
        )

    def __format__(self, spec: str) -> str:
        self._refuse(
            "was formatted into text (an f-string or format())",
            "join text with + (workdir + '/input.csv') or format it inside a task",
        )

    def __fspath__(self) -> str:
        self._refuse(
            "was used as a file path (os.path.join, Path or open)",
            "join paths with + (workdir + '/input.csv') or inside a task",
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse("was called like a function (a method call on a task output?)", "call it inside a task")

    def _number(self, *args: Any) -> Any:
        self._refuse(
            "was converted to a number (int(), float(), round() or a Python list index)",
            "convert it inside a task (ref * 1.0 and ref // 1 stay references)",
        )

    __int__ = __float__ = __complex__ = __index__ = __round__ = __trunc__ = __floor__ = __ceil__ = _number

    def __setattr__(self, name: str, value: Any) -> None:
        self._refuse("is read-only (an attribute was set)", "set values inside a task instead")

    def __setitem__(self, key: Any, value: Any) -> None:
        self._refuse("is read-only (an item was set)", "set values inside a task instead")

    def __repr__(self) -> str:
        return f"<Ref {self._describe()}>"

    def _describe(self, binding: Binding | None = None) -> str:
        use = self._binding if binding is None else binding
        if not isinstance(use, Use):
            return f"the expression {describe(use)}"
        text = f"parameter {use.source}" if use.is_param else f"the output of {use.source}"
        for step in use.path:
            if isinstance(step, Item):
                text += f"[{step.key!r}]"
            elif isinstance(step, Attr):
                text += f".{step.name}"
            else:
                text += " (negated)"
        return text

    def _source(self, binding: Binding | None = None) -> str | None:
        """The task or parameter the reference reads (the first one, for an expression)."""
        use = self._binding if binding is None else binding
        if isinstance(use, Use):
            return use.source
        uses = [operand for operand in getattr(use, "operands", ()) if isinstance(operand, Use | Expr)]
        return self._source(uses[0]) if uses else None

    def _refuse(self, what: str, fix: str, *, subject: Binding | None = None) -> NoReturn:
        location = user_location()
        raise DefinitionError(
            f"{self._describe(subject)} {what} at {location}; {_ABSENT}, so {fix}.",
            task=self._source(subject),
            location=location,
        )


Ref.__hash__ = Ref._hash  # type: ignore[method-assign,assignment]


def _binary(op: str, *, reflected: bool = False) -> Callable[[Ref, Any], Ref]:
    def method(self: Ref, other: Any) -> Ref:
        return self._expr(op, other, self) if reflected else self._expr(op, self, other)

    method.__name__ = f"__{'r' if reflected else ''}{op}__"
    return method


def _unsupported(symbol: str) -> Callable[..., Any]:
    def method(self: Ref, *other: Any) -> NoReturn:
        self._refuse(f"was given to {symbol}, which references do not support", "compute it inside a task")

    return method


for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(Ref, f"__{_name}__", _binary(_name))
for _name, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "truediv")):
    setattr(Ref, f"__{_name}__", _binary(_op))
    setattr(Ref, f"__r{_name}__", _binary(_op, reflected=True))
for _name, _op in (("floordiv", "floordiv"), ("mod", "mod"), ("pow", "pow"), ("and", "and"), ("or", "or")):
    setattr(Ref, f"__{_name}__", _binary(_op))
    setattr(Ref, f"__r{_name}__", _binary(_op, reflected=True))
for _name, _symbol in (("xor", "^"), ("matmul", "@"), ("divmod", "divmod()")):
    setattr(Ref, f"__{_name}__", _unsupported(_symbol))
    setattr(Ref, f"__r{_name}__", _unsupported(_symbol))


def to_binding(value: Any, graph_name: str) -> Binding:
    """Turn an argument into a binding, finding references inside lists, tuples and dicts."""
    if isinstance(value, Ref):
        if value._graph_name != graph_name:
            raise DefinitionError(
                f"{value!r} belongs to pipeline {value._graph_name}, not {graph_name}; "
                "a reference can only be used in the pipeline that made it."
            )
        return value._binding
    if isinstance(value, unmapped):
        return Unmapped(to_binding(value.value, graph_name))
    if isinstance(value, list | tuple) and any(has_ref(v) for v in value):
        kind = "list" if isinstance(value, list) else "tuple"
        return Pack(kind, tuple((i, to_binding(v, graph_name)) for i, v in enumerate(value)))
    if isinstance(value, dict) and any(has_ref(v) for v in value.values()):
        return Pack("dict", tuple((k, to_binding(v, graph_name)) for k, v in value.items()))
    return Const(value)


def has_ref(value: Any) -> bool:
    """Whether a value is a reference or holds one (in a list, tuple, dict or ``unmapped``)."""
    if isinstance(value, Ref):
        return True
    if isinstance(value, list | tuple):
        return any(has_ref(v) for v in value)
    if isinstance(value, dict):
        return any(has_ref(v) for v in value.values())
    return isinstance(value, unmapped) and has_ref(value.value)


def _tracer() -> Any:
    trace = active_tracer.get()
    if trace is None or not hasattr(trace, "order"):
        location = user_location()
        raise DefinitionError(
            f">> at {location} is only allowed inside a @pipeline function; call it while tracing one.",
            location=location,
        )
    return trace


def _is_users(filename: str) -> bool:
    """Whether code in ``filename`` is the user's: not suiro, the standard library or a package."""
    return not filename.startswith(_not_users())


@functools.cache
def _not_users() -> tuple[str, ...]:
    """Where code that is not the user's lives (computed on the first error: ``import suiro`` stays light)."""
    import sysconfig

    paths = sysconfig.get_paths()
    return (_HERE, "<frozen ", *sorted({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}))


def _user_frame() -> FrameType | None:
    """The first frame in the user's code: their pipeline, not suiro nor ``os.path`` called by it."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not _is_users(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_location() -> str:
    """``file:line`` of the first frame outside suiro (the user's pipeline code)."""
    frame = _user_frame()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "<unknown>"


def raised_at(exc: BaseException, *, default: str) -> str:
    """``file:line`` of the innermost frame of ``exc``'s traceback in the user's own code.

    Frames in suiro, the standard library and installed packages are passed over, so an error
    raised inside ``os.path`` points at the user's call. ``default`` when there is none.
    """
    found, tb = default, exc.__traceback__
    while tb is not None:
        if _is_users(tb.tb_frame.f_code.co_filename):
            found = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def _user_instruction() -> str | None:
    """The bytecode instruction the user's frame is executing (``CONTAINS_OP`` for ``in``)."""
    frame = _user_frame()
    if frame is None:
        return None
    for instruction in dis.get_instructions(frame.f_code):
        if instruction.offset == frame.f_lasti:
            return instruction.opname
    return None
