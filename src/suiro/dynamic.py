"""Dynamic pipelines (``@pipeline(dynamic=True)``): the body runs at run time, on real values.

Owns the run of a body whose task calls return their values, so plain Python ``if``, ``for``
and ``while`` decide what runs (Prefect's flows). Each call becomes a node of the run's graph
as it is made, with edges from the outputs passed in, and is driven by the ``Runner``'s own
turns: the same executor, retries, timeouts, cache keys, reuse on resume and events. Nothing
here runs a task or decides a state itself.

A call's identity is its node key: the task's name and the ordinal of the call in the run
(``train``, ``train_2``, ...), so a resumed run whose body makes the same calls meets the keys
the run before it recorded, and reuses an output only under the exact cache key it was
computed with (docs/guarantees.md G10). An input is known as a task's output by identity: the
very object a call returned (or an item of a mapped call's list) is bound to that node's
output digest; any other value is fingerprinted by content. Numbers, strings and ``None`` are
always taken by content (they carry no identity), so they draw no edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from suiro.errors import TaskFailedError
from suiro.events import RunGraph
from suiro.graph import Binding, Const, Node, Pack, Unmapped, Use
from suiro.mapping import unmapped
from suiro.pathstep import Item
from suiro.ref import raised_at
from suiro.results import TaskResult
from suiro.runner import Runner
from suiro.states import RunState
from suiro.task import Task, active_tracer

#: Values bound by content only: equal ones are interchangeable, so identity says nothing.
_PLAIN = (type(None), bool, int, float, complex, str, bytes)


class Future:
    """A task call started with ``.submit()``: ``result()`` waits for its value.

    Pass it to another task to make that task wait for it (an edge in the graph).
    """

    def __init__(self, driver: DynamicRunner, key: str):
        self._driver = driver
        self.key = key

    def result(self) -> Any:
        """Wait for the call to end and return its value.

        Raises:
            TaskFailedError: the task failed (after its retries) or could not run.
        """
        return self._driver.wait(self.key)

    def __repr__(self) -> str:
        return f"<Future of task {self.key}>"


class _Stopped(BaseException):
    """The run stops (cancelled, or ``--fail-fast`` after a failure): unwinds the body at its
    current call. A ``BaseException`` so a body's ``except Exception`` does not swallow it."""


class _Arrivals:
    """The ready set of a graph that grows while it runs: what ``graphlib`` is to a static one."""

    def __init__(self) -> None:
        self._done: set[str] = set()
        self._waiting: dict[str, set[str]] = {}
        self._dependents: dict[str, list[str]] = {}
        self._ready: list[str] = []

    def add(self, key: str, upstream: set[str]) -> None:
        pending = upstream - self._done
        if not pending:
            self._ready.append(key)
            return
        self._waiting[key] = pending
        for source in pending:
            self._dependents.setdefault(source, []).append(key)

    def done(self, key: str) -> None:
        self._done.add(key)
        for dependent in self._dependents.pop(key, ()):
            waiting = self._waiting[dependent]
            waiting.discard(key)
            if not waiting:
                del self._waiting[dependent]
                self._ready.append(dependent)

    def get_ready(self) -> tuple[str, ...]:
        ready = tuple(self._ready)
        self._ready.clear()
        return ready


class DynamicRunner(Runner):
    """Runs a dynamic pipeline's body once; each task call it makes is a node run by the loop.

    Args:
        body: the pipeline function, called with the run's parameter values.
        task_defaults: the pipeline's ``task_defaults``, for tasks that do not set them.
        *args, **kwargs: as for ``Runner`` (its graph starts with no nodes).
    """

    def __init__(self, *args: Any, body: Callable[..., Any], task_defaults: Mapping[str, Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._body = body
        self._task_defaults = dict(task_defaults)
        self._defaulted: dict[int, Task[Any, Any]] = {}
        self._counts: dict[str, int] = {}
        #: Call shapes (task, argument count, keyword names, mapped) already bound to the signature.
        self._checked: set[tuple[Any, ...]] = set()
        #: id of every object a call returned -> (its binding, the object, kept alive so ids stay unique).
        self._made: dict[int, tuple[Binding, Any]] = {}
        self._output: Any = None
        self._body_error: str | None = None

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        self._sorter = _Arrivals()  # type: ignore[assignment]
        token = active_tracer.set(self)  # type: ignore[arg-type]
        try:
            self._output = self._body(**self.params)
        except _Stopped:
            pass
        except TaskFailedError:
            pass  # the task's failure is recorded; the run fails by it
        except Exception as exc:
            code = self._body.__code__
            where = raised_at(exc, default=f"{code.co_filename}:{code.co_firstlineno}")
            said = str(exc).rstrip(".")
            self._body_error = (
                f"pipeline {self.graph.name} raised {type(exc).__name__}: {said} at {where}; "
                "fix that line, then resume the run."
            )
        finally:
            active_tracer.reset(token)
        while self._turn():  # calls submitted and never waited for still end, and are recorded
            pass
        drawn = self.graph.to_record() | {"dynamic": True}
        self._progress.send(RunGraph(run_id=self.info.run_id, graph=drawn))

    def _ending(self) -> tuple[RunState, Any, str | None]:
        state, _, error = super()._ending()
        if state is RunState.CANCELLED:
            return state, None, error
        if self._body_error is not None:
            return RunState.FAILED, None, self._body_error
        return state, (self._output if state is RunState.SUCCESS else None), error

    def wait(self, key: str) -> Any:
        """Drive the run until node ``key`` ends; return its value, or raise its failure."""
        result = self.results[key]
        while not result.state.is_terminal and self._turn():
            pass
        if self.cancellation.requested or not result.state.is_terminal:
            raise _Stopped
        if not result.state.is_ok:
            node = self.graph.nodes[key]
            why = f"{result.errors[-1].type}: {result.errors[-1].message}" if result.errors else result.state
            raise TaskFailedError(
                f"task {key} called at {node.location} ended {result.state.value} ({why}); "
                "catch TaskFailedError in the pipeline to go on without it, or fix the task and resume.",
                task=key,
            )
        value = self._values.resolve(Use(key))
        self._track(value, Use(key), self.graph.nodes[key].is_map)
        return value

    # -- calls (the tracer protocol of suiro.task) ------------------------------------------

    def add_call(
        self,
        task: Task[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        mapped: bool,
        max_concurrency: int | None,
        location: str,
    ) -> Any:
        """A task called in the body: run it now and return its value (a mapped call: the list)."""
        future = self.submit(
            task, args, kwargs, location=location, mapped=mapped, max_concurrency=max_concurrency
        )
        return self.wait(future.key)

    def submit(
        self,
        task: Task[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        location: str,
        mapped: bool = False,
        max_concurrency: int | None = None,
    ) -> Future:
        """Add the call as a node and queue it (once its inputs' tasks end); return its future."""
        from suiro.checks import check_call

        shape = (id(task), len(args), tuple(kwargs), mapped)  # binding depends on nothing else
        if mapped or shape not in self._checked:  # a mapped call checks its lists' lengths too
            check_call(task, args, kwargs, location=location, mapped=mapped)
            self._checked.add(shape)
        key = self._new_key(task.name)
        node = Node(
            key=key,
            task=self._with_defaults(task),
            args=tuple(self._bind(a, mapped) for a in args),
            kwargs={k: self._bind(v, mapped) for k, v in kwargs.items()},
            location=location,
            is_map=mapped,
            max_concurrency=max_concurrency,
        )
        upstream = node.upstream
        self.graph.nodes[key] = node
        self._upstream[key] = upstream
        self.results[key] = TaskResult(key=key)
        self._values.add(key, upstream)
        if max_concurrency:
            self._limits[key] = max_concurrency
        self._sorter.add(key, upstream)  # type: ignore[attr-defined]
        self._start_ready_nodes()
        return Future(self, key)

    def _new_key(self, name: str) -> str:
        """``name``, ``name_2``, ...: the call's ordinal among the run's calls of that task."""
        count = self._counts.get(name, 0) + 1
        key = name if count == 1 else f"{name}_{count}"
        while key in self.graph.nodes:
            count += 1
            key = f"{name}_{count}"
        self._counts[name] = count
        return key

    def _with_defaults(self, task: Task[Any, Any]) -> Task[Any, Any]:
        if not self._task_defaults:
            return task
        if id(task) not in self._defaulted:
            self._defaulted[id(task)] = task.with_defaults(self._task_defaults)
        return self._defaulted[id(task)]

    def _track(self, value: Any, binding: Use, mapped: bool) -> None:
        """Remember ``value`` (and a mapped call's items) as the output behind ``binding``."""
        if not isinstance(value, _PLAIN):
            self._made[id(value)] = (binding, value)
        if mapped and isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, _PLAIN):
                    self._made[id(item)] = (Use(binding.source, path=(Item(index),)), item)

    def _bind(self, value: Any, mapped: bool = False) -> Binding:
        """An argument as a binding: a task's output (or future) by its node, else its content."""
        if isinstance(value, unmapped):
            return Unmapped(self._bind(value.value))
        if isinstance(value, Future):
            return Use(value.key)
        if not isinstance(value, _PLAIN):
            made = self._made.get(id(value))
            if made is not None and made[1] is value:
                return made[0]
        if isinstance(value, list | tuple):
            items = [self._bind(v) for v in value]
            if any(not isinstance(b, Const) for b in items):
                kind = "list" if isinstance(value, list) else "tuple"
                return Pack(kind, tuple(enumerate(items)))
        elif isinstance(value, dict):
            bound = {k: self._bind(v) for k, v in value.items()}
            if any(not isinstance(b, Const) for b in bound.values()):
                return Pack("dict", tuple(bound.items()))
        return Const(value)
