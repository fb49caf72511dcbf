"""Reuse of outputs within the runner: cache keys of bindings, cache and resume look-ups.

The runner asks this module, before running a task, whether an equal output
already exists (a cache hit, or the recorded output of the run being resumed).
The output store plugs in through ``suiro.reuse.OutputStore``; nothing here does I/O itself,
and values found are loaded only when a task that really runs needs them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from suiro.cache import (
    CacheKey,
    Uncached,
    UnhashableError,
    combine,
    fingerprint,
    make_key,
    reads_logical_time,
    task_code_digest,
)
from suiro.context import Capture, TaskContext, task_scope
from suiro.graph import Binding, Const, Expr, Node, Pack, Unmapped, Use
from suiro.pathstep import Item, token
from suiro.reuse import Gather, Hit, Lazy, OutputStore, is_portable, materialize
from suiro.runinfo import RunInfo
from suiro.secrets import mask

# Re-exported: the runner takes them from here with the memo that uses them.
__all__ = ["ABSENT", "Gather", "Hit", "Lazy", "Memo", "OutputStore", "is_portable", "materialize"]


#: The run of a memo used outside one (keys only, as in tests): no id, no home, not scheduled.
_NO_RUN = RunInfo(run_id="")
#: A map's items looked up together (``Memo.item_hits``): one query instead of one per item, and
#: no more keys held at once than this.
ITEM_BATCH = 500


class Memo:
    """One run's side of output reuse: cache keys, look-ups, and the digests keys are made of.

    The runner tells it how each node ended (``record``, ``record_items``, ``record_absent``,
    ``reuse``) and asks it for keys and hits; it never reads the digests or the output store
    itself.
    """

    def __init__(
        self, outputs: OutputStore, params: Mapping[str, Any], *, fresh: bool = False, run: RunInfo = _NO_RUN
    ):
        self.outputs = outputs
        self.params = params
        self.fresh = fresh
        #: The run whose context a task's ``cache_key=`` callable sees.
        self.run = run
        scheduled = run.scheduled
        #: The run's logical time as a key part, for tasks that read it from their context
        #: (``cache.reads_logical_time``); a run started by hand has none, and its own part.
        self._logical = combine(
            "logical time",
            *(
                (scheduled.logical_time, scheduled.interval_start, scheduled.interval_end, scheduled.timezone)
                if scheduled is not None
                else (None,)
            ),
        )
        #: Output digest of every node that ended ok; ``ABSENT`` for one that ended without
        #: an output (failed, skipped), whose consumers then see None.
        self._digests: dict[str, str] = {}
        self._param_fps: dict[str, str] = {}
        #: Each task's ``task_code_digest``, computed once in a run (it reads its globals' values).
        self._code: dict[Callable[..., Any], str] = {}

    def _code_of(self, node: Node) -> str:
        fn = node.task.fn
        code = self._code.get(fn)
        if code is None:
            code = self._code[fn] = task_code_digest(fn)
        return code

    def record(self, key: str, artifact: Any) -> None:
        """Remember the output a node ended with, for the keys of the nodes that read it."""
        self._digests[key] = self.outputs.digest_of(artifact)

    def record_absent(self, key: str) -> None:
        """Remember that a node ended without an output (its consumers get None)."""
        self._digests[key] = ABSENT

    def record_items(self, key: str, artifacts: list[Any]) -> Any | None:
        """Remember a mapped node's list output by its items' stored outputs; returns the record
        standing for the list, or None when an item's output was not stored."""
        if any(a is None for a in artifacts):
            return None
        manifest = self.outputs.collect(artifacts)
        self.record(key, manifest)
        return manifest

    def reuse(self, key: str, hit: Hit, *, map_index: int = -1) -> Lazy:
        """Take a found output instead of running: its value, loaded only if a task here needs it.

        A whole node's output is remembered for its consumers' keys at once; an item's counts
        when its node's list is recorded (``record_items``).
        """
        if map_index < 0:
            self.record(key, hit.artifact)
        return Lazy(hit.load)

    def kept(self, artifact: Any) -> Lazy:
        """The value of an output a worker process stored and kept, loaded here only if needed."""
        return Lazy(self.outputs.fetch(artifact))

    @property
    def finalize(self) -> Callable[[Any, str | None], Any] | None:
        """What stores an attempt's output where it ran (handed to the executor with the work)."""
        return self.outputs.finalize

    def node_key(self, node: Node) -> tuple[CacheKey | None, dict[str, Any]]:
        """The key of a whole node call: what its output is valid for.

        Computed even for ``cache=False`` tasks (``parts`` then say so), because a resume
        reuses a recorded output only under the key it was computed with. None (with the
        reason in parts) when an input has no fingerprint: such a call is never reused.
        """
        try:
            inputs = {name: self._binding_fp(b) for name, b in _named_bindings(node)}
        except UnhashableError as exc:
            return None, {Uncached.UNHASHABLE: str(exc)}
        if reads_logical_time(node.task.fn):
            inputs[LOGICAL_INPUT] = self._logical
        key = make_key(node.task.name, node.task.fn, _output_options(node), inputs, code=self._code_of(node))
        parts = {**key.parts, **self._described(node)}
        if not node.task.options.cache:
            parts[Uncached.DISABLED] = "cache=False on the task"
        return key, parts

    def item_key(
        self, node: Node, node_key: CacheKey | None, index: int, call: tuple[Any, Any]
    ) -> CacheKey | None:
        """The key of one mapped item: its own items fingerprinted by value where possible."""
        if node_key is None:
            return None
        inputs = dict(node_key.parts["inputs"])
        args, kwargs = call
        for name, binding in _named_bindings(node):
            if isinstance(binding, Unmapped):
                continue
            item = args[int(name[1:])] if name.startswith("#") else kwargs[name]
            try:
                inputs[name] = fingerprint(item)
            except UnhashableError:
                inputs[name] = combine(inputs[name], Item.op, index)
        return make_key(node.task.name, node.task.fn, _output_options(node), inputs, code=self._code_of(node))

    def lookup(self, node: Node, map_index: int, key: CacheKey | None) -> Hit | None:
        """An output recorded under exactly ``key``: the resumed run's, or a cache hit unless the
        task opted out or ``--fresh`` was given. None without a key: nothing proves reuse valid."""
        if key is None:
            return None
        opts = node.task.options
        return self.outputs.lookup(
            node.key, map_index, key, cache=opts.cache and not self.fresh, ttl=opts.cache_ttl
        )

    def item_hits(
        self, node: Node, node_key: CacheKey | None, calls: list[tuple[Any, Any]], first: int
    ) -> list[tuple[CacheKey | None, Hit | None]]:
        """Each call's item key and found output, for items ``first``, ``first + 1``... of a map.

        The keys are looked up together (``OutputStore.lookup_items``); a caller passes at most
        ``ITEM_BATCH`` calls, so a big map's keys are not all held at once.
        """
        keys = [self.item_key(node, node_key, first + i, call) for i, call in enumerate(calls)]
        opts = node.task.options
        found = self.outputs.lookup_items(
            node.key,
            [(first + i, key) for i, key in enumerate(keys) if key is not None],
            cache=opts.cache and not self.fresh,
            ttl=opts.cache_ttl,
        )
        return [(key, found.get(first + i)) for i, key in enumerate(keys)]

    def custom_key(self, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CacheKey | None:
        """The key from a task's ``cache_key=`` callable, which replaces the inputs part.

        The callable may read the store (``suiro.context()``), so it runs in the context the task
        would see. A mapped node has none: its items are keyed by their own values (``item_key``).
        """
        fn = node.task.options.cache_key
        if fn is None or node.is_map or not node.task.options.cache:
            return None
        run = self.run
        ctx = TaskContext(
            run_id=run.run_id,
            task_key=node.key,
            attempt=0,
            params=self.params,
            home=run.home,
            root_run_id=run.root_run_id,
            scheduled=run.scheduled,
            db_url=run.db_url,
            artifacts=run.artifacts,
        )
        with task_scope(ctx, Capture()):
            custom = str(fn(*args, **kwargs))
        if reads_logical_time(node.task.fn):
            custom = combine(custom, self._logical)
        return make_key(
            node.task.name, node.task.fn, _output_options(node), {}, custom=custom, code=self._code_of(node)
        )

    def _described(self, node: Node) -> dict[str, dict[str, str]]:
        """What ``suiro explain`` says of a node's inputs, kept beside its key's parts (not in the key).

        ``names``: the parameter each positional argument binds (``#1`` -> ``batch_id``);
        ``shown``: a short, masked ``repr`` of each input that is a parameter or a literal small
        enough; ``sources``: the task whose output an input is. Empty ones are left out.
        """
        described: dict[str, dict[str, str]] = {
            "names": _positional_names(node),
            "shown": {},
            "sources": {},
        }
        for name, binding in _named_bindings(node):
            inner = binding.inner if isinstance(binding, Unmapped) else binding
            if isinstance(inner, Use) and not inner.is_param:
                described["sources"][name] = inner.source
                continue
            if isinstance(inner, Const):
                shown = brief(inner.value)
            elif isinstance(inner, Use) and not inner.path:
                shown = brief(self.params.get(inner.source))
            else:
                continue
            if shown is not None:
                described["shown"][name] = shown
        return {part: value for part, value in described.items() if value}

    def _binding_fp(self, binding: Binding) -> str:
        if isinstance(binding, Const):
            return fingerprint(binding.value)
        if isinstance(binding, Use):
            if binding.is_param:
                base = self._param_fp(binding.source)
            else:
                base = self._digests.get(binding.source)
                if base is None:  # ended ok without a recorded output: its value is unknown here
                    raise UnhashableError(f"the output of task {binding.source} was not stored")
            return combine(base, token(binding.path)) if binding.path else base
        if isinstance(binding, Unmapped):
            return combine("unmapped", self._binding_fp(binding.inner))
        if isinstance(binding, Pack):
            return combine(binding.kind, [(str(k), self._binding_fp(b)) for k, b in binding.items])
        if isinstance(binding, Expr):  # a pure operator: its operands' fingerprints determine its value
            return combine("expr", binding.op, [self._binding_fp(b) for b in binding.operands])
        raise UnhashableError(f"binding {binding!r}")

    def _param_fp(self, name: str) -> str:
        if name not in self._param_fps:
            self._param_fps[name] = fingerprint(self.params[name])
        return self._param_fps[name]


#: The input name of the logical-time part of a key (shown by ``suiro explain`` when it changed).
LOGICAL_INPUT = "logical time"

#: The digest standing for "no output" (the upstream failed or was skipped; the value is None).
ABSENT = "none"


#: Longest ``repr`` of an input value kept for ``suiro explain``; longer ones are cut to it.
BRIEF = 60
#: Values bigger than these are not shown at all (their ``repr`` would cost more than it tells).
_BRIEF_TEXT, _BRIEF_ITEMS = 1000, 20


def brief(value: Any) -> str | None:
    """``repr(value)``, secrets masked, cut to ``BRIEF`` characters; None for a value that is not a
    scalar, a string or a small container of those (a frame, a model, a nested config)."""
    if not _is_small(value, 0):
        return None
    text = mask(repr(value))  # masked before it is cut: a cut could leave part of a secret unmasked
    return text if len(text) <= BRIEF else text[: BRIEF - 3] + "..."


def _is_small(value: Any, depth: int) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return len(value) <= _BRIEF_TEXT
    if depth or not isinstance(value, list | tuple | dict | set | frozenset) or len(value) > _BRIEF_ITEMS:
        return False
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else list(value)
    return all(_is_small(item, depth + 1) for item in items)


def _positional_names(node: Node) -> dict[str, str]:
    """The parameter name each positional argument of a call binds: ``#0`` -> ``source``,
    ``#2`` -> ``extra[0]`` for a ``*extra`` parameter."""
    names = {}
    params = list(node.task.signature.parameters.values())
    for index in range(len(node.args)):
        param = params[index] if index < len(params) else None
        if param is not None and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names[f"#{index}"] = param.name
            continue
        star = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
        if star is not None and index >= star:
            names[f"#{index}"] = f"{params[star].name}[{index - star}]"
    return names


def _named_bindings(node: Node) -> list[tuple[str, Binding]]:
    return [(f"#{i}", b) for i, b in enumerate(node.args)] + list(node.kwargs.items())


def _output_options(node: Node) -> dict[str, Any]:
    """The task options that change what its output is (or how it is stored)."""
    opts = node.task.options
    return {"serializer": opts.serializer, "map": node.is_map}
