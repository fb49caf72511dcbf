"""One run's state machine: decide what runs when, and what every ending means.

Owns task states, trigger rules, ``when`` guards, reuse of found outputs, and the ending of
every unit, node and run. A task is submitted as soon as its own inputs are done (not level by
level); a task waiting for a retry holds no worker. Everything that happens is reported to
observers as events. Knows no store and no concrete executor: it is handed an ``Executor``, an
optional ``OutputStore`` and a list of ``RunObserver``.

The parts it drives each own one concern: ``attempts`` (the ready queue, concurrency limits,
where an attempt runs, the outcomes), ``retry`` (budgets, delays, due times), ``fanout`` (a
mapped node's items), ``values`` (outputs held for the nodes still to read them), ``memo`` (cache
keys, reuse), ``progress`` (the task results and the events), ``stopping`` (fail-fast, a cancel
and the run's deadline: when nothing more starts, and what each unit cut short ends with) and
``pokes`` (a sensor's poke that found nothing, which is no failure).
"""

from __future__ import annotations

import dataclasses
import graphlib
import random
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from suiro import clock as clocks
from suiro import pokes
from suiro.attempts import Attempts, Unit
from suiro.cache import CacheKey
from suiro.cancel import Cancellation
from suiro.events import ErrorInfo, RunObserver
from suiro.executors.base import Executor, Outcome, Work
from suiro.fanout import MapState, map_verdict
from suiro.faults import fault
from suiro.graph import Binding, Graph, Node, output_sources
from suiro.labels import task_label
from suiro.mapping import split_mapped
from suiro.memo import ITEM_BATCH, Hit, Memo, OutputStore
from suiro.progress import Progress
from suiro.results import RunError, RunResult
from suiro.retry import RetrySchedule
from suiro.rules import input_error, verdict
from suiro.runinfo import RunInfo
from suiro.states import RunState, TaskState
from suiro.stopping import Halt, Stopping, Why
from suiro.values import Values


class Runner:
    """Runs one graph once with one executor, reporting to observers.

    Args:
        graph: the traced pipeline.
        params: resolved parameter values.
        executor: where attempts run.
        run: who the run is and where it records (its id, resume chain, home, log folder).
        observers: receive every event, in order.
        outputs: where outputs are stored and found again (cache, resume); None keeps
            everything in memory.
        fresh: ignore the cache (outputs of a resumed run are still reused).
        fail_fast: stop starting new tasks after the first failure.
        clock: the clock for retry delays and event times (default: ``suiro.clock.get()``),
            injectable so tests control time.
        rng: source of retry jitter.
        cancel: a stop request the run obeys (see ``suiro.stopping``); a ``KeyboardInterrupt``
            in the runner's thread is one too, recorded and then re-raised.
        timeout: seconds the run may take (its pipeline's ``timeout``); None: no limit.
    """

    def __init__(
        self,
        graph: Graph,
        params: Mapping[str, Any],
        executor: Executor,
        *,
        run: RunInfo,
        observers: Sequence[RunObserver] = (),
        outputs: OutputStore | None = None,
        fresh: bool = False,
        fail_fast: bool = False,
        clock: clocks.Clock | None = None,
        rng: random.Random | None = None,
        cancel: Cancellation | None = None,
        timeout: float | None = None,
    ):
        self.graph = graph
        self.params = dict(params)
        self.executor = executor
        self.info = run
        self.clock = clock or clocks.get()
        self.cancellation = cancel or Cancellation()
        self._progress = Progress(run, graph.nodes, observers, self.clock)
        self.results = self._progress.results
        self._memo = Memo(outputs, self.params, fresh=fresh, run=run) if outputs is not None else None
        self._upstream = {k: n.upstream for k, n in graph.nodes.items()}
        self._values = Values(graph, self.params, self._upstream)
        #: ``max_concurrency`` of each task that has one (a dynamic run adds its calls' here).
        self._limits = {k: n.max_concurrency for k, n in graph.nodes.items() if n.max_concurrency}
        self._attempts = Attempts(executor, self.cancellation, self._limits)
        self._retries = RetrySchedule(self.clock, rng or random.Random())
        self._stops = Stopping(self.cancellation, self.clock, fail_fast=fail_fast, timeout=timeout)
        self._maps: dict[str, MapState] = {}

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run every node that its trigger rules allow; return when nothing is left."""
        self._progress.run_started(self.graph, self.params, self.executor.name)
        self._stops.begin()
        self.cancellation.bind(self.info.run_id, self._attempts.wake)
        interrupted = None
        try:
            self._loop()
        except KeyboardInterrupt as exc:  # Ctrl-C under Python's own handler, wherever the loop was
            if not self._stops.interrupted():
                raise  # asked twice: the forced stop records the run
            interrupted = exc
        result = self._progress.run_finished(*self._ending())
        if interrupted is not None:
            raise interrupted
        return result

    def _ending(self) -> tuple[RunState, Any, RunError | None]:
        """The run's state, output and error, once nothing more runs.

        A failed run still gives its output when every task the output reads ended ok (e.g. an
        ``all_done`` report), and its error is the first task that failed. A failure its task
        tolerates (``allow_failure``) does not fail the run.
        """
        halt = self._stops.halt(self.info.run_id)
        if halt is not None:  # a cancel, or the deadline
            self._halt(halt)
            return halt.state, None, halt.error
        ok = all(
            r.state.is_terminal and (not r.state.is_failure or r.tolerated) for r in self.results.values()
        )
        state, error = (RunState.SUCCESS, None) if ok else (RunState.FAILED, self._progress.first_error())
        output = self.graph.output
        # A task a guard skipped gives None, to its consumers and to the output alike (the output
        # was None whole when one of its tasks was skipped, losing the others' values)
        sources = [self.results[k].state for k in output_sources(output)] if output is not None else []
        if output is None or not all(s.is_ok or s is TaskState.SKIPPED for s in sources):
            return state, None, error
        try:
            return state, self._values.resolve(output), error
        except Exception as exc:  # e.g. a cached output found corrupt: the run cannot deliver it
            if TaskState.SKIPPED in sources:  # a path or an expression over a skipped task's None
                return state, None, error
            if ok:
                error = RunError(f"the pipeline's output could not be read: {exc}", type=type(exc).__name__)
            return RunState.FAILED, None, error

    def _loop(self) -> None:
        self._sorter = graphlib.TopologicalSorter(self._upstream)
        self._sorter.prepare()
        self._start_ready_nodes()
        while self._turn():
            pass

    def _turn(self) -> bool:
        """One turn of the loop: start what may start, take the outcomes that arrived.

        Returns False when nothing is left to run or wait for (or the run is cancelled). A
        dynamic pipeline's calls drive the same turns (``suiro.dynamic``).
        """
        attempts = self._attempts
        if self.cancellation.requested:
            return False
        if self._stops.overdue(attempts, self._retries):  # nothing more starts; ``_ending`` stops the rest
            self._stop(self._stops.deadline_error)
            return False
        attempts.ready.extend(self._retries.due())
        self._submit_ready()
        if self.cancellation.requested or not (attempts.inflight or self._retries or attempts.ready):
            return False
        if not attempts.inflight:  # only a retry can fall due: wait for it (or for a cancel, or the deadline)
            self._retries.sleep(attempts.sleep, limit=self._stops.left())
            return True
        for unit, outcome in attempts.take(self._stops.bound(self._retries.wait_time())):
            self._finish_attempt(unit, outcome)
        self._start_ready_nodes()
        return True

    # -- nodes ------------------------------------------------------------------------

    def _start_ready_nodes(self) -> None:
        """Decide every node whose upstream is all terminal: skip it, fail it, or queue it."""
        pending = deque(self._sorter.get_ready())
        while pending:
            key = pending.popleft()
            if self._stops.stopped:
                continue  # left pending: fail-fast never starts it
            node = self.graph.nodes[key]
            try:
                states = [self.results[k].state for k in self._upstream[key]]
                state = verdict(node, states, self._state_of, self._is_true)
            except Exception as exc:  # a when() guard's value could not be read
                self._progress.failed(key, input_error(node, exc))
                state = TaskState.FAILED
            if state is None:
                state = self._expand(node)
            else:
                self._values.release(self._upstream[key])
            if state is not None:
                self._finish_node(key, state)
                pending.extend(self._sorter.get_ready())

    def _state_of(self, key: str) -> TaskState:
        return self.results[key].state

    def _is_true(self, use: Binding) -> bool:
        return bool(self._values.resolve(use))

    def _expand(self, node: Node) -> TaskState | None:
        """Reuse a node's output, or resolve its inputs and queue its units.

        Returns a state when the node ends at once (cached, failed inputs, empty map).
        """
        key = None
        if self._memo is not None:
            key, parts = self._memo.node_key(node)
            self._progress.keyed(node.key, key, parts)
            hit = self._memo.lookup(node, -1, key)
            if hit is not None:
                self._values.release(self._upstream[node.key])
                return self._reuse(node.key, hit)
        # A remote executor's worker loads a whole stored input itself (not for map or cache_key=,
        # which need the value here): the runner never holds, nor pickles, a large output.
        defer = self.executor.remote and not node.is_map and node.task.options.cache_key is None
        try:
            argument = self._values.argument
            args = tuple(argument(b, defer) for b in node.args)
            kwargs = {k: argument(b, defer) for k, b in node.kwargs.items()}
            calls = split_mapped(node.key, args, kwargs) if node.is_map else [(args, kwargs)]
            custom = None
            if node.task.options.cache_key is not None and self._memo is not None:
                custom = self._memo.custom_key(node, args, kwargs)
        except Exception as exc:
            self._progress.failed(node.key, input_error(node, exc))
            return TaskState.FAILED
        finally:
            self._values.release(self._upstream[node.key])
        if custom is not None and self._memo is not None:
            self._progress.keyed(node.key, custom)
            hit = self._memo.lookup(node, -1, custom)
            if hit is not None:
                return self._reuse(node.key, hit)
        if not node.is_map:
            self._attempts.ready.append(Unit(node.key, -1, *calls[0]))
            return None
        return self._expand_map(node, key, calls)

    def _expand_map(
        self, node: Node, key: CacheKey | None, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> TaskState | None:
        self._progress.mapped(node.key, len(calls))
        fan = self._maps[node.key] = MapState.of_size(len(calls))
        if not calls:
            return self._finish_map(node.key, emit=False)
        self._progress.map_running(node.key)
        fan.start()
        for first in range(0, len(calls), ITEM_BATCH):
            part = calls[first : first + ITEM_BATCH]
            found = self._memo.item_hits(node, key, part, first) if self._memo is not None else None
            for index, call in enumerate(part, first):
                hit = None
                if found is not None:
                    item_key, hit = found[index - first]
                    self._progress.keyed(node.key, item_key, map_index=index)
                if hit is None:
                    self._attempts.ready.append(Unit(node.key, index, *call))
                else:
                    self._reuse_item(node.key, index, hit)
        return self._finish_map(node.key, emit=False) if fan.left == 0 else None

    def _reuse(self, key: str, hit: Hit) -> TaskState:
        """Take a found output for a whole node: the node is ``cached`` and runs nothing."""
        assert self._memo is not None
        self._values.set(key, self._memo.reuse(key, hit))
        self._progress.reused(key, hit)
        return TaskState.CACHED

    def _reuse_item(self, key: str, index: int, hit: Hit) -> None:
        assert self._memo is not None
        self._progress.reused(key, hit, map_index=index)
        self._maps[key].item_ended(index, self._memo.reuse(key, hit, map_index=index), hit.artifact)

    def _finish_node(
        self, key: str, state: TaskState, value: Any = None, log_path: str | None = None
    ) -> None:
        """A node ended in ``state`` (``log_path``: of its last attempt, if known)."""
        ok = state.is_ok
        self._values.ended(key, value, ok)
        if not ok and self._memo is not None:
            self._memo.record_absent(key)
        tolerated = state is TaskState.FAILED and self.graph.nodes[key].task.options.allow_failure
        self._progress.node_ended(key, state, log_path, tolerated=tolerated)
        self._sorter.done(key)
        if state is TaskState.FAILED and self._stops.fails_fast(tolerated):
            self._stop()

    def _finish_map(self, key: str, *, emit: bool = True) -> TaskState | None:
        """All items of a mapped node ended (or were dropped): it succeeds only if all did.

        With ``emit=False`` the caller finishes the node with the returned state.
        """
        fan = self._maps.pop(key)
        result = self.results[key]
        if fan.started is not None:
            result.duration = fan.duration()
        state = map_verdict(result.item_states)
        values = None
        if state.is_ok:
            values = fan.gathered()
            self._values.set(key, values)
            manifest = self._memo.record_items(key, fan.artifacts) if self._memo is not None else None
            if manifest is not None:
                self._progress.output(key, artifact=manifest)
        if not emit:
            return state
        self._finish_node(key, state, values)
        return None

    # -- attempts -----------------------------------------------------------------------

    def _submit_ready(self) -> None:
        # Nothing can fall due while these start (no retry waits, no deadline): one may run here.
        stops = self._stops
        alone = not self._retries and stops.deadline is None
        while not stops.stopped and not self.cancellation.requested:
            unit = self._attempts.next()
            if unit is None:
                return
            self._attempts.start(unit, self._next_attempt(unit), alone=alone)

    def _next_attempt(self, unit: Unit) -> Work:
        """Count and report the unit's next attempt, and describe it for the executor."""
        unit.attempt += 1
        unit.started, unit.poked = self.clock.monotonic(), False
        if self.info.log_dir is not None:
            unit.log_path = self.info.log_path(unit.key, unit.map_index, unit.attempt)
        self._progress.attempt_started(unit)
        node = self.graph.nodes[unit.key]
        opts = node.task.options
        timeout = opts.timeout
        if self._stops.deadline is not None:  # it may cut the timeout (checked here: once per attempt)
            timeout = self._stops.timeout_of(unit, timeout, inline=self.executor.runs_inline)
        return Work(
            fn=node.task.fn,
            args=unit.args,
            kwargs=unit.kwargs,
            run=self.info,
            task_key=unit.key,
            attempt=unit.attempt,
            map_index=unit.map_index,
            timeout=timeout,
            retry_on=opts.retry_on,
            params=self.params,
            log_path=unit.log_path,
            finalize=self._memo.finalize if self._memo is not None else None,
            serializer=opts.serializer,
            outputs=node.task.outputs,
            resources=opts.resources,
        )

    def _finish_attempt(self, unit: Unit, outcome: Outcome) -> None:
        fault("runner.task_done")
        self._progress.attempt_wrote(unit, outcome)
        if outcome.ok:
            value, artifact = outcome.value, outcome.artifact
            if self._memo is not None and artifact is not None:
                if outcome.stored:  # left in the worker that stored it: loaded only if a task here needs it
                    value = self._memo.kept(artifact)
                if unit.map_index < 0:
                    self._memo.record(unit.key, artifact)
            shown = None if outcome.stored else outcome.value
            self._progress.output(unit.key, shown, map_index=unit.map_index, artifact=artifact)
            self._unit_ended(unit, TaskState.SUCCESS, outcome, value)
            return
        error = outcome.error
        assert error is not None
        overran = self._stops.overran(unit, error)
        if overran is not None:  # stopped by the run's deadline, not its own timeout
            self._stop(self._stops.deadline_error)
            error, outcome = overran, dataclasses.replace(outcome, error=overran)
        elif error.poke is not None and not self._stops.stopped:
            self._poked(unit, outcome, error)
            return
        self._progress.failed(unit.key, error)
        opts = self.graph.nodes[unit.key].task.options
        delay = None if self._stops.stopped else self._retries.after_failure(unit, error, opts)
        if delay is None:
            self._unit_ended(unit, TaskState.FAILED, outcome)
        else:
            self._progress.retrying(unit, error, delay)

    def _poked(self, unit: Unit, outcome: Outcome, error: ErrorInfo) -> None:
        """A sensor's poke found nothing: wait for the next poke, or give up at its timeout."""
        verdict = pokes.poked(unit, error, self._retries, self.clock)
        pokes.note(unit, verdict.line, self._progress)
        if verdict.ended is None:
            self._progress.retrying(unit, verdict.error, verdict.delay)
            return
        self._progress.failed(unit.key, verdict.error)
        self._unit_ended(unit, verdict.ended, dataclasses.replace(outcome, error=verdict.error))

    def _unit_ended(self, unit: Unit, state: TaskState, outcome: Outcome, value: Any = None) -> None:
        """The unit's last attempt ended in ``state``: end its node, or count its item."""
        if unit.map_index < 0:
            self.results[unit.key].duration = outcome.duration
            self._finish_node(unit.key, state, value, unit.log_path)
            return
        self._progress.item_ended(unit, state, outcome)
        if self._maps[unit.key].item_ended(unit.map_index, value, outcome.artifact):
            self._finish_map(unit.key)
        elif state is TaskState.FAILED and self._stops.fails_fast(self._tolerates(unit.key)):
            self._stop()

    def _tolerates(self, key: str) -> bool:
        return self.graph.nodes[key].task.options.allow_failure

    # -- stopping (the rules: ``suiro.stopping``) -----------------------------------------

    def _stop(self, why: Why | None = None, *, keep_own: bool = False) -> None:
        """Start nothing new; queued units stay pending, units waiting for another attempt end
        failed (with ``why(label)`` as their error, see ``Stopping.error_of``)."""
        if not self._stops.stop():
            return
        for unit in self._attempts.drop_queued() + self._retries.drain():
            if unit.attempt:  # had failed (or poked) and was waiting for another attempt
                self._fail(unit, self._stops.error_of(unit, why, keep_own=keep_own))
            elif unit.map_index >= 0 and self._maps[unit.key].item_dropped():
                self._finish_map(unit.key)  # a never-started item stays pending, but its node ends

    def _halt(self, halt: Halt) -> None:
        """Stop the run now (a cancel, or its deadline): kill the workers, drop what waits, and end
        what ran with ``halt.why(label)`` as its error.

        Outcomes that had arrived are kept when they succeeded (no need to run them again);
        a failure that arrived is treated as stopped, since the stop may have caused it (a
        terminal's Ctrl-C reaches the programs a task runs too).
        """
        self.executor.cancel()
        self._stop(halt.why, keep_own=halt.keep_own)
        for unit, outcome in self._attempts.ended_ok():
            self._finish_attempt(unit, outcome)
        for unit in self._attempts.abandon():
            if not self._progress.state_of(unit).is_terminal:
                self._fail(unit, halt.why(task_label(unit.key, unit.map_index)))
        for key, result in self.results.items():  # a KeyboardInterrupt may have cut a step short
            if result.map_size is None and result.state in (TaskState.RUNNING, TaskState.RETRYING):
                self._progress.failed(key, halt.why(key))
                self._finish_node(key, TaskState.FAILED)

    def _fail(self, unit: Unit, error: ErrorInfo | None) -> None:
        """End a unit a stop cut short ``failed``, with ``error`` (None: its own last one)."""
        if error is not None:
            self._progress.failed(unit.key, error)
        self._unit_ended(unit, TaskState.FAILED, Outcome(error=error))
