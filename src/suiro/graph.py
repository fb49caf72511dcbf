"""The static DAG a pipeline is traced into: nodes, bindings, order, drawings.

Owns the data structure every other part reads (runner, compile targets, store as
JSON). Runs nothing and traces nothing; knows tasks only as objects with a name.
"""

from __future__ import annotations

import graphlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from suiro.errors import CycleError
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
    """The output of a node (or a parameter's value), optionally indexed into.

    ``path`` steps are ``("item", key)``, ``("attr", name)`` or ``("not", None)``.
    """

    source: str
    is_param: bool = False
    path: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Pack:
    """A list, tuple or dict literal with references inside it."""

    kind: str  # "list" | "tuple" | "dict"
    items: tuple[tuple[Any, Binding], ...]


@dataclass(frozen=True, slots=True)
class Unmapped:
    """An argument of a mapped call passed whole to every item."""

    inner: Binding


Binding: TypeAlias = Const | Use | Pack | Unmapped


@dataclass(frozen=True, slots=True)
class Condition:
    """A ``when(...)`` guard: the node runs only if ``use`` is truthy (falsy if ``negate``)."""

    use: Use
    negate: bool = False


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
        keys.update(c.use.source for c in self.conditions if not c.use.is_param)
        return keys

    @property
    def data_upstream(self) -> set[str]:
        """Keys of the nodes whose outputs this one consumes."""
        keys: set[str] = set()
        for binding in (*self.args, *self.kwargs.values()):
            keys.update(u.source for u in iter_uses(binding) if not u.is_param)
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


@dataclass(slots=True)
class Graph:
    """A traced pipeline: parameters, nodes in definition order, and its output."""

    name: str
    params: tuple[Param, ...]
    nodes: dict[str, Node]
    output: Binding | None = None
    location: str = ""

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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (stored with every run, drawn by the UI)."""
        return {
            "name": self.name,
            "params": [
                {
                    "name": p.name,
                    "annotation": _type_name(p.annotation),
                    "default": None if p.default is EMPTY else _jsonable(p.default),
                    "required": p.required,
                }
                for p in self.params
            ],
            "nodes": [
                {
                    "key": n.key,
                    "task": n.task.name,
                    "function": function_name(n.task.fn),
                    "upstream": sorted(n.upstream),
                    "map": n.is_map,
                    "max_concurrency": n.max_concurrency,
                    "trigger_rule": n.trigger_rule.value,
                    "conditions": [{"source": c.use.source, "negate": c.negate} for c in n.conditions],
                    "location": n.location,
                    "options": {
                        "retries": n.task.options.retries,
                        "timeout": n.task.options.timeout,
                        "tags": sorted(n.task.options.tags),
                        "resources": dict(n.task.options.resources),
                    },
                }
                for n in self.nodes.values()
            ],
        }

    def to_mermaid(self) -> str:
        """A Mermaid flowchart: mapped nodes drawn as stacks, guarded edges labelled."""
        lines = ["flowchart TD"]
        ids = {k: f"n{i}" for i, k in enumerate(self.nodes)}
        for key, node in self.nodes.items():
            label = f"{key}[*]" if node.is_map else key
            lines.append(
                f'    {ids[key]}{"[[" if node.is_map else "["}"{label}"{"]]" if node.is_map else "]"}'
            )
        for key, node in self.nodes.items():
            guards = {c.use.source: c for c in node.conditions}
            for up in sorted(node.upstream):
                cond = guards.get(up)
                edge = f'-- "{"not " if cond.negate else ""}when" -->' if cond else "-->"
                lines.append(f"    {ids[up]} {edge} {ids[key]}")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """A Graphviz digraph with the same conventions as ``to_mermaid``."""
        lines = [f'digraph "{self.name}" {{', "    rankdir=TB;"]
        for key, node in self.nodes.items():
            shape = "box3d" if node.is_map else "box"
            lines.append(f'    "{key}" [shape={shape}, label="{key}{"[*]" if node.is_map else ""}"];')
        for key, node in self.nodes.items():
            guards = {c.use.source: c for c in node.conditions}
            for up in sorted(node.upstream):
                cond = guards.get(up)
                attr = f' [label="{"not " if cond.negate else ""}when", style=dashed]' if cond else ""
                lines.append(f'    "{up}" -> "{key}"{attr};')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """One line per node in run order: key, what it waits for, and how."""
        lines = [f"pipeline {self.name}"]
        if self.params:
            lines.append("  params: " + ", ".join(_param_text(p) for p in self.params))
        for key in self.toposort():
            node = self.nodes[key]
            bits = []
            if node.upstream:
                bits.append("after " + ", ".join(sorted(node.upstream)))
            if node.is_map:
                bits.append(
                    "map" + (f" (max {node.max_concurrency} at once)" if node.max_concurrency else "")
                )
            for c in node.conditions:
                bits.append(f"when {'not ' if c.negate else ''}{c.use.source}")
            if node.trigger_rule is not TriggerRule.ALL_SUCCESS:
                bits.append(node.trigger_rule.value)
            lines.append(f"  {key}" + (f"  <- {'; '.join(bits)}" if bits else ""))
        return "\n".join(lines) + "\n"


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
