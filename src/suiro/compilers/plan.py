"""What every compile target needs to know about a graph, decided once: reads, guards, scopes.

A compiled task runs ``suiro task-run`` with the output references of its upstream tasks and the
parameter values it reads (``Step.reads``, ``Step.params``). A ``when`` guard is held by the
engine (KFP's ``dsl.If``, Airflow's branch) where it can be, that is where every task that waits
for a guarded task is guarded the same way: such a task sits in the guard's block with it. A
guard a ``none_failed``/``all_done`` task looks past (it runs although the guarded task was
skipped) cannot be a block the task is outside of, so ``suiro task-run`` decides that guard in
the task itself, which then hands on a ``skipped`` reference. Pure: reads the graph, no engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from suiro.graph import Condition, describe, iter_uses
from suiro.states import TriggerRule

if TYPE_CHECKING:
    from suiro.graph import Graph, Node


@dataclass(frozen=True, slots=True)
class Guard:
    """One ``when(...)`` the engine holds: the first task that has it evaluates it (``--mode when``)."""

    text: str  # the guarded expression, as pipeline source
    negate: bool
    node: str  # a task that has this guard, and the guard's number in its conditions
    index: int
    reads: tuple[str, ...]
    params: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"not {self.text}" if self.negate else self.text


@dataclass(frozen=True, slots=True)
class Step:
    """A task as a compiled spec runs it."""

    key: str
    reads: tuple[str, ...]  # upstream task keys whose output references it takes
    params: tuple[str, ...]  # pipeline parameters it reads (bindings and guards)
    scope: tuple[Guard, ...]  # the engine-held guards around it, outermost first


@dataclass(frozen=True, slots=True)
class Plan:
    steps: dict[str, Step]  # in a run order
    guards: tuple[Guard, ...]  # engine-held, in the order they first appear
    in_task: tuple[str, ...]  # guards decided by suiro task-run instead (their text), for the docs


def plan(graph: Graph) -> Plan:
    """Decide reads, parameters and guard scopes for every task of ``graph``."""
    order = graph.toposort()
    first: dict[tuple[str, bool], Guard] = {}
    for key in order:
        node = graph.nodes[key]
        for i, cond in enumerate(node.conditions):
            first.setdefault(_identity(cond), _guard(node, i, cond))
    rank = {ident: i for i, ident in enumerate(first)}
    held = set(first)
    while True:
        scopes, demote = _scopes(graph, order, held)
        paths = {key: tuple(sorted(scope, key=rank.__getitem__)) for key, scope in scopes.items()}
        demote |= _not_nested(graph, paths)
        if not demote:
            break
        held -= demote
    steps = {
        key: Step(
            key,
            tuple(sorted(graph.nodes[key].upstream)),
            _params(graph.nodes[key]),
            tuple(first[i] for i in paths[key]),
        )
        for key in order
    }
    kept = tuple(first[i] for i in first if i in held)
    return Plan(steps, kept, tuple(sorted({first[i].label for i in first if i not in held})))


def _identity(cond: Condition) -> tuple[str, bool]:
    return describe(cond.use), cond.negate


def _guard(node: Node, index: int, cond: Condition) -> Guard:
    params = sorted({u.source for u in iter_uses(cond.use) if u.is_param})
    return Guard(describe(cond.use), cond.negate, node.key, index, tuple(cond.sources), tuple(params))


def _scopes(
    graph: Graph, order: list[str], held: set[tuple[str, bool]]
) -> tuple[dict[str, set[tuple[str, bool]]], set[tuple[str, bool]]]:
    """Each task's engine-held guards, and the guards that cannot be held (a task looks past them)."""
    scopes: dict[str, set[tuple[str, bool]]] = {}
    demote: set[tuple[str, bool]] = set()
    for key in order:
        node = graph.nodes[key]
        own = {_identity(c) for c in node.conditions} & held
        inherited = set().union(*(scopes[up] for up in node.upstream)) if node.upstream else set()
        if node.trigger_rule is TriggerRule.ALL_SUCCESS:
            scopes[key] = own | inherited  # a skipped upstream skips it: it belongs in the block
        else:
            demote |= inherited - own  # it runs past a skipped upstream: outside the block
            scopes[key] = own
    return scopes, demote


def _not_nested(graph: Graph, paths: dict[str, tuple[tuple[str, bool], ...]]) -> set[tuple[str, bool]]:
    """Guards that would put a task's upstream task in a block the task is not inside.

    Blocks nest as a tree, so an upstream task's guards must be a prefix of the task's: with
    ``when(a)`` around x and ``when(b)`` around y, z(x, y) sits in a block b inside a block a, not
    in the block b around y. Such guards are decided by ``suiro task-run`` instead.
    """
    found: set[tuple[str, bool]] = set()
    for key, path in paths.items():
        for up in graph.nodes[key].upstream:
            above = paths[up]
            if path[: len(above)] != above:
                same = 0
                while same < min(len(above), len(path)) and above[same] == path[same]:
                    same += 1
                found |= set(above[same:])
    return found


def _params(node: Node) -> tuple[str, ...]:
    uses = [u for b in (*node.args, *node.kwargs.values()) for u in iter_uses(b)]
    uses += [u for c in node.conditions for u in iter_uses(c.use)]
    return tuple(sorted({u.source for u in uses if u.is_param}))
