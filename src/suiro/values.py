"""The node outputs a run holds in memory, and the arguments read from them.

Holds each ended node's output until the last node that reads it has taken its inputs, then
drops it, so a long run holds bounded memory (the pipeline's own output is kept to the end).
Reads bindings into arguments: a reused output (``Lazy``) is loaded here once, or, for a worker
process that can load it itself, handed over as a ``Deferred`` load.

Must not decide states or talk to the store: calling a loader is its only I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from suiro.executors.base import Deferred
from suiro.graph import Binding, Graph, Use, iter_uses
from suiro.memo import is_portable
from suiro.rules import resolve


class Values:
    """The outputs of one run's ended nodes that a node still to run may read.

    Args:
        graph: the run's graph (its pipeline's output is kept to the end).
        params: the run's parameter values (bindings may read them too).
        upstream: the keys of the nodes each node waits for (who reads what).
    """

    def __init__(self, graph: Graph, params: Mapping[str, Any], upstream: Mapping[str, Iterable[str]]):
        self._params = params
        self._held: dict[str, Any] = {}
        self._readers = dict.fromkeys(graph.nodes, 0)
        for ups in upstream.values():
            for key in ups:
                self._readers[key] += 1
        output = graph.output
        self._keep = {u.source for u in iter_uses(output) if not u.is_param} if output is not None else set()

    def add(self, key: str, upstream: Iterable[str]) -> None:
        """A node joined while the run goes on (a dynamic pipeline's call): it reads ``upstream``,
        and its output is kept to the end (the pipeline body may pass it to any later call)."""
        self._readers[key] = 0
        self._keep.add(key)
        for source in upstream:
            self._readers[source] += 1

    def set(self, key: str, value: Any) -> None:
        """Hold ``key``'s output before its node ends (a reused output, a mapped node's list)."""
        self._held[key] = value

    def ended(self, key: str, value: Any, ok: bool) -> None:
        """A node ended: hold its output (None if it has none), unless no node reads it."""
        if not ok:
            self._held[key] = None
        elif key not in self._held:
            self._held[key] = value
        if self._readers[key] == 0 and key not in self._keep:
            self._held.pop(key, None)

    def release(self, upstream: Iterable[str]) -> None:
        """A node took its inputs (or will never need them): drop those no other node reads."""
        for key in upstream:
            self._readers[key] -= 1
            if self._readers[key] == 0 and key not in self._keep:
                self._held.pop(key, None)

    def resolve(self, binding: Binding) -> Any:
        """The value ``binding`` stands for (a reused output is loaded here, once)."""
        return resolve(binding, self._params, self._held)

    def argument(self, binding: Binding, defer: bool) -> Any:
        """An argument's value; with ``defer``, a whole stored output the worker process loads itself."""
        if defer and isinstance(binding, Use) and not binding.is_param and not binding.path:
            value = self._held.get(binding.source)
            if is_portable(value):
                return Deferred(value.load)
        return resolve(binding, self._params, self._held)
