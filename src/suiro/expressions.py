"""The operators a pipeline may apply to task outputs while it is traced, and how they evaluate.

``metrics["accuracy"] >= threshold`` or ``workdir + "/input.csv"`` inside ``@pipeline`` records an
expression (``suiro.graph.Expr``) instead of computing anything; the runner evaluates it with
``evaluate`` once its inputs exist, and the drawings print it with each operator's ``symbol`` and
Python's ``precedence``. A leaf: imports nothing from suiro but the error it raises.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from suiro.errors import ExpressionError


@dataclass(frozen=True, slots=True)
class Operator:
    """One operator: how it is written, how tightly it binds (Python's order), what it computes."""

    symbol: str
    precedence: int
    apply: Callable[..., Any]
    unary: bool = False
    gives_bool: bool = False  # its result is always a bool (for definition-time type checks)


def _and(left: Any, right: Any) -> bool:
    return bool(left) and bool(right)


def _or(left: Any, right: Any) -> bool:
    return bool(left) or bool(right)


def _not(value: Any) -> bool:
    return not value


#: Binding strength as in Python's grammar, loosest first (``|`` < ``&`` < ``+`` < ``*`` < ...).
COMPARE, OR, AND, SUM, PRODUCT, UNARY, POWER, POSTFIX, ATOM = 4, 6, 8, 10, 11, 12, 13, 15, 16

OPERATORS: dict[str, Operator] = {
    "eq": Operator("==", COMPARE, operator.eq, gives_bool=True),
    "ne": Operator("!=", COMPARE, operator.ne, gives_bool=True),
    "lt": Operator("<", COMPARE, operator.lt, gives_bool=True),
    "le": Operator("<=", COMPARE, operator.le, gives_bool=True),
    "gt": Operator(">", COMPARE, operator.gt, gives_bool=True),
    "ge": Operator(">=", COMPARE, operator.ge, gives_bool=True),
    # & and | are logical on references, as ~ already is: they combine conditions for when().
    "and": Operator("&", AND, _and, gives_bool=True),
    "or": Operator("|", OR, _or, gives_bool=True),
    "not": Operator("~", UNARY, _not, unary=True, gives_bool=True),
    "add": Operator("+", SUM, operator.add),
    "sub": Operator("-", SUM, operator.sub),
    "mul": Operator("*", PRODUCT, operator.mul),
    "truediv": Operator("/", PRODUCT, operator.truediv),
    "floordiv": Operator("//", PRODUCT, operator.floordiv),
    "mod": Operator("%", PRODUCT, operator.mod),
    "pow": Operator("**", POWER, operator.pow),
    "neg": Operator("-", UNARY, operator.neg, unary=True),
    "pos": Operator("+", UNARY, operator.pos, unary=True),
    "abs": Operator("abs", ATOM, abs, unary=True),
    "item": Operator("[]", POSTFIX, operator.getitem),
    "attr": Operator(".", POSTFIX, getattr),
}


def evaluate(op: str, values: Sequence[Any], *, text: str) -> Any:
    """Apply operator ``op`` to the operands' values.

    Args:
        op: a key of ``OPERATORS``.
        values: the operands, already resolved.
        text: the expression as written, for the error.

    Raises:
        ExpressionError: the operator failed on these values (``None + "x"``, a missing key);
            the original exception is its cause.
    """
    try:
        return OPERATORS[op].apply(*values)
    except Exception as exc:
        raise ExpressionError(
            f"expression {text} failed: {type(exc).__name__}: {exc}; check the values it gets "
            "(an upstream task that was skipped or failed gives None).",
            expression=text,
        ) from exc


def render(op: str, operands: Sequence[tuple[str, int]]) -> tuple[str, int]:
    """Source text of ``op`` applied to operands given as (text, precedence), and its precedence.

    Operands are parenthesised only where Python would need it, so ``(a >= 1) & (b < 2)``,
    ``-(a + b)`` and ``(a + b)['k']`` print as written.
    """
    spec = OPERATORS[op]
    if op == "abs":
        return f"abs({operands[0][0]})", ATOM
    if op == "item":
        return f"{_wrap(operands[0], POSTFIX, False)}[{operands[1][0]}]", POSTFIX
    if op == "attr":
        return f"{_wrap(operands[0], POSTFIX, False)}.{operands[1][0]}", POSTFIX  # the name, unquoted
    if spec.unary:
        return f"{spec.symbol}{_wrap(operands[0], spec.precedence, False)}", spec.precedence
    right_assoc = op == "pow"
    left = _wrap(operands[0], spec.precedence, right_assoc or spec.precedence == COMPARE)
    right = _wrap(operands[1], spec.precedence, not right_assoc)
    return f"{left} {spec.symbol} {right}", spec.precedence


def _wrap(operand: tuple[str, int], precedence: int, tie_needs_parens: bool) -> str:
    text, inner = operand
    if inner < precedence or (inner == precedence and tie_needs_parens):
        return f"({text})"
    return text
