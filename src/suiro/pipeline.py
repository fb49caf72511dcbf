"""``@pipeline``: trace a Python function once into a static ``Graph``.

Owns references (``Ref``), ``when`` branches and the checks made at definition
time (bad calls, ``if`` on a reference, defaults that do not fit their annotation,
cycles). Runs nothing: calling a task while tracing records a node and returns a
``Ref`` to its future output.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, overload

from suiro import collector
from suiro.errors import DefinitionError, SuiroError, did_you_mean
from suiro.graph import Binding, Condition, Const, Expr, Graph, Group, Node, Pack, Param, Unmapped, Use
from suiro.mapping import MAPPABLE, unmapped
from suiro.notify import Hook, Notify, NotifyError, hooks_of
from suiro.pathstep import Not
from suiro.ref import Ref, raised_at, to_binding, user_location
from suiro.task import Task, active_tracer

if TYPE_CHECKING:
    from suiro.checks import About
    from suiro.schedules import Schedule

# suiro.checks is imported where a pipeline is defined, not by `import suiro` (which stays light).

__all__ = ["Pipeline", "Ref", "pipeline", "when"]


class Pipeline:
    """A traced pipeline: its graph, parameters, and options like ``schedule`` and ``executor``.

    ``executor`` is where its tasks run when the caller does not say (``"processes"``
    for CPU-bound training, for example). ``schedule`` (a cron expression, ``"every 6h"``, a
    mapping with ``cron``/``every`` and ``timezone``, or a ``suiro.Schedule``) is checked here and
    kept parsed; it gives the pipeline a default deployment (``suiro deploy FILE``).
    ``task_defaults`` are ``@task`` options for every task it calls that does not set them
    itself (Airflow's ``default_args``); ``description`` (its docstring's first line when not
    given), ``owner`` and ``tags`` are shown by ``suiro graph`` and ``suiro show``.

    Run it with ``suiro.run(pipeline, params={...})`` or ``suiro run FILE.py``; call it inside
    another pipeline to insert its tasks there as a group.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        schedule: str | Schedule | Mapping[str, Any] | None = None,
        executor: str | None = None,
        task_defaults: Mapping[str, Any] | None = None,
        description: str | None = None,
        owner: str | None = None,
        tags: str | Iterable[str] = (),
        dynamic: bool = False,
        timeout: float | datetime.timedelta | str | None = None,
        sla: float | datetime.timedelta | str | None = None,
        notify: Notify | Mapping[str, Any] | None = None,
        on_failure: Hook | list[Hook] | None = None,
        on_success: Hook | list[Hook] | None = None,
        on_retry: Hook | list[Hook] | None = None,
    ):
        self.fn = fn
        self.dynamic = dynamic
        self.name = name or fn.__name__
        self.executor = executor
        location = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"
        self.schedule = None if schedule is None else _schedule(schedule, self.name, location)
        #: Seconds a run may take before it is stopped and recorded failed (None: no limit).
        self.timeout = _duration(timeout, "timeout", f"pipeline {self.name} at {location}", location)
        #: Seconds after a scheduled run's logical time by which it should have ended: a deployment
        #: of this pipeline that sets no ``sla`` of its own sends "late" past it (None: never).
        self.sla = _duration(sla, "sla", f"pipeline {self.name} at {location}", location)
        self.notify, self.on_failure, self.on_success, self.on_retry = _notices(
            self.name, location, notify, on_failure=on_failure, on_success=on_success, on_retry=on_retry
        )
        from suiro.checks import About

        about = About.of(
            fn,
            self.name,
            location,
            task_defaults=task_defaults,
            description=description,
            owner=owner,
            tags=tags,
        )
        self.task_defaults, self.description, self.owner, self.tags = (
            about.task_defaults,
            about.description,
            about.owner,
            about.tags,
        )
        # A dynamic pipeline's body runs at run time (suiro.dynamic): its graph grows as it runs.
        self.graph = _untraced(fn, self.name, about) if dynamic else _trace(fn, self.name, about)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @property
    def params(self) -> tuple[Param, ...]:
        """The pipeline's parameters, in signature order."""
        return self.graph.params

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside another pipeline: insert this one's tasks as a group and return its output."""
        trace = active_tracer.get()
        if isinstance(trace, _Trace) and not self.dynamic:
            return trace.add_pipeline(self, args, kwargs, location=user_location())
        location = user_location()
        raise DefinitionError(
            f"pipeline {self.name} was called at {location}, but pipelines are not run by calling them; "
            f"use suiro.run({self.name}, params={{...}}) or `suiro run FILE.py:{self.name}`.",
            task=self.name,
            location=location,
        )

    def __repr__(self) -> str:
        return f"<pipeline {self.name}: {len(self.graph.nodes)} tasks>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    schedule: str | Schedule | Mapping[str, Any] | None = None,
    executor: str | None = None,
    task_defaults: Mapping[str, Any] | None = None,
    description: str | None = None,
    owner: str | None = None,
    tags: str | Iterable[str] = (),
    dynamic: bool = False,
    timeout: float | datetime.timedelta | str | None = None,
    sla: float | datetime.timedelta | str | None = None,
    notify: Notify | Mapping[str, Any] | None = None,
    on_failure: Hook | list[Hook] | None = None,
    on_success: Hook | list[Hook] | None = None,
    on_retry: Hook | list[Hook] | None = None,
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Trace a function into a pipeline, bare (``@pipeline``) or with options.

    The function runs once, now, with a reference in place of each parameter;
    every task call inside it becomes a node. Errors in the definition are raised
    here, naming the task and the line. ``task_defaults`` (``{"retries": 2, "timeout": 3600}``)
    apply to every task that does not set the option itself; see ``Pipeline``.

    ``notify`` (``suiro.Notify(email=[...], webhook=...)`` or a mapping) says who is told when
    its runs fail (see docs/notifications.md); ``on_failure``, ``on_success`` and ``on_retry`` are
    hooks called with a ``suiro.HookContext`` when a run fails or succeeds, or any task is retried.

    With ``dynamic=True`` the function is not traced: it runs at run time, each task call returns
    its value (``.submit()`` a future), and plain ``if``/``for``/``while`` decide what runs; its
    graph is the calls it made, known after a run (see ``suiro.dynamic``).

    ``timeout`` (seconds, or a timedelta) is the run's deadline: a run that takes longer is stopped
    (its running tasks killed, as at a task's own timeout; nothing new starts) and recorded
    ``failed`` with ``run exceeded its timeout of N s``. ``sla`` (same forms) does not stop a run:
    a scheduled run not ended that long after its logical time sends a "late" notification (the
    default of the pipeline's deployments).
    """

    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        where = user_location()
        raise DefinitionError(
            f"@pipeline at {where} has no option {unknown[0]!r}{did_you_mean(unknown[0], _OPTIONS)}; "
            f"its options are {', '.join(_OPTIONS)}.",
            location=where,
        )

    def decorate(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, **options)

    return decorate if fn is None else decorate(fn)


#: The options ``@pipeline(...)`` takes: ``Pipeline``'s keywords.
_INIT = Pipeline.__init__.__code__
_OPTIONS = _INIT.co_varnames[_INIT.co_argcount : _INIT.co_argcount + _INIT.co_kwonlyargcount]


def _schedule(spec: Any, name: str, location: str) -> Schedule:
    """``spec`` parsed, or a ``ScheduleError`` naming the pipeline and its line: a bad schedule is
    found when the file is loaded, never when it should have fired. Imports the schedules module
    (cronsim, zoneinfo) only for a pipeline that has a schedule."""
    from suiro.errors import ScheduleError
    from suiro.schedules import Schedule

    try:
        return Schedule.parse(spec)
    except ScheduleError as exc:
        raise ScheduleError(
            f"pipeline {name} at {location} has a bad schedule: {exc}",
            spec=exc.spec,
            task=name,
            location=location,
        ) from None


def _duration(value: Any, what: str, owner: str, location: str) -> float | None:
    """A pipeline's ``timeout`` or ``sla`` in seconds (a number, a timedelta, or text such as
    ``"2h"`` or ``"1h30m"``), checked where the pipeline is defined."""
    if value is None:
        return None
    if isinstance(value, str):
        from suiro.errors import ScheduleError
        from suiro.schedules import parse_duration

        try:
            return parse_duration(value)
        except ScheduleError:
            pass  # the sentence below names the option
    else:
        seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else value
        if not isinstance(seconds, bool) and isinstance(seconds, int | float) and seconds > 0:
            return float(seconds)
    raise DefinitionError(
        f"{owner}: {what} must be a number of seconds > 0, a timedelta or a duration such as '2h', "
        f"got {value!r}.",
        location=location,
    )


def _notices(
    name: str, location: str, value: Any, **hooks: Any
) -> tuple[Notify | None, tuple[Hook, ...], tuple[Hook, ...], tuple[Hook, ...]]:
    """A pipeline's ``notify=`` and hooks, checked now: a typo fails at its line, not at 2 a.m."""
    owner = f"pipeline {name} at {location}"
    try:
        found = Notify.parse(value, where=f"{owner}: notify")
        on = [
            hooks_of(hooks[label], label=label, owner=owner)
            for label in ("on_failure", "on_success", "on_retry")
        ]
    except NotifyError as exc:
        raise DefinitionError(str(exc), task=name, location=location) from None
    return found, on[0], on[1], on[2]


def when(condition: Ref) -> contextlib.AbstractContextManager[None]:
    """Run the tasks called inside the block only if ``condition`` is truthy.

    Tasks whose condition is false are ``skipped``; use ``when(~ref)`` for the other
    branch and ``trigger_rule="one_success"`` on a task that joins both.
    """
    trace = _current_trace("when()")
    if not isinstance(condition, Ref):
        location = user_location()
        raise DefinitionError(
            f"when() at {location} needs the output of a task or a parameter, got {condition!r}; "
            "use a plain Python if for values known while tracing.",
            location=location,
        )
    use: Use | Expr = condition._binding
    negate = False
    while True:  # ~ref and ~(a >= b) are the same condition, negated
        if isinstance(use, Use) and use.path and isinstance(use.path[-1], Not):
            use = Use(use.source, use.is_param, use.path[:-1])
        elif isinstance(use, Expr) and use.op == "not":
            use = use.operands[0]  # type: ignore[assignment]
        else:
            break
        negate = not negate
    return _guarded(trace, Condition(use, negate))


@contextlib.contextmanager
def _guarded(trace: _Trace, condition: Condition) -> Iterator[None]:
    trace.conditions.append(condition)
    try:
        yield
    finally:
        trace.conditions.pop()


class _Trace:
    """The tracer active while a pipeline function runs; builds its nodes."""

    def __init__(self, name: str, task_defaults: Mapping[str, Any] | None = None):
        self.name = name
        self.nodes: dict[str, Node] = {}
        self.groups: dict[str, Group] = {}
        self.conditions: list[Condition] = []
        self.counts: dict[str, int] = {}
        self.task_defaults = dict(task_defaults or {})
        self._defaulted: dict[int, Task[Any, Any]] = {}

    def add_call(
        self,
        task: Task[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        mapped: bool,
        max_concurrency: int | None,
        location: str,
    ) -> Ref:
        from suiro.checks import check_call, check_types

        check_call(task, args, kwargs, location=location, mapped=mapped)
        key = self._new_key(task.name)
        node = Node(
            key=key,
            task=self._with_defaults(task),
            args=tuple(self._bind(a, mapped, task, location) for a in args),
            kwargs={k: self._bind(v, mapped, task, location) for k, v in kwargs.items()},
            location=location,
            is_map=mapped,
            max_concurrency=max_concurrency,
            conditions=tuple(self.conditions),
        )
        check_types(self.nodes, task, args, kwargs, mapped=mapped, location=location)
        self.nodes[key] = node
        return Ref(Use(key), location, self.name)

    def add_pipeline(
        self, inner: Pipeline, args: tuple[Any, ...], kwargs: dict[str, Any], *, location: str
    ) -> Any:
        """Insert a sub-pipeline's tasks as group ``inner.name`` (``_2``...); return its output."""
        from suiro.checks import bind_inputs

        inputs = bind_inputs(self.nodes, self.name, inner, (args, kwargs), location)
        group = self._new_key(inner.name, group=True)
        from suiro.grouping import inline  # only pipelines that call pipelines need it

        nodes, groups, output = inline(
            inner.graph, group, inputs, conditions=tuple(self.conditions), adapt=self._with_defaults
        )
        self.groups[group] = Group(group, inner.name, location, inner.description)
        self.groups.update((g.key, g) for g in groups)
        self.nodes.update((node.key, node) for node in nodes)
        return self._as_value(output, location)

    def _as_value(self, binding: Binding | None, location: str) -> Any:
        """A sub-pipeline's output as the caller sees it: references, in the lists and dicts it returned."""
        if binding is None or isinstance(binding, Const):
            return None if binding is None else binding.value
        if isinstance(binding, Pack):
            items = [(k, self._as_value(b, location)) for k, b in binding.items]
            found = [v for _, v in items]
            return (
                dict(items) if binding.kind == "dict" else found if binding.kind == "list" else tuple(found)
            )
        if isinstance(binding, Unmapped):
            return unmapped(self._as_value(binding.inner, location))
        return Ref(binding, location, self.name)

    def _with_defaults(self, task: Task[Any, Any]) -> Task[Any, Any]:
        """The task with this pipeline's ``task_defaults`` for what it does not set itself."""
        if not self.task_defaults:
            return task
        if id(task) not in self._defaulted:
            self._defaulted[id(task)] = task.with_defaults(self.task_defaults)
        return self._defaulted[id(task)]

    def order(self, first: Ref, then: Ref) -> None:
        for ref in (first, then):
            use = ref._binding if isinstance(ref, Ref) else None
            if not isinstance(use, Use) or use.is_param or use.source not in self.nodes:
                raise DefinitionError(
                    f">> needs task outputs on both sides, got {ref!r} at {user_location()}.",
                    location=user_location(),
                )
        self.nodes[then._binding.source].after.add(first._binding.source)  # type: ignore[union-attr]

    def _new_key(self, name: str, *, group: bool = False) -> str:
        """``name``, then ``name_2``, ``name_3``...: never the key of an existing node or group.

        A new ``group`` key is also no existing key's prefix (a task may be named ``prep.x``).
        """
        count = self.counts.get(name, 0) + 1
        key = name if count == 1 else f"{name}_{count}"
        while (
            key in self.nodes
            or key in self.groups
            or (group and any(k.startswith(f"{key}.") for k in self.nodes))
        ):
            count += 1
            key = f"{name}_{count}"
        self.counts[name] = count
        return key

    def _bind(self, value: Any, mapped: bool, task: Task[Any, Any], location: str) -> Binding:
        if mapped and isinstance(value, unmapped):
            return Unmapped(self._bind(value.value, False, task, location))
        if mapped and not isinstance(value, (Ref, *MAPPABLE)):
            raise DefinitionError(
                f"{task.name}.map at {location}: {value!r} ({type(value).__name__}) is not a list; "
                "wrap it in unmapped() to pass it whole to every item.",
                task=task.name,
                location=location,
            )
        return to_binding(value, self.name)


def _trace(fn: Callable[..., Any], name: str, about: About) -> Graph:
    with collector.held():  # a big graph's nodes, all kept, start no full collections
        return _traced(fn, name, about)


def _traced(fn: Callable[..., Any], name: str, about: About) -> Graph:
    if active_tracer.get() is not None:
        raise DefinitionError(f"pipeline {name} was defined while another pipeline was being traced.")
    location = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"
    from suiro.checks import params_of

    params = params_of(fn, name, location)
    trace = _Trace(name, about.task_defaults)
    token = active_tracer.set(trace)
    try:
        result = _call(fn, {p.name: Ref(Use(p.name, is_param=True), location, name) for p in params}, name)
    finally:
        active_tracer.reset(token)
    graph = Graph(
        name=name,
        params=params,
        nodes=trace.nodes,
        output=None if result is None else to_binding(result, trace.name),
        location=location,
        description=about.description,
        owner=about.owner,
        tags=about.tags,
        task_defaults=about.task_defaults,
        groups=trace.groups,
    )
    graph.check()
    return graph


def _untraced(fn: Callable[..., Any], name: str, about: About) -> Graph:
    """A dynamic pipeline's graph before a run: its parameters and options, no nodes yet."""
    location = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"
    from suiro.checks import params_of

    return Graph(
        name=name,
        params=params_of(fn, name, location),
        nodes={},
        location=location,
        description=about.description,
        owner=about.owner,
        tags=about.tags,
        task_defaults=about.task_defaults,
    )


def _call(fn: Callable[..., Any], refs: dict[str, Ref], name: str) -> Any:
    """Run the pipeline body once; an error that is not ours names the line that raised it."""
    try:
        return fn(**refs)
    except SuiroError:
        raise
    except Exception as exc:  # without this, a file's import fails with no line to look at
        swallowed = _definition_error_in(exc)
        if swallowed is not None:  # a library caught ours (a TypeError) and raised its own vaguer one
            raise swallowed from None
        where = raised_at(exc, default=f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}")
        raise DefinitionError(
            f"pipeline {name}: tracing it raised {type(exc).__name__}: {exc} at {where}; fix that line "
            "(the body runs once, while tracing, with references in place of task outputs and parameters).",
            task=name,
            location=where,
        ) from exc


def _definition_error_in(exc: BaseException) -> DefinitionError | None:
    """Our own error, if ``exc`` was raised while handling it (``os.path.join`` does that)."""
    seen: set[int] = set()
    context = exc.__context__
    while context is not None and id(context) not in seen:
        if isinstance(context, DefinitionError):
            return context
        seen.add(id(context))
        context = context.__context__
    return None


def _current_trace(what: str = ">>") -> _Trace:
    trace = active_tracer.get()
    if hasattr(trace, "submit"):  # a dynamic pipeline's run: values are real, so Python decides
        location = user_location()
        raise DefinitionError(
            f"{what} at {location} is for static pipelines; in a @pipeline(dynamic=True) body "
            "write a plain if (task calls return their values), and call tasks in the order they must run.",
            location=location,
        )
    if not isinstance(trace, _Trace):
        location = user_location()
        raise DefinitionError(
            f"{what} at {location} is only allowed inside a @pipeline function; call it while tracing one.",
            location=location,
        )
    return trace
