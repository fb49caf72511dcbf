"""``@task`` and its options.

Owns what a task *is* (a function plus options that govern retries, timeouts and
caching). Knows nothing of runs, graphs or storage: inside a ``@pipeline`` a call is
handed to the active tracer (installed by ``suiro.pipeline``); outside, it is a plain
function call, so tasks stay unit-testable as ordinary functions.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import random
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from suiro.errors import DefinitionError, did_you_mean
from suiro.files import output_kinds, without_outputs
from suiro.resources import resource_problems
from suiro.states import TriggerRule

P = ParamSpec("P")
#: What a task name may be: it becomes part of log file names, so no path separators or leading dot.
_NAME = re.compile(r"[^/\x00.][^/\x00]{0,199}")
R = TypeVar("R")


class Tracer(Protocol):
    """What a pipeline trace offers to tasks called while it is active."""

    def add_call(
        self,
        task: Task[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        mapped: bool,
        max_concurrency: int | None,
        location: str,
    ) -> Any: ...


#: The trace a task call belongs to; None outside ``@pipeline`` tracing.
active_tracer: ContextVar[Tracer | None] = ContextVar("suiro_active_tracer", default=None)


@dataclass(frozen=True)
class TaskOptions:
    """Options of a task. Only ``cache_options()`` fields change a task's output.

    Attributes:
        name: the task's name in graphs, logs and records.
        retries: how many more attempts after the task raised an exception.
        infra_retries: how many more attempts after the process running the task died
            (killed, out of memory, a crash in native code): a budget of its own, so an
            infrastructure failure does not use up the retries meant for the task's errors.
        retry_delay: seconds before the first retry.
        backoff: multiplier applied to the delay for each further retry.
        max_delay: cap on any single delay, in seconds.
        jitter: up to this fraction of the delay is added at random, so many
            failing tasks do not retry in lock-step.
        retry_on: exception types that are retried; any other fails at once.
            None retries every exception.
        timeout: seconds after which the attempt is stopped and counts as failed.
        cache: whether results may be reused across runs.
        cache_key: callable replacing the computed cache key.
        cache_ttl: seconds a cached result stays valid.
        tags: free labels, for filtering and compile targets.
        resources: what the task needs of the worker that runs it: ``cpu`` and ``gpu`` counts,
            ``memory`` (bytes or ``"4GB"``). The Dask executor runs the task on a worker that
            offers them; the executors of this machine do not enforce them.
        trigger_rule: when the task runs given its upstream states.
        serializer: forces an artifact serializer instead of choosing by type.
        description: what the task does, for ``suiro graph`` and the records (the first line
            of its docstring when not given).
        owner: who answers for the task (Airflow's ``owner``), shown where it differs from
            the pipeline's.
        allow_failure: a non-critical task (a report, a notification): its failure is recorded
            and shown, downstream trigger rules see it failed, but it does not fail the run.
        on_failure: hooks called with a ``suiro.HookContext`` when the task has failed for good
            (after its retries), in the runner's process; one that raises never changes the run.
        on_success: hooks called when the task succeeded (ran; a cached output calls none).
        on_retry: hooks called when an attempt failed and another follows.
    """

    name: str
    retries: int = 0
    infra_retries: int = 1
    retry_delay: float = 0.0
    backoff: float = 1.0
    max_delay: float | None = None
    jitter: float = 0.0
    retry_on: tuple[type[BaseException], ...] | None = None
    timeout: float | None = None
    cache: bool = True
    cache_key: Callable[..., str] | None = None
    cache_ttl: float | None = None
    tags: frozenset[str] = frozenset()
    resources: Mapping[str, Any] = field(default_factory=dict)
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    serializer: str | None = None
    description: str | None = None
    owner: str | None = None
    allow_failure: bool = False
    on_failure: tuple[Callable[..., Any], ...] = ()
    on_success: tuple[Callable[..., Any], ...] = ()
    on_retry: tuple[Callable[..., Any], ...] = ()

    def delay_before(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait before ``attempt`` (2 for the first retry).

        Follows ``retry_delay * backoff ** (attempt - 2)``, capped by ``max_delay``,
        plus up to ``jitter`` of itself at random.
        """
        delay = self.retry_delay * self.backoff ** max(attempt - 2, 0)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter:
            delay += delay * self.jitter * (rng or random).random()
        return delay


class Task(Generic[P, R]):
    """A Python function that suiro can trace, run, retry, time out and cache.

    Calling it outside a pipeline calls the function; inside ``@pipeline`` it
    returns a reference to the future output instead.
    """

    def __init__(self, fn: Callable[P, R], options: TaskOptions, *, explicit: Iterable[str] = ()):
        self.fn = fn
        self.options = options
        #: ``Output[...]`` parameters (name -> kind): suiro fills them, so callers bind without them.
        self.outputs = output_kinds(fn)
        self.signature = without_outputs(inspect.signature(fn), self.outputs)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]
        #: Options set on ``@task`` or ``with_options``: a pipeline's ``task_defaults`` never replace them.
        self.explicit = frozenset(explicit)

    @property
    def name(self) -> str:
        """The task's name (the function name unless ``name=`` was given)."""
        return self.options.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        tracer = active_tracer.get()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.add_call(
            self, args, kwargs, mapped=False, max_concurrency=None, location=_caller_location()
        )

    def map(self, *args: Any, max_concurrency: int | None = None, **kwargs: Any) -> Any:
        """Call the task once per item of its list arguments.

        Every argument not wrapped in ``unmapped()`` is iterated (all must have the
        same length); the results arrive downstream as one list, in order.
        Outside a pipeline this is a plain loop.
        """
        if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
            location = _caller_location()
            raise DefinitionError(
                f"{self.name}.map at {location}: max_concurrency must be a positive integer, "
                f"got {max_concurrency!r}.",
                task=self.name,
                location=location,
            )
        tracer = active_tracer.get()
        if tracer is not None:
            return tracer.add_call(
                self, args, kwargs, mapped=True, max_concurrency=max_concurrency, location=_caller_location()
            )
        return _map_eagerly(self, args, kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """In a ``@pipeline(dynamic=True)`` body: start the call and return a future at once.

        Calls submitted one after another run in parallel on the run's executor;
        ``future.result()`` waits for the value, and a future passed to another task makes
        that task wait for it.

        Raises:
            DefinitionError: called outside a dynamic pipeline's run.
        """
        submit = getattr(active_tracer.get(), "submit", None)
        location = _caller_location()
        if submit is None:
            raise DefinitionError(
                f"{self.name}.submit at {location} only works in a @pipeline(dynamic=True) body; "
                f"call {self.name}(...) instead.",
                task=self.name,
                location=location,
            )
        return submit(self, args, kwargs, location=location)

    def with_options(self, **changes: Any) -> Task[P, R]:
        """Return a copy of this task with some options changed (e.g. trigger_rule)."""
        name = changes.pop("name", self.options.name)
        options = dataclasses.replace(self.options, name=name, **_normalize(self.fn, name, changes))
        _check_options(options, self.fn)
        return Task(self.fn, options, explicit=self.explicit | set(changes))

    def with_defaults(self, defaults: Mapping[str, Any]) -> Task[P, R]:
        """This task with a pipeline's ``task_defaults`` for the options it does not set itself.

        ``defaults`` come checked from ``check_defaults``. The copy counts them as set, so an
        enclosing pipeline's defaults do not replace a sub-pipeline's.
        """
        chosen = {k: v for k, v in defaults.items() if k not in self.explicit}
        if not chosen:
            return self
        return Task(
            self.fn, dataclasses.replace(self.options, **chosen), explicit=self.explicit | set(defaults)
        )

    def __repr__(self) -> str:
        return f"<task {self.name}>"


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    fn: None = None, /, *, name: str | None = None, **options: Any
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, **options: Any) -> Any:
    """Turn a function into a task, bare (``@task``) or with options (``@task(retries=3)``).

    Options are the fields of :class:`TaskOptions`; a bad value is a
    ``DefinitionError`` naming the task and the line of its definition.
    """

    def decorate(f: Callable[P, R]) -> Task[P, R]:
        if not callable(f):
            raise DefinitionError(f"@task needs a function, got {f!r}.")
        opts = _build_options(f, name, options)
        return Task(f, opts, explicit=options)

    return decorate if fn is None else decorate(fn)


def _build_options(fn: Callable[..., Any], name: str | None, options: dict[str, Any]) -> TaskOptions:
    task_name = name or getattr(fn, "__name__", "task")
    opts = TaskOptions(name=task_name, **_normalize(fn, task_name, options))
    _check_options(opts, fn)
    return opts


def _normalize(fn: Callable[..., Any], task_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check option names and bring values to their canonical types (for @task and with_options)."""
    where = definition_location(fn)
    unknown = _unknown_options(options)
    if unknown:
        raise DefinitionError(f"@task {task_name} at {where}: {unknown}.", task=task_name, location=where)
    return _canonical(options, f"@task {task_name} at {where}:", task=task_name, location=where)


def _canonical(options: Mapping[str, Any], prefix: str, *, task: str | None, location: str) -> dict[str, Any]:
    """Option values in their canonical types; ``prefix`` starts the error (``@task x at f:1:``)."""
    options = dict(options)
    for label in ("retry_delay", "max_delay", "timeout", "cache_ttl"):  # timedelta(minutes=5), as in Airflow
        if hasattr(options.get(label), "total_seconds"):
            options[label] = options[label].total_seconds()
    retry_on = options.get("retry_on")
    if retry_on is not None:
        options["retry_on"] = tuple(retry_on) if isinstance(retry_on, list | tuple) else (retry_on,)
    for label in _HOOKS:  # one hook or a list of them
        if label in options:
            value = options[label]
            options[label] = (
                () if value is None else tuple(value) if isinstance(value, list | tuple) else (value,)
            )
    if "tags" in options:
        tags = options["tags"]
        options["tags"] = frozenset([tags] if isinstance(tags, str) else tags)
    if "trigger_rule" in options:
        try:
            options["trigger_rule"] = TriggerRule(options["trigger_rule"])
        except ValueError:
            raise DefinitionError(
                f"{prefix} trigger_rule {options['trigger_rule']!r} is not one of "
                f"{', '.join(r.value for r in TriggerRule)}.",
                task=task,
                location=location,
            ) from None
    return options


#: Options that hold hooks (``suiro.hooks`` calls them).
_HOOKS = ("on_failure", "on_success", "on_retry")

#: Option names of Airflow and Prefect that users bring along, and what suiro calls them.
_FOREIGN = {
    "execution_timeout": "timeout",
    "timeout_seconds": "timeout",
    "retry_delay_seconds": "retry_delay",
    "retry_exponential_backoff": "backoff",
    "max_retry_delay": "max_delay",
    "retry_jitter_factor": "jitter",
    "cache_expiration": "cache_ttl",
    "cache_key_fn": "cache_key",
    "on_failure_callback": "on_failure",
    "on_success_callback": "on_success",
    "on_retry_callback": "on_retry",
}


def _unknown_options(options: Mapping[str, Any], *, exclude: Iterable[str] = ()) -> str | None:
    """``unknown option 'x' (did you mean "y"?); known options are ...``, or None if all are known."""

    known = {f.name for f in dataclasses.fields(TaskOptions)} - {"name", *exclude}
    unknown = sorted(set(options) - known)
    if not unknown:
        return None
    hint = {
        u: f' (did you mean "{_FOREIGN[u]}"?)' if u in _FOREIGN else did_you_mean(u, known) for u in unknown
    }
    listed = ", ".join(f"{u!r}{hint[u]}" for u in unknown)
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown option{plural} {listed}; known options are {', '.join(sorted(known))}"


def check_defaults(defaults: Any, *, owner: str, location: str) -> dict[str, Any]:
    """A pipeline's ``task_defaults`` checked and normalised as ``@task`` options are.

    Args:
        defaults: option name to value (``{"retries": 2, "retry_delay": 300}``), or None.
        owner: ``pipeline NAME at FILE:LINE``, the start of every message.
        location: ``FILE:LINE`` of the pipeline, for the error.

    Raises:
        DefinitionError: not a dict, an unknown option (with the closest name), or a bad value.
    """
    if defaults is None:
        return {}
    if not isinstance(defaults, Mapping):
        raise DefinitionError(
            f"{owner}: task_defaults must be a dict of @task options, got {type(defaults).__name__}.",
            location=location,
        )
    unknown = _unknown_options(defaults)
    if unknown:
        raise DefinitionError(f"{owner}: task_defaults has an {unknown}.", location=location)
    normalized = _canonical(defaults, f"{owner}: task_defaults", task=None, location=location)
    problems = _option_problems(TaskOptions(name="defaults", **normalized))
    if problems:
        raise DefinitionError(f"{owner}: task_defaults {'; '.join(problems)}.", location=location)
    return normalized


def _check_options(opts: TaskOptions, fn: Callable[..., Any]) -> None:
    """Reject option values that could only fail later, naming task and line."""
    problems = _option_problems(opts)
    if problems:
        raise DefinitionError(
            f"@task {opts.name} at {definition_location(fn)}: {'; '.join(problems)}.",
            task=opts.name,
            location=definition_location(fn),
        )


def _option_problems(opts: TaskOptions) -> list[str]:
    """What is wrong with option values, one phrase each."""
    problems = []
    if not _NAME.fullmatch(opts.name):
        problems.append(
            f"name {opts.name!r} must be 1-200 characters without '/' or NUL and not start with '.' "
            "(it names log files)"
        )
    # True and False are ints to Python, not counts or durations to a user (retries=True was one retry)
    for label in ("retries", "infra_retries"):
        value = getattr(opts, label)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{label} must be an integer >= 0, got {value!r}")
    for label in ("retry_delay", "jitter"):
        value = getattr(opts, label)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"{label} must be a number >= 0, got {value!r}")
    if isinstance(opts.backoff, bool) or not isinstance(opts.backoff, int | float) or opts.backoff < 1:
        problems.append(f"backoff must be a number >= 1, got {opts.backoff!r}")
    for label in ("max_delay", "timeout", "cache_ttl"):
        value = getattr(opts, label)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            problems.append(f"{label} must be a number > 0, got {value!r}")
    if opts.retry_on is not None and not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in opts.retry_on
    ):
        problems.append(f"retry_on must be exception types, got {opts.retry_on!r}")
    for label in ("description", "owner"):
        value = getattr(opts, label)
        if value is not None and not isinstance(value, str):
            problems.append(f"{label} must be text, got {value!r}")
    for label in _HOOKS:
        if not all(callable(hook) for hook in getattr(opts, label)):
            problems.append(f"{label} must be a function taking a suiro.HookContext, or a list of them")
    if not isinstance(opts.allow_failure, bool):
        problems.append(f"allow_failure must be True or False, got {opts.allow_failure!r}")
    if not all(isinstance(tag, str) for tag in opts.tags):
        problems.append(f"tags must be text, got {sorted(map(repr, opts.tags))}")
    problems.extend(resource_problems(opts.resources))
    return problems


def definition_location(fn: Callable[..., Any]) -> str:
    """``file:line`` where a function is defined (for errors about a task or pipeline definition)."""
    code = getattr(fn, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else "<unknown>"


def _caller_location() -> str:
    """``file:line`` of the user code that called the task (two frames up)."""
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _map_eagerly(task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """``task.map`` outside a pipeline: a plain loop with the same argument rules."""
    from suiro.mapping import split_mapped

    calls = split_mapped(task.name, args, kwargs)
    return [task.fn(*a, **k) for a, k in calls]
