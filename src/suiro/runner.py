"""One run's state machine: decide what runs when, retry what fails, report everything.

Owns task states, trigger rules, ``when`` guards, fan-out, retries with backoff,
``--fail-fast`` and cancelling. A task is submitted as soon as its own inputs are done (not
level by level); a task waiting for a retry holds no worker. Everything that happens is
reported to observers as events. Knows no store and no concrete executor: it is
handed an ``Executor`` and a list of ``RunObserver``.

Cancelling (a ``Cancellation`` requested by SIGINT/SIGTERM, or a ``KeyboardInterrupt``):
nothing new starts, the executor kills its workers, retries that were waiting are dropped,
attempts that were running end ``failed`` with ``RunCancelledError`` (their task runs again
on resume), outcomes that had already arrived are kept (a success stays a success), and the
run ends ``cancelled`` with the reason. Attempts on threads cannot be stopped: they are
abandoned at once, and what they return later is not recorded.
"""

from __future__ import annotations

import graphlib
import heapq
import itertools
import os
import queue
import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from suiro import clock as clocks
from suiro.cancel import Cancellation, Interrupted
from suiro.context import Capture, TaskContext, log_name, task_scope
from suiro.events import (
    ErrorInfo,
    Event,
    MetricLogged,
    RunFinished,
    RunObserver,
    RunStarted,
    TaskKeyed,
    TaskLogged,
    TaskMapped,
    TaskOutput,
    TaskStateChanged,
)
from suiro.executors.base import Deferred, Executor, Outcome, Work, error_info
from suiro.faults import fault
from suiro.graph import Binding, Graph, Node, Use
from suiro.mapping import split_mapped
from suiro.memo import Gather, Hit, Lazy, Memo, OutputStore, is_portable
from suiro.results import RunResult, TaskResult, new_run_id
from suiro.rules import apply_rule, resolve
from suiro.states import RunState, TaskState, TriggerRule
from suiro.task import TaskOptions


@dataclass
class _Unit:
    """One attempt-able piece of work: a plain node, or one item of a mapped node."""

    key: str
    map_index: int
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    attempt: int = 0
    #: Attempts that ended because their process died (their own retry budget).
    infra_failures: int = 0


#: Seconds the runner waits for an attempt before it lets buffering observers flush.
_IDLE = 0.005


class Runner:
    """Runs one graph once with one executor, reporting to observers.

    Args:
        graph: the traced pipeline.
        params: resolved parameter values.
        executor: where attempts run.
        observers: receive every event, in order.
        run_id: the id to use (a new one if None).
        fail_fast: stop starting new tasks after the first failure.
        clock: the clock for retry delays and event times (default: ``suiro.clock.get()``),
            injectable so tests control time.
        rng: source of retry jitter.
        log_dir: if set, each attempt's lines also go to ``log_dir/<task>.<attempt>.log``.
        outputs: where outputs are stored and found again (cache, resume); None keeps
            everything in memory.
        fresh: ignore the cache (outputs of a resumed run are still reused).
        parent_run_id: the run this one resumes.
        target: how to load the pipeline again (``file.py:name``), recorded for resume.
        home: the suiro home the run records into, told to tasks through ``suiro.context()``.
        root_run_id: the first run of the resume chain this run belongs to (for idempotency keys).
        cancel: a stop request the run obeys (see the module docstring); a ``KeyboardInterrupt``
            in the runner's thread is one too, recorded and then re-raised.
    """

    def __init__(
        self,
        graph: Graph,
        params: Mapping[str, Any],
        executor: Executor,
        *,
        observers: Sequence[RunObserver] = (),
        run_id: str | None = None,
        fail_fast: bool = False,
        clock: clocks.Clock | None = None,
        rng: random.Random | None = None,
        log_dir: str | None = None,
        outputs: OutputStore | None = None,
        fresh: bool = False,
        parent_run_id: str | None = None,
        target: str | None = None,
        home: str | None = None,
        root_run_id: str | None = None,
        cancel: Cancellation | None = None,
    ):
        self.graph = graph
        self.params = dict(params)
        self.executor = executor
        self.observers = list(observers)
        self.run_id = run_id or new_run_id()
        self.fail_fast = fail_fast
        self.clock = clock or clocks.get()
        self.rng = rng or random.Random()
        self.log_dir = log_dir
        self.outputs = outputs
        self.parent_run_id = parent_run_id
        self.target = target
        self.home = home
        self.root_run_id = root_run_id
        self.cancellation = cancel or Cancellation()
        self._memo = Memo(outputs, self.params, fresh=fresh) if outputs is not None else None
        self._item_artifacts: dict[str, list[Any]] = {}
        self._map_started: dict[str, float] = {}
        self.results = {k: TaskResult(k) for k in graph.nodes}
        self._values: dict[str, Any] = {}
        self._upstream = {k: n.upstream for k, n in graph.nodes.items()}
        self._consumers = {k: len(v) for k, v in graph.downstream().items()}
        self._keep = {u.source for u in _uses(graph.output) if not u.is_param} if graph.output else set()
        #: Ended attempts; None only wakes the loop (a cancel).
        self._done: queue.SimpleQueue[tuple[_Unit, Outcome] | None] = queue.SimpleQueue()
        #: Attempts submitted and not yet finished, by (task, item).
        self._active: dict[tuple[str, int], _Unit] = {}
        self._ready: deque[_Unit] = deque()
        self._waiting: dict[str, deque[_Unit]] = {}
        self._running: dict[str, int] = {}
        self._retries: list[tuple[float, int, _Unit]] = []
        self._items_left: dict[str, int] = {}
        self._item_values: dict[str, list[Any]] = {}
        self._inflight = 0
        self._stopping = False
        self._seq = itertools.count()

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run every node that its trigger rules allow; return when nothing is left."""
        started = self.clock.time()
        self._emit(
            RunStarted(
                self.run_id,
                self.graph.name,
                self.params,
                self.graph.to_dict(),
                started,
                executor=self.executor.name,
                parent_run_id=self.parent_run_id,
                target=self.target,
            )
        )
        self.cancellation.bind(self.run_id, lambda: self._done.put(None))  # put: safe in a signal handler
        interrupted = None
        try:
            self._loop()
        except KeyboardInterrupt as exc:  # Ctrl-C under Python's own handler, wherever the loop was
            if self.cancellation.requested:
                raise  # asked twice: the forced stop records the run
            self.cancellation.request(
                "KeyboardInterrupt", f"cancelled by KeyboardInterrupt in process {os.getpid()}"
            )
            interrupted = exc
        output, error = None, None
        if self.cancellation.requested:
            self._cancel_run()
            state, error = RunState.CANCELLED, self.cancellation.detail
        elif all(r.state.is_terminal and not r.state.is_failure for r in self.results.values()):
            state = RunState.SUCCESS
        else:
            state = RunState.FAILED
        if state is RunState.SUCCESS and self.graph.output is not None:
            try:
                output = self._resolve(self.graph.output)
            except Exception as exc:  # e.g. a cached output found corrupt: the run cannot deliver it
                state, error = RunState.FAILED, f"the pipeline's output could not be read: {exc}"
        ended = self.clock.time()
        self._emit(RunFinished(self.run_id, state, ended, error))
        if interrupted is not None:
            raise interrupted
        return RunResult(
            self.run_id, self.graph.name, state, self.params, self.results, output, started, ended, error
        )

    def _loop(self) -> None:
        self._sorter = graphlib.TopologicalSorter(self._upstream)
        self._sorter.prepare()
        self._start_ready_nodes()
        while not self.cancellation.requested:
            self._promote_due_retries()
            self._submit_ready()
            if self.cancellation.requested or not (self._inflight or self._retries or self._ready):
                return
            self._collect(self._wait_timeout())

    def _wait_timeout(self) -> float | None:
        if not self._retries:
            return None
        return max(self._retries[0][0] - self.clock.monotonic(), 0.0)

    def _collect(self, timeout: float | None) -> None:
        """Wait for one attempt to end (or a retry to fall due), then take all that ended.

        When the wait is longer than a moment, observers that buffer (the recorder)
        are asked to flush first, so what finished is durable while long tasks run.
        """
        try:
            if not self._inflight:
                item = self._sleep(timeout)
            else:
                try:
                    item = self._done.get(timeout=_IDLE if timeout is None else min(timeout, _IDLE))
                except queue.Empty:
                    self._flush_observers()
                    item = self._done.get(timeout=None if timeout is None else max(timeout - _IDLE, 0))
        except queue.Empty:
            return
        while True:
            if item is not None:  # None: a cancel's wake-up
                if self.cancellation.requested:
                    self._done.put(item)  # left for _cancel_run: it may be a casualty of the signal
                    return
                self._inflight -= 1
                self._finish_attempt(*item)
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                break
        self._start_ready_nodes()

    def _flush_observers(self) -> None:
        for observer in self.observers:
            flush = getattr(observer, "flush", None)
            if flush is not None:
                flush()

    def _sleep(self, timeout: float | None) -> tuple[_Unit, Outcome] | None:
        """Wait for a retry to fall due (nothing is running); a cancel ends the wait at once."""
        self._flush_observers()
        if isinstance(self.clock, clocks.SystemClock):
            self._done.get(timeout=timeout or 0.0)  # only a cancel's wake-up can come: nothing runs
        else:
            self.clock.sleep(timeout or 0.0)  # an injected clock moves time by itself
        raise queue.Empty

    # -- nodes ------------------------------------------------------------------------

    def _start_ready_nodes(self) -> None:
        """Decide every node whose upstream is all terminal: skip it, fail it, or queue it."""
        pending = deque(self._sorter.get_ready())
        while pending:
            key = pending.popleft()
            if self._stopping:
                continue  # left pending: fail-fast never starts it
            node = self.graph.nodes[key]
            verdict = self._verdict(node)
            if verdict is None:
                verdict = self._expand(node)
            else:
                self._release_inputs(node)
            if verdict is not None:
                self._finish_node(key, verdict)
                pending.extend(self._sorter.get_ready())

    def _verdict(self, node: Node) -> TaskState | None:
        """The state a node ends in without running, or None if it should run."""
        for state in (self.results[source].state for cond in node.conditions for source in cond.sources):
            if state.is_failure:
                return (
                    TaskState.SKIPPED
                    if node.trigger_rule is TriggerRule.ALL_DONE
                    else TaskState.UPSTREAM_FAILED
                )
            if state is TaskState.SKIPPED:
                return TaskState.SKIPPED
        states = [self.results[k].state for k in self._upstream[node.key]]
        verdict = apply_rule(node.trigger_rule, states)
        if verdict is not None:
            return verdict
        for cond in node.conditions:
            try:
                truthy = bool(self._resolve(cond.use))
            except Exception as exc:
                self._record_input_error(node, exc)
                return TaskState.FAILED
            if truthy == cond.negate:
                return TaskState.SKIPPED
        return None

    def _expand(self, node: Node) -> TaskState | None:
        """Reuse a node's output, or resolve its inputs and queue its units.

        Returns a state when the node ends at once (cached, failed inputs, empty map).
        """
        key = None
        if self._memo is not None:
            key, parts = self._memo.node_key(node)
            self._emit(TaskKeyed(self.run_id, node.key, key.key if key else None, parts))
            hit = self._memo.lookup(node, -1, key)
            if hit is not None:
                self._release_inputs(node)
                return self._reuse(node.key, hit)
        # A remote executor's worker loads a whole stored input itself (not for map or cache_key=,
        # which need the value here): the runner never holds, nor pickles, a large output.
        defer = (
            getattr(self.executor, "remote", False)
            and not node.is_map
            and node.task.options.cache_key is None
        )
        try:
            args = tuple(self._input(b, defer) for b in node.args)
            kwargs = {k: self._input(b, defer) for k, b in node.kwargs.items()}
            calls = split_mapped(node.key, args, kwargs) if node.is_map else [(args, kwargs)]
            custom = None
            if self._memo is not None and not node.is_map and node.task.options.cache_key is not None:
                # The key function may read the store: it sees the same context a task would.
                ctx = TaskContext(self.run_id, node.key, 0, -1, self.params, self.home)
                with task_scope(ctx, Capture()):
                    custom = self._memo.custom_key(node, args, kwargs)
        except Exception as exc:
            self._record_input_error(node, exc)
            return TaskState.FAILED
        finally:
            self._release_inputs(node)
        if custom is not None and self._memo is not None:
            self._emit(TaskKeyed(self.run_id, node.key, custom.key, dict(custom.parts)))
            hit = self._memo.lookup(node, -1, custom)
            if hit is not None:
                return self._reuse(node.key, hit)
        if not node.is_map:
            self._ready.append(_Unit(node.key, -1, *calls[0]))
            return None
        return self._expand_map(node, key, calls)

    def _expand_map(
        self, node: Node, key: Any, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> TaskState | None:
        result = self.results[node.key]
        result.map_size = len(calls)
        result.item_states = [TaskState.PENDING] * len(calls)
        self._emit(TaskMapped(self.run_id, node.key, len(calls), self.clock.time()))
        self._items_left[node.key] = len(calls)
        self._item_values[node.key] = [None] * len(calls)
        self._item_artifacts[node.key] = [None] * len(calls)
        if not calls:
            return self._finish_map(node.key, emit=False)
        self._emit(TaskStateChanged(self.run_id, node.key, TaskState.RUNNING, self.clock.time()))
        result.state = TaskState.RUNNING
        self._map_started[node.key] = time.perf_counter()
        for index, call in enumerate(calls):
            hit = None
            if self._memo is not None:
                item_key = self._memo.item_key(node, key, index, call)
                self._emit(
                    TaskKeyed(
                        self.run_id,
                        node.key,
                        item_key.key if item_key else None,
                        dict(item_key.parts) if item_key else {},
                        index,
                    )
                )
                hit = self._memo.lookup(node, index, item_key)
            if hit is None:
                self._ready.append(_Unit(node.key, index, *call))
            else:
                self._reuse_item(node.key, index, hit)
        return self._finish_map(node.key, emit=False) if self._items_left[node.key] == 0 else None

    def _reuse(self, key: str, hit: Hit) -> TaskState:
        """Take a found output for a whole node: the node is ``cached`` and runs nothing."""
        assert self._memo is not None and self.outputs is not None
        self._values[key] = Lazy(hit.load)
        self._memo.record(key, hit.artifact)
        self._emit(TaskOutput(self.run_id, key, None, -1, hit.artifact, hit.source_run))
        return TaskState.CACHED

    def _reuse_item(self, key: str, index: int, hit: Hit) -> None:
        self.results[key].item_states[index] = TaskState.CACHED
        self._item_values[key][index] = Lazy(hit.load)
        self._item_artifacts[key][index] = hit.artifact
        self._emit(TaskOutput(self.run_id, key, None, index, hit.artifact, hit.source_run))
        self._emit(TaskStateChanged(self.run_id, key, TaskState.CACHED, self.clock.time(), map_index=index))
        self._items_left[key] -= 1

    def _finish_node(self, key: str, state: TaskState, value: Any = None) -> None:
        result = self.results[key]
        result.state = state
        if not state.is_ok:
            self._values[key] = None
            if self._memo is not None:
                self._memo.record_absent(key)
        elif key not in self._values:  # a reused or mapped output may already be in place
            self._values[key] = value
        if self._consumers[key] == 0 and key not in self._keep:
            self._values.pop(key, None)
        self._emit(
            TaskStateChanged(
                self.run_id,
                key,
                state,
                self.clock.time(),
                attempt=result.attempts if result.map_size is None else 0,
                error=result.errors[-1] if state is TaskState.FAILED and result.errors else None,
                duration=result.duration,
            )
        )
        self._sorter.done(key)
        if state is TaskState.FAILED and self.fail_fast:
            self._stop()

    def _release_inputs(self, node: Node) -> None:
        """Drop upstream values no remaining node needs, so long runs hold bounded memory."""
        for up in self._upstream[node.key]:
            self._consumers[up] -= 1
            if self._consumers[up] == 0 and up not in self._keep:
                self._values.pop(up, None)

    def _record_input_error(self, node: Node, exc: Exception) -> None:
        info = error_info(exc, retry_on=())
        message = f"task {node.key} at {node.location} could not get its inputs: {info}"
        self.results[node.key].errors.append(ErrorInfo(info.type, message, info.traceback, False))

    # -- attempts -----------------------------------------------------------------------

    def _submit_ready(self) -> None:
        while (
            self._ready
            and self._inflight < self.executor.workers
            and not self._stopping
            and not self.cancellation.requested
        ):
            unit = self._ready.popleft()
            node = self.graph.nodes[unit.key]
            if node.max_concurrency and self._running.get(unit.key, 0) >= node.max_concurrency:
                self._waiting.setdefault(unit.key, deque()).append(unit)
                continue
            self._submit(unit, node)

    def _submit(self, unit: _Unit, node: Node) -> None:
        unit.attempt += 1
        opts = node.task.options
        result = self.results[unit.key]
        self._active[(unit.key, unit.map_index)] = unit
        if unit.map_index < 0:
            result.attempts = unit.attempt
            result.state = TaskState.RUNNING
        else:
            result.attempts += 1
            result.item_states[unit.map_index] = TaskState.RUNNING
        self._emit(
            TaskStateChanged(
                self.run_id,
                unit.key,
                TaskState.RUNNING,
                self.clock.time(),
                attempt=unit.attempt,
                map_index=unit.map_index,
            )
        )
        work = Work(
            node.task.fn,
            unit.args,
            unit.kwargs,
            self.run_id,
            unit.key,
            unit.attempt,
            unit.map_index,
            opts.timeout,
            opts.retry_on,
            self.params,
            self._log_path(unit),
            self.outputs.finalize if self.outputs is not None else None,
            opts.serializer,
            self.home,
            self.root_run_id,
        )
        self._inflight += 1
        self._running[unit.key] = self._running.get(unit.key, 0) + 1
        run_here = getattr(self.executor, "run_here", None)
        try:
            # A task may run in this thread (run_here, or the submit of an executor that runs_inline):
            # only there can a cancel's signal interrupt it. If it does, the unit stays active.
            if run_here is not None and self._inflight == 1 and not self._ready and not self._retries:
                # Nothing else can run or fall due before this attempt ends: the loop would only wait
                # for it, so an executor that can (threads) runs it here, saving two thread hand-offs.
                outcome = self.cancellation.interruptible(run_here, work)
                if outcome is not None:
                    self._done.put((unit, outcome))
                    return
            if getattr(self.executor, "runs_inline", False):
                future = self.cancellation.interruptible(self.executor.submit, work)
            else:
                future = self.executor.submit(work)
        except Interrupted:
            return
        future.add_done_callback(lambda f, u=unit: self._done.put((u, _outcome_of(f))))

    def _finish_attempt(self, unit: _Unit, outcome: Outcome) -> None:
        fault("runner.task_done")
        self._active.pop((unit.key, unit.map_index), None)
        self._running[unit.key] -= 1
        waiting = self._waiting.get(unit.key)
        if waiting:
            self._ready.appendleft(waiting.popleft())
        node = self.graph.nodes[unit.key]
        result = self.results[unit.key]
        if outcome.lines:
            result.lines.extend(outcome.lines)
            self._emit(TaskLogged(self.run_id, unit.key, unit.attempt, outcome.lines, unit.map_index))
        for name, value, step, at in outcome.metrics:
            self._emit(MetricLogged(self.run_id, unit.key, name, value, step, at, unit.map_index))
        if outcome.ok:
            if outcome.stored and self.outputs is not None:  # loaded only if a task here needs it
                outcome = replace(outcome, value=Lazy(self.outputs.fetch(outcome.artifact)))
            if self._memo is not None and self.outputs is not None and outcome.artifact is not None:
                if unit.map_index < 0:
                    self._memo.record(unit.key, outcome.artifact)
                else:
                    self._item_artifacts[unit.key][unit.map_index] = outcome.artifact
            value = None if outcome.stored else outcome.value
            self._emit(TaskOutput(self.run_id, unit.key, value, unit.map_index, outcome.artifact))
            self._unit_ended(unit, TaskState.SUCCESS, outcome)
            return
        error = outcome.error
        assert error is not None
        result.errors.append(error)
        opts = node.task.options
        if error.infra:
            unit.infra_failures += 1
        if self._may_retry(unit, error, opts):
            delay = opts.delay_before(unit.attempt + 1, rng=self.rng)
            self._emit(
                TaskStateChanged(
                    self.run_id,
                    unit.key,
                    TaskState.RETRYING,
                    self.clock.time(),
                    attempt=unit.attempt,
                    map_index=unit.map_index,
                    error=error,
                    delay=delay,
                )
            )
            heapq.heappush(self._retries, (self.clock.monotonic() + delay, next(self._seq), unit))
            if unit.map_index < 0:
                result.state = TaskState.RETRYING
            return
        self._unit_ended(unit, TaskState.FAILED, outcome)

    def _may_retry(self, unit: _Unit, error: ErrorInfo, opts: TaskOptions) -> bool:
        """Whether the attempt that failed with ``error`` gets another: each kind of failure
        spends its own budget (``retries`` for the task's exceptions, ``infra_retries`` for a
        dead worker process)."""
        if self._stopping or not error.retryable:
            return False
        if error.infra:
            return unit.infra_failures <= opts.infra_retries
        return unit.attempt - unit.infra_failures <= opts.retries

    def _unit_ended(self, unit: _Unit, state: TaskState, outcome: Outcome) -> None:
        result = self.results[unit.key]
        if unit.map_index < 0:
            result.duration = outcome.duration
            self._finish_node(unit.key, state, outcome.value)
            return
        result.item_states[unit.map_index] = state
        self._emit(
            TaskStateChanged(
                self.run_id,
                unit.key,
                state,
                self.clock.time(),
                attempt=unit.attempt,
                map_index=unit.map_index,
                error=outcome.error,
                duration=outcome.duration,
            )
        )
        self._item_values[unit.key][unit.map_index] = outcome.value
        self._items_left[unit.key] -= 1
        if self._items_left[unit.key] == 0:
            self._finish_map(unit.key)
        elif state is TaskState.FAILED and self.fail_fast:
            self._stop()

    def _finish_map(self, key: str, *, emit: bool = True) -> TaskState | None:
        """All items of a mapped node ended (or were abandoned): it succeeds only if all did.

        With ``emit=False`` the caller finishes the node with the returned state.
        """
        result = self.results[key]
        if key in self._map_started:  # wall time of the whole fan-out, not the sum of its items
            result.duration = time.perf_counter() - self._map_started.pop(key)
        values: Any = self._item_values.pop(key)
        artifacts = self._item_artifacts.pop(key, [])
        ok = all(s.is_ok for s in result.item_states)
        state = TaskState.SUCCESS if ok else TaskState.FAILED
        if ok and result.item_states and all(s is TaskState.CACHED for s in result.item_states):
            state = TaskState.CACHED
        if ok:
            if any(isinstance(v, Lazy) for v in values):
                values = Lazy(Gather(values))
            self._values[key] = values
            if self._memo is not None and self.outputs is not None and all(a is not None for a in artifacts):
                manifest = self.outputs.collect(artifacts)
                self._memo.record(key, manifest)
                self._emit(TaskOutput(self.run_id, key, None, -1, manifest))
        if not emit:
            return state
        self._finish_node(key, state, values if ok else None)
        return None

    def _promote_due_retries(self) -> None:
        now = self.clock.monotonic()
        while self._retries and self._retries[0][0] <= now:
            _, _, unit = heapq.heappop(self._retries)
            self._ready.append(unit)

    def _stop(self) -> None:
        """Fail fast: start nothing new; queued and retry-waiting units end as failed."""
        if self._stopping:
            return
        self._stopping = True
        abandoned = list(self._ready) + [u for _, _, u in self._retries]
        abandoned += [u for d in self._waiting.values() for u in d]
        self._ready.clear()
        self._retries.clear()
        self._waiting.clear()
        for unit in abandoned:
            if unit.attempt:  # had failed and was waiting for a retry
                self._unit_ended(unit, TaskState.FAILED, Outcome())
            elif unit.map_index >= 0:  # never started: stays pending, but its node must end
                self._items_left[unit.key] -= 1
                if self._items_left[unit.key] == 0:
                    self._finish_map(unit.key)

    def _cancel_run(self) -> None:
        """End a cancelled run: kill the workers, drop what waits, end what ran as cancelled.

        Outcomes that had arrived are kept when they succeeded (no need to run them again);
        a failure that arrived is treated as cancelled, since the signal may have caused it (a
        terminal's Ctrl-C reaches the programs a task runs too).
        """
        cancel = getattr(self.executor, "cancel", None)
        if cancel is not None:
            cancel()
        self._stop()  # start nothing; queued units stay pending, waiting retries end failed
        while True:
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                break
            if item is not None and item[1].ok:
                self._inflight -= 1
                self._finish_attempt(*item)
        message = (
            f"run {self.run_id} was cancelled ({self.cancellation.reason}) while this attempt ran; "
            f"resume it to run the task again: suiro resume {self.run_id}"
        )
        error = ErrorInfo("suiro.errors.RunCancelledError", message, "", retryable=False)
        for unit in list(self._active.values()):
            result = self.results[unit.key]
            if (result.state if unit.map_index < 0 else result.item_states[unit.map_index]).is_terminal:
                continue
            result.errors.append(error)
            self._unit_ended(unit, TaskState.FAILED, Outcome(error=error))
        self._active.clear()
        for key, result in self.results.items():  # a KeyboardInterrupt may have cut a step short
            if result.map_size is None and result.state in (TaskState.RUNNING, TaskState.RETRYING):
                result.errors.append(error)
                self._finish_node(key, TaskState.FAILED)

    # -- values -----------------------------------------------------------------------

    def _resolve(self, binding: Binding | None) -> Any:
        return resolve(binding, self.params, self._values)

    def _input(self, binding: Binding, defer: bool) -> Any:
        """An argument's value, or a ``Deferred`` load of a stored output for the worker to do."""
        if defer and isinstance(binding, Use) and not binding.is_param and not binding.path:
            value = self._values.get(binding.source)
            if is_portable(value):
                return Deferred(value.load)
        return self._resolve(binding)

    def _log_path(self, unit: _Unit) -> str | None:
        if self.log_dir is None:
            return None
        return os.path.join(self.log_dir, log_name(unit.key, unit.map_index, unit.attempt))

    def _emit(self, event: Event) -> None:
        for observer in self.observers:
            observer.notify(event)


def _uses(binding: Binding | None) -> list[Use]:
    from suiro.graph import iter_uses

    return list(iter_uses(binding)) if binding is not None else []


def _outcome_of(future: Future[Outcome]) -> Outcome:
    if future.cancelled():  # dropped by a cancel before it started
        return Outcome(error=ErrorInfo("suiro.errors.RunCancelledError", "not started", "", retryable=False))
    exc = future.exception()
    if exc is None:
        return future.result()
    return Outcome(error=error_info(exc, retry_on=()))
