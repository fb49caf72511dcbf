"""Which typed KFP artifacts a compiled task writes besides its output reference.

A copy of the output for KFP's UI and lineage (readers still take the reference): ``Output[...]``
files by name, a returned frame or array as a ``Dataset``, a returned model as a ``Model``, and
the metrics a task logs as ``Metrics``. Pure: reads the task, imports no engine.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from suiro.graph import Node

#: suiro's file kinds that are KFP artifact types of the same name (any other is an ``Artifact``).
KINDS = ("Artifact", "Dataset", "Model", "Metrics")


def artifact_outputs(node: Node) -> dict[str, tuple[str, str]]:
    """The typed KFP artifacts a task's component writes besides its reference: variable ->
    (what suiro exports there, KFP kind). ``Output[...]`` parameters by name; else a returned
    frame or array as ``Dataset``, a returned model as ``Model``; ``<metrics>`` as ``Metrics``
    when the task's module logs metrics. Each is a copy: readers still get the reference."""
    found: dict[str, tuple[str, str]] = {}
    for name, kind in node.task.outputs.items():
        var = f"out_{name}" if re.fullmatch(r"[rp]\d+|index", name) else name
        found[var] = (name, kind if kind in KINDS else "Artifact")
    returned = _returned_kind(node.task.fn) if not found else None
    if returned is not None:
        found[returned.lower()] = ("<return>", returned)
    if "Metrics" not in {kind for _, kind in found.values()} and _logs_metrics(node.task.fn):
        found["metrics" if "metrics" not in found else "logged_metrics"] = ("<metrics>", "Metrics")
    return found


def _returned_kind(fn: Any) -> str | None:
    """``Dataset`` for a function annotated to return a frame or array, ``Model`` for a model."""
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:  # an annotation that does not resolve here: no typed artifact
        return None
    names = {c.__name__ for c in getattr(hint, "__mro__", ())}
    if names & {"DataFrame", "Series", "ndarray"}:
        return "Dataset"
    if names & {"BaseEstimator", "TrainedModel", "Booster"} or any(n.endswith("Model") for n in names):
        return "Model"
    return None


def _logs_metrics(fn: Any) -> bool:
    module = inspect.getmodule(fn)
    try:
        text = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        return False
    return "log_metric" in text or "record_metrics" in text
