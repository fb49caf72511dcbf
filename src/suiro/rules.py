"""Trigger rules and bindings: how a node decides to run, how its inputs are read, and the error
of a node whose inputs could not be.

Pure functions over states and values, shared by the runner; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from suiro.errors import DefinitionError
from suiro.events import ErrorInfo
from suiro.executors.base import error_info
from suiro.expressions import evaluate
from suiro.graph import Binding, Const, Expr, Pack, Unmapped, Use, describe
from suiro.mapping import unmapped
from suiro.pathstep import follow
from suiro.reuse import Lazy
from suiro.states import TaskState, TriggerRule

if TYPE_CHECKING:
    from suiro.graph import Node


def verdict(
    node: Node,
    states: list[TaskState],
    state_of: Callable[[str], TaskState],
    truth_of: Callable[[Binding], bool],
) -> TaskState | None:
    """The state a node ends in without running, or None if it should run.

    Its ``when`` guards decide first when what they read failed or was skipped, then its trigger
    rule over the states its upstream nodes ended in, then the guards' values.

    Args:
        node: the node, whose upstream nodes have all ended.
        states: the states its upstream nodes ended in.
        state_of: the state a node ended in, by key (for what a guard reads).
        truth_of: whether a guard's binding holds (its value is read here, so it may raise: the
            node could not get its inputs).
    """
    for state in (state_of(source) for cond in node.conditions for source in cond.sources):
        if state.is_failure:
            return (
                TaskState.SKIPPED if node.trigger_rule is TriggerRule.ALL_DONE else TaskState.UPSTREAM_FAILED
            )
        if state is TaskState.SKIPPED:
            return TaskState.SKIPPED
    state = apply_rule(node.trigger_rule, states)
    if state is not None:
        return state
    for cond in node.conditions:
        if truth_of(cond.use) == cond.negate:
            return TaskState.SKIPPED
    return None


def input_error(node: Node, exc: Exception) -> ErrorInfo:
    """The error of a node that could not get its inputs (a binding or a ``when`` guard raised
    ``exc`` as it was read): never retried, as reading them again would raise again."""
    info = error_info(exc, retry_on=())
    if isinstance(exc, DefinitionError):  # it names the call (``sq.map: argument #1 ...``): said once
        message = info.message
    else:
        message = f"task {node.key} at {node.location} could not get its inputs: {info}"
    return ErrorInfo(type=info.type, message=message, traceback=info.traceback, retryable=False)


def apply_rule(rule: TriggerRule, states: list[TaskState]) -> TaskState | None:
    """Airflow's trigger rules over upstream states: the state a node ends in, or None to run it.

    ``one_success`` waits for every upstream to end (its inputs must exist), then runs
    if one succeeded.
    """
    failed = any(s.is_failure for s in states)
    if rule is TriggerRule.ALL_DONE:
        return None
    if rule is TriggerRule.ONE_SUCCESS:
        if not states or any(s.is_ok for s in states):
            return None
        return TaskState.UPSTREAM_FAILED if failed else TaskState.SKIPPED
    if failed:
        return TaskState.UPSTREAM_FAILED
    if rule is TriggerRule.ALL_SUCCESS and any(s is TaskState.SKIPPED for s in states):
        return TaskState.SKIPPED
    return None


def resolve(binding: Binding | None, params: Mapping[str, Any], values: dict[str, Any]) -> Any:
    """The value a binding stands for, loading reused outputs (``Lazy``) on first use.

    ``values`` holds node outputs by key (None for skipped or failed nodes); a loaded
    ``Lazy`` is replaced in it so it is loaded once.
    """
    if isinstance(binding, Const):
        return binding.value
    if isinstance(binding, Use):
        if binding.is_param:
            value = params[binding.source]
        else:
            value = values.get(binding.source)
            if isinstance(value, Lazy):
                value = values[binding.source] = value.load()
        return follow(value, binding.path) if binding.path else value
    if isinstance(binding, Unmapped):
        return unmapped(resolve(binding.inner, params, values))
    if isinstance(binding, Expr):
        operands = [resolve(operand, params, values) for operand in binding.operands]
        return evaluate(binding.op, operands, text=describe(binding))
    if isinstance(binding, Pack):
        items = [(k, resolve(b, params, values)) for k, b in binding.items]
        if binding.kind == "dict":
            return dict(items)
        found = [v for _, v in items]
        return found if binding.kind == "list" else tuple(found)
    return None
