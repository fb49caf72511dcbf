"""Sub-pipelines: a traced pipeline's nodes copied into another pipeline as a named group.

Calling ``@pipeline prep`` inside ``@pipeline train`` inserts prep's nodes under keys
``prep.<key>`` (``prep_2.<key>`` for a second call); each of prep's parameters is replaced by
what the call passed for it (a reference, parameter or literal) or its default. The copies are
ordinary nodes, so they run, cache, resume and are addressed (``suiro show``, ``logs``,
``explain``) like any other. Pure: works on graphs, traces nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from suiro.graph import Binding, Condition, Const, Expr, Graph, Group, Node, Pack, Unmapped, Use
from suiro.pathstep import Not, PathStep
from suiro.task import Task


def inline(
    graph: Graph,
    group: str,
    inputs: Mapping[str, Binding],
    *,
    conditions: tuple[Condition, ...],
    adapt: Callable[[Task[Any, Any]], Task[Any, Any]],
) -> tuple[list[Node], list[Group], Binding | None]:
    """``graph``'s nodes, groups and output as they stand inside another pipeline.

    Args:
        graph: the sub-pipeline's traced graph.
        group: the key of the new group; every node key gets ``group.`` in front.
        inputs: each of the sub-pipeline's parameters' binding in the calling pipeline.
        conditions: the ``when`` guards around the call, put before each node's own.
        adapt: applied to each node's task (the calling pipeline's ``task_defaults``).

    Returns:
        The new nodes (in definition order), the groups nested in this one, and the output.
    """
    copy = _Rename(group, inputs)
    nodes = [
        Node(
            key=copy.key(node.key),
            task=adapt(node.task),
            args=tuple(copy.binding(b) for b in node.args),
            kwargs={k: copy.binding(b) for k, b in node.kwargs.items()},
            location=node.location,
            is_map=node.is_map,
            max_concurrency=node.max_concurrency,
            conditions=conditions + tuple(Condition(copy.binding(c.use), c.negate) for c in node.conditions),
            after={copy.key(key) for key in node.after},
            group=copy.key(node.group) if node.group else group,
        )
        for node in graph.nodes.values()
    ]
    groups = [Group(copy.key(g.key), g.pipeline, g.location, g.description) for g in graph.groups.values()]
    output = None if graph.output is None else copy.binding(graph.output)
    return nodes, groups, output


class _Rename:
    """Rewrites bindings of the sub-pipeline into the calling pipeline's terms."""

    def __init__(self, group: str, inputs: Mapping[str, Binding]):
        self.group = group
        self.inputs = inputs

    def key(self, key: str) -> str:
        return f"{self.group}.{key}"

    def binding(self, binding: Binding) -> Binding:
        if isinstance(binding, Use):
            if not binding.is_param:
                return Use(self.key(binding.source), False, binding.path)
            return with_path(self.inputs[binding.source], binding.path)
        if isinstance(binding, Expr):
            return Expr(binding.op, tuple(self.binding(b) for b in binding.operands))
        if isinstance(binding, Pack):
            return Pack(binding.kind, tuple((k, self.binding(b)) for k, b in binding.items))
        if isinstance(binding, Unmapped):
            return Unmapped(self.binding(binding.inner))
        return binding


def with_path(binding: Binding, path: Iterable[PathStep]) -> Binding:
    """``binding`` followed by ``Use`` path steps: on a reference they extend its path; on a
    literal or an expression they become expressions (``Expr("item", ...)``)."""
    steps = tuple(path)
    if not steps:
        return binding
    if isinstance(binding, Use):
        return Use(binding.source, binding.is_param, (*binding.path, *steps))
    for step in steps:
        binding = Expr(step.op, (binding,) if isinstance(step, Not) else (binding, Const(step.arg)))
    return binding
