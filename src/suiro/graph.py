"""The static DAG a pipeline is traced into: nodes, bindings, order, drawings.

Owns the data structure every other part reads (runner, compile targets, store as
JSON). Runs nothing and traces nothing; knows tasks only as objects with a name.
"""

from __future__ import annotations

import graphlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from suiro import graphrecord
from suiro.errors import CycleError
from suiro.pathstep import Attr, Item, PathStep
from suiro.states import TriggerRule

if TYPE_CHECKING:
    from suiro.task import Task

EMPTY = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class Param:
    """A pipeline parameter, from the pipeline function's signature.

    ``annotation`` and ``default`` are ``inspect.Parameter.empty`` when absent.
    """

    name: str
    annotation: Any = EMPTY
    default: Any = EMPTY

    @property
    def required(self) -> bool:
        """True when the parameter has no default and must be given."""
        return self.default is EMPTY


@dataclass(frozen=True, slots=True)
class Const:
    """A literal value known when the pipeline was traced."""

    value: Any


@dataclass(frozen=True, slots=True)
class Use:
    """The output of a node (or a parameter's value), optionally read into.

    ``path``: the steps taken into the value when the run gets there (``suiro.pathstep``).
    """

    source: str
    is_param: bool = False
    path: tuple[PathStep, ...] = ()


@dataclass(frozen=True, slots=True)
class Pack:
    """A list, tuple or dict literal with references inside it."""

    kind: str  # "list" | "tuple" | "dict"
    items: tuple[tuple[Any, Binding], ...]


@dataclass(frozen=True, slots=True)
class Unmapped:
    """An argument of a mapped call passed whole to every item."""

    inner: Binding


@dataclass(frozen=True, slots=True)
class Expr:
    """An operator applied to bindings when the run gets there: ``metrics["accuracy"] >= threshold``.

    ``op`` is a key of ``suiro.expressions.OPERATORS``; ``operands`` are bindings (an item key
    or attribute name is a ``Const``). Its value is a pure function of its operands', so a
    consumer's cache key holds the operator and the operands' fingerprints.
    """

    op: str
    operands: tuple[Binding, ...]


Binding: TypeAlias = Const | Use | Pack | Unmapped | Expr


@dataclass(frozen=True, slots=True)
class Condition:
    """A ``when(...)`` guard: the node runs only if ``use`` is truthy (falsy if ``negate``).

    ``use`` is a reference (a ``Use``) or an expression over references (an ``Expr``).
    """

    use: Use | Expr | Const
    negate: bool = False

    @property
    def sources(self) -> list[str]:
        """Keys of the nodes the condition reads (parameters are not nodes)."""
        return sorted({u.source for u in iter_uses(self.use) if not u.is_param})


@dataclass(slots=True)
class Node:
    """One task call in a pipeline (one node even when it fans out with ``map``)."""

    key: str
    task: Task[Any, Any]
    args: tuple[Binding, ...]
    kwargs: dict[str, Binding]
    location: str
    is_map: bool = False
    max_concurrency: int | None = None
    conditions: tuple[Condition, ...] = ()
    after: set[str] = field(default_factory=set)
    group: str = ""  # the key of the innermost sub-pipeline group it belongs to ("" for none)

    @property
    def trigger_rule(self) -> TriggerRule:
        """The rule deciding whether the node runs, from its task's options."""
        return self.task.options.trigger_rule

    @property
    def upstream(self) -> set[str]:
        """Keys of the nodes this one waits for: data inputs, conditions, ``>>`` edges."""
        keys = set(self.after)
        for binding in (*self.args, *self.kwargs.values()):
            keys.update(u.source for u in iter_uses(binding) if not u.is_param)
        keys.update(source for c in self.conditions for source in c.sources)
        return keys


def iter_uses(binding: Binding) -> Iterator[Use]:
    """Every ``Use`` inside a binding, depth first."""
    if isinstance(binding, Use):
        yield binding
    elif isinstance(binding, Pack):
        for _, item in binding.items:
            yield from iter_uses(item)
    elif isinstance(binding, Unmapped):
        yield from iter_uses(binding.inner)
    elif isinstance(binding, Expr):
        for operand in binding.operands:
            yield from iter_uses(operand)


def describe(binding: Binding) -> str:
    """A binding as pipeline source text: ``evaluate['accuracy'] >= threshold``, ``workdir + '/x'``.

    A task output is named by its node key, a parameter by its name.
    """
    return _source(binding)[0]


def _source(binding: Binding) -> tuple[str, int]:
    """(text, precedence) of a binding, so enclosing operators add only the parentheses needed."""
    from suiro.expressions import ATOM, render

    if isinstance(binding, Expr):
        if binding.op == "attr":
            return render("attr", [_source(binding.operands[0]), (str(binding.operands[1].value), ATOM)])  # type: ignore[union-attr]
        return render(binding.op, [_source(b) for b in binding.operands])
    if isinstance(binding, Use):
        text, precedence = binding.source, ATOM
        for step in binding.path:
            operands = [(text, precedence)]
            if isinstance(step, Item):
                operands.append((_short(step.key), ATOM))
            elif isinstance(step, Attr):
                operands.append((step.name, ATOM))
            text, precedence = render(step.op, operands)
        return text, precedence
    if isinstance(binding, Const):
        return _short(binding.value), ATOM
    if isinstance(binding, Unmapped):
        return f"unmapped({describe(binding.inner)})", ATOM
    if binding.kind == "dict":
        return "{" + ", ".join(f"{k!r}: {describe(b)}" for k, b in binding.items) + "}", ATOM
    inner = ", ".join(describe(b) for _, b in binding.items)
    return (
        f"[{inner}]" if binding.kind == "list" else f"({inner}{',' if len(binding.items) == 1 else ''})"
    ), ATOM


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(slots=True)
class Graph:
    """A traced pipeline: parameters, nodes in definition order, and its output."""

    name: str
    params: tuple[Param, ...]
    nodes: dict[str, Node]
    output: Binding | None = None
    location: str = ""
    description: str | None = None
    owner: str | None = None
    tags: frozenset[str] = frozenset()
    task_defaults: Mapping[str, Any] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ``CycleError`` naming the nodes and lines if the edges form a cycle."""
        sorter = graphlib.TopologicalSorter({k: n.upstream for k, n in self.nodes.items()})
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])
            where = ", ".join(f"{k} ({self.nodes[k].location})" for k in cycle[:-1])
            raise CycleError(
                f"pipeline {self.name} has a cycle {' -> '.join(cycle)}: {where}; "
                "remove one of these dependencies.",
                cycle=cycle,
                location=self.nodes[cycle[0]].location,
            ) from None

    def toposort(self) -> list[str]:
        """Node keys in an order where every node follows all its upstream nodes."""
        self.check()
        order = graphlib.TopologicalSorter({k: n.upstream for k, n in self.nodes.items()}).static_order()
        return list(order)

    def downstream(self) -> dict[str, set[str]]:
        """For each node key, the keys of the nodes that wait for it."""
        down: dict[str, set[str]] = {k: set() for k in self.nodes}
        for key, node in self.nodes.items():
            for up in node.upstream:
                down[up].add(key)
        return down

    def steps(self) -> list[list[str]]:
        """Node keys by step: a node is one step after the last of its upstream nodes, so the
        nodes of one step share no dependency and can run at once (in trace order)."""
        step: dict[str, int] = {}
        for key in self.toposort():
            step[key] = 1 + max((step[up] for up in self.nodes[key].upstream), default=-1)
        found: list[list[str]] = [[] for _ in range(max(step.values(), default=-1) + 1)]
        for key in self.nodes:
            found[step[key]].append(key)
        return found

    def unused(self) -> dict[str, str | None]:
        """Nodes whose output nothing reads or waits for and that the pipeline does not return,
        each with the next node traced after it that it does not wait for (None: none).

        Such a node runs in parallel with the rest: often a missing ``a >> b`` in a port of a
        script whose steps ran in order.
        """
        down = self.downstream()
        returned = set(output_sources(self.output)) if self.output is not None else set()
        keys = list(self.nodes)
        found: dict[str, str | None] = {}
        for i, key in enumerate(keys):
            if down[key] or key in returned:
                continue
            before = self._reach(key)  # nothing waits for key: only these would make ``key >> k`` a cycle
            found[key] = next((k for k in keys[i + 1 :] if k not in before), None)
        return found

    def _reach(self, key: str) -> set[str]:
        """The nodes ``key`` waits for, directly or not."""
        seen: set[str] = set()
        stack = [key]
        while stack:
            for up in self.nodes[stack.pop()].upstream:
                if up not in seen:
                    seen.add(up)
                    stack.append(up)
        return seen

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, a dict per node: what ``suiro.drawing`` and the UI draw.

        Description, owner, tags, task defaults and groups appear only when the pipeline has
        them. ``to_record`` is the same description in the form stored with every run.
        """
        return graphrecord.expand(self.to_record())

    def to_record(self) -> dict[str, Any]:
        """The description stored with every run and sent with its first event (``suiro.graphrecord``):
        each distinct call once, each node as ``[key, call, upstream]``. Built directly, not from
        ``to_dict``: a node's dict was most of a 1,000,000-task chain's start."""
        calls: dict[tuple[Any, ...], int] = {}
        described: list[dict[str, Any]] = []
        told: dict[int, tuple[str, str | None]] = {}  # what each task says of itself, asked once
        nodes: list[list[Any]] = []
        for n in self.nodes.values():
            call = (id(n.task), n.location, n.is_map, n.max_concurrency, n.group)
            index = calls.get(call)
            if index is None:
                index = calls[call] = len(described)
                described.append(_call_dict(n, told))
            own = _own_dict(n)
            upstream = sorted(n.upstream)
            nodes.append([n.key, index, upstream, own] if own else [n.key, index, upstream])
        data: dict[str, Any] = {
            "name": self.name,
            "format": graphrecord.FORMAT,
            "params": [
                {
                    "name": p.name,
                    "annotation": _type_name(p.annotation),
                    "default": None if p.default is EMPTY else _jsonable(p.default),
                    "required": p.required,
                }
                for p in self.params
            ],
            "calls": described,
            "nodes": nodes,
        }
        extra = {
            "description": self.description,
            "owner": self.owner,
            "tags": sorted(self.tags),
            "task_defaults": {k: _jsonable(v) for k, v in self.task_defaults.items()},
            "groups": [
                {"key": g.key, "pipeline": g.pipeline, "location": g.location}
                | ({"description": g.description} if g.description else {})
                for g in self.groups.values()
            ],
        }
        return data | {k: v for k, v in extra.items() if v}

    def to_mermaid(self) -> str:
        """A Mermaid flowchart: mapped nodes drawn as stacks, guarded edges labelled."""
        from suiro import drawing

        return drawing.mermaid(self.to_dict())

    def to_dot(self) -> str:
        """A Graphviz digraph with the same conventions as ``to_mermaid``."""
        from suiro import drawing

        return drawing.dot(self.to_dict())

    def to_text(self) -> str:
        """One line per node in run order: key, what it waits for, and how."""
        from suiro import drawing

        self.check()
        return drawing.text(self.to_dict(), [_param_text(p) for p in self.params])


class Group(NamedTuple):  # a NamedTuple: ~10 times cheaper to define than a dataclass, at import
    """A sub-pipeline called inside a pipeline: its tasks' keys start with ``key.``."""

    key: str
    pipeline: str
    location: str
    description: str | None = None


def _call_dict(n: Node, told: dict[int, tuple[str, str | None]]) -> dict[str, Any]:
    """What every node of one call shares (its task, call site, mapping, group), as
    ``Graph.to_dict`` lists it in each node. ``told``: each task's function name and description
    by ``id``, found once per task (a docstring's ``cleandoc`` per node was most of a
    1,000,000-node chain's description)."""
    opts = n.task.options
    about = told.get(id(n.task))
    if about is None:
        about = told[id(n.task)] = (function_name(n.task.fn), opts.description or summary(n.task.fn))
    function, description = about
    data: dict[str, Any] = {
        "task": n.task.name,
        "function": function,
        "map": n.is_map,
        "max_concurrency": n.max_concurrency,
        "trigger_rule": n.trigger_rule.value,
        "location": n.location,
        "options": {
            "retries": opts.retries,
            "timeout": opts.timeout,
            "tags": sorted(opts.tags),
            "resources": dict(opts.resources),
        },
    }
    # Only what a node has: a pipeline without these is described without them.
    for label, value in (("group", n.group), ("description", description), ("owner", opts.owner)):
        if value:
            data[label] = value
    if opts.tags:
        data["tags"] = data["options"]["tags"]
    if opts.allow_failure:
        data["allow_failure"] = True
    return data


def _own_dict(n: Node) -> dict[str, Any] | None:
    """What only this node has (its guards, its inputs computed by expressions), or None."""
    data: dict[str, Any] = {}
    if n.conditions:
        data["conditions"] = [_condition_dict(c) for c in n.conditions]
    bindings = (*n.args, *n.kwargs.values())
    if any(_has_expr(b) for b in bindings):
        names = _input_names(n)
        data["expressions"] = [
            {"input": names[i], "expression": describe(b), "sources": _task_sources(b)}
            for i, b in enumerate(bindings)
            if _has_expr(b)
        ]
    return data or None


def _condition_dict(c: Condition) -> dict[str, Any]:
    if isinstance(c.use, Use):
        return {"source": c.use.source, "negate": c.negate}
    return {"source": None, "negate": c.negate, "expression": describe(c.use), "sources": c.sources}


def _task_sources(binding: Binding) -> list[str]:
    return sorted({u.source for u in iter_uses(binding) if not u.is_param})


def output_sources(binding: Binding) -> list[str]:
    """Keys of the nodes a binding (e.g. the pipeline's output) reads, sorted."""
    return _task_sources(binding)


def _input_names(n: Node) -> list[str]:
    """Each argument's parameter name (``#i`` past the named ones, for ``*args``), then keywords."""
    named = [
        p.name
        for p in n.task.signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return [named[i] if i < len(named) else f"#{i}" for i in range(len(n.args))] + list(n.kwargs)


def _has_expr(binding: Binding) -> bool:
    if isinstance(binding, Pack):
        return any(_has_expr(b) for _, b in binding.items)
    if isinstance(binding, Unmapped):
        return _has_expr(binding.inner)
    return isinstance(binding, Expr)


def summary(fn: Any) -> str | None:
    """The first line of a plain function's docstring (a mock's class docstring is not its own)."""
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        return None
    doc = fn.__doc__
    lines = inspect.cleandoc(doc).strip().splitlines() if isinstance(doc, str) else []
    return lines[0] if lines else None


def function_name(fn: Any) -> str:
    """``module.qualname`` of a task's callable; a mock or a partial (no name) by its repr."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not isinstance(name, str):
        return repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if isinstance(module, str) else name


def _param_text(p: Param) -> str:
    text = p.name
    if p.annotation is not EMPTY:
        text += f": {_type_name(p.annotation)}"
    if p.default is not EMPTY:
        text += f" = {p.default!r}"
    return text


def _type_name(annotation: Any) -> str | None:
    if annotation is EMPTY:
        return None
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
