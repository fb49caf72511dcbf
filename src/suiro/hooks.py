"""Hooks: ``on_failure``, ``on_success`` and ``on_retry`` of a pipeline and of its tasks, called
in the run's own process as the run goes (Prefect's state hooks, Airflow's callbacks).

``Hooks`` is a ``RunObserver``: the runner's events say when a task ended or will be retried,
so hooks work the same on every executor (they run in the runner's process, between events,
never in a worker) and need no pickling. A pipeline's ``on_failure``/``on_success`` run when the
run has ended and is recorded (``run_ended``). Each hook gets a frozen ``suiro.HookContext``. A
hook that raises is logged and recorded (``deliveries``, channel ``hook``) and the run goes on
as if it had not been called: a hook can never change a run's state. Keep hooks quick: the
run waits for them.

Also arms the run's notification routes when it starts (``runs.notify``), for whoever
announces its crash later from another process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from suiro.errors import StoreError
from suiro.events import Event, RunStarted, TaskStateChanged
from suiro.notify import HookContext, Routes, first_line, logs_command
from suiro.secrets import mask
from suiro.states import RunState, TaskState

if TYPE_CHECKING:
    from suiro.graph import Graph
    from suiro.pipeline import Pipeline
    from suiro.results import RunResult
    from suiro.runinfo import Scheduled
    from suiro.store.db import Database

_log = logging.getLogger("suiro.hooks")


class Hooks:
    """Calls a run's hooks from its events; a ``RunObserver`` that never raises."""

    def __init__(
        self, pipe: Pipeline, *, routes: Routes, db: Database | None, scheduled: Scheduled | None = None
    ):
        self.pipeline = pipe.name
        self._pipe = pipe
        self._routes = routes
        self._db = db
        self._deployment = scheduled.deployment if scheduled else None
        self._graph: Graph = pipe.graph

    @property
    def listens(self) -> bool:
        """Whether the run's events matter here: routes to arm, or a hook that events call (a
        dynamic run's tasks are not known before it runs). Else the runner need not send them."""
        if self._routes or self._pipe.dynamic or self._pipe.on_retry:
            return True
        return any(
            n.task.options.on_failure or n.task.options.on_success or n.task.options.on_retry
            for n in self._graph.nodes.values()
        )

    def bind(self, graph: Graph) -> None:
        """Read tasks' hooks from ``graph`` (a dynamic run's grows as it runs)."""
        self._graph = graph

    def notify(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._arm(event.run_id)
        elif isinstance(event, TaskStateChanged):
            kind = _KINDS.get(event.state)
            if kind is None or (kind != "retry" and event.map_index >= 0):
                return  # a mapped task's hooks run once for the task, not per item (but per retry)
            if kind == "retry" and event.error is not None and event.error.poke:
                return  # a sensor that found nothing yet waits for its next poke: not a retry
            node = self._graph.nodes.get(event.task_key)
            own = getattr(node.task.options, f"on_{kind}", ()) if node is not None else ()
            shared = self._pipe.on_retry if kind == "retry" else ()
            if not (own or shared):
                return
            ctx = HookContext(
                event=kind,
                run_id=event.run_id,
                pipeline=self.pipeline,
                deployment=self._deployment,
                task=event.task_key,
                state=event.state.value,
                error=first_line(str(event.error)) if event.error is not None else None,
                attempt=event.attempt,
                logs=logs_command(event.run_id, event.task_key),
                map_index=event.map_index,
            )
            for hook in own:
                self._call(hook, ctx, owner=f"task {event.task_key}")
            for hook in shared:
                self._call(hook, ctx, owner=f"pipeline {self.pipeline}")

    def run_ended(self, result: RunResult) -> None:
        """Call the pipeline's ``on_failure`` or ``on_success`` once its run has ended and is recorded."""
        kind = {RunState.FAILED: "failure", RunState.SUCCESS: "success"}.get(result.state)
        hooks = getattr(self._pipe, f"on_{kind}", ()) if kind else ()
        if not hooks:
            return
        error = result.error
        ctx = HookContext(
            event=kind or "",
            run_id=result.run_id,
            pipeline=self.pipeline,
            deployment=self._deployment,
            task=error.task if error is not None else None,
            state=result.state.value,
            error=first_line(str(error)) if error is not None else None,
            attempt=0,
            logs=logs_command(result.run_id, error.task if error is not None else None),
        )
        for hook in hooks:
            self._call(hook, ctx, owner=f"pipeline {self.pipeline}")

    def _call(self, hook: Callable[[HookContext], Any], ctx: HookContext, *, owner: str) -> None:
        try:
            hook(ctx)
        except (Exception, SystemExit) as exc:  # the run goes on: a hook is about it, not part of it
            name = getattr(hook, "__qualname__", repr(hook))
            why = mask(f"{type(exc).__name__}: {exc}")
            _log.warning(
                "on_%s hook %s of %s raised %s; the run is not changed by it", ctx.event, name, owner, why
            )
            where = f"{owner}: {name}" + (f" (attempt {ctx.attempt})" if ctx.event == "retry" else "")
            if ctx.map_index >= 0:
                where += f" [item {ctx.map_index}]"
            self._record(ctx.run_id, f"on_{ctx.event}", where, first_line(why))

    def _record(self, run_id: str, event: str, target: str, error: str | None) -> None:
        from suiro.store import deliveries

        if self._db is None:
            return
        try:
            deliveries.record(self._db, run_id, event, "hook", target, state="failed", error=error)
        except StoreError as exc:
            _log.warning("a hook's failure was not recorded: %s", exc)

    def _arm(self, run_id: str) -> None:
        from suiro.store import deliveries

        if self._db is None or not self._routes:
            return
        try:
            deliveries.arm(self._db, run_id, self._routes.to_json())
        except StoreError as exc:
            _log.warning("run %s: its notification routes were not recorded: %s", run_id, exc)


_KINDS = {TaskState.FAILED: "failure", TaskState.SUCCESS: "success", TaskState.RETRYING: "retry"}
