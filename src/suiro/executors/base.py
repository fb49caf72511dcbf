"""The executor interface: run one attempt of one task, return its ``Outcome``.

Executors run callables and nothing else: they never touch the graph, the
runner's state or the store. Every future they return resolves to an ``Outcome``
(never raises): a task's exception, a timeout or a dead worker is an outcome too,
so the runner has one path for every ending.
"""

from __future__ import annotations

import os
import time
import traceback
import types
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from suiro import files
from suiro.context import Capture, TaskContext, task_scope
from suiro.errors import SensorNotReady, TaskTimeoutError
from suiro.events import ErrorInfo, Poke
from suiro.files import File
from suiro.labels import task_label
from suiro.runinfo import RunInfo
from suiro.secrets import mask


@dataclass(frozen=True, slots=True, kw_only=True)
class Work:
    """One attempt of one task (or mapped item), with everything needed to run it anywhere."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: The run the attempt belongs to (its id, resume chain and home, told to the task).
    run: RunInfo
    task_key: str
    attempt: int
    map_index: int = -1
    timeout: float | None = None
    retry_on: tuple[type[BaseException], ...] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Where the attempt's lines are written, line by line (None: kept in memory only).
    log_path: str | None = None
    #: Called with the return value where the task ran (e.g. to write its artifact);
    #: what it returns travels back as ``Outcome.artifact``.
    finalize: Callable[[Any, str | None], Any] | None = None
    serializer: str | None = None
    #: The task's ``Output[...]`` parameters, name -> kind: suiro fills them (``suiro.files``).
    outputs: Mapping[str, str] = field(default_factory=dict)
    #: The task's ``resources`` (``cpu``, ``gpu``, ``memory``): what a cluster's worker must offer.
    resources: Mapping[str, Any] = field(default_factory=dict)

    def context(self) -> TaskContext:
        """The task context the callable sees through ``suiro.context()``."""
        run = self.run  # positional: once per attempt, where the task runs (40 ns per keyword)
        return TaskContext(
            run.run_id,
            self.task_key,
            self.attempt,
            self.map_index,
            self.params,
            run.home,
            run.root_run_id,
            run.scheduled,
            run.db_url,
            run.artifacts,
        )

    def label(self) -> str:
        """``task`` or ``task[i]`` for messages."""
        return task_label(self.task_key, self.map_index)


@dataclass(frozen=True, slots=True)
class Deferred:
    """An argument the attempt loads where it runs: ``load`` is picklable and called there.

    The runner passes a large stored output this way to a worker process, which reads it from
    the artifact store itself, instead of loading it and pickling it across.
    """

    load: Callable[[], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How an attempt ended: a value, or an error; the lines it wrote; its duration.

    ``stored``: the value stayed in the worker process that wrote it as ``artifact`` and is
    not in ``value``; whoever needs it loads it from there.
    """

    value: Any = None
    error: ErrorInfo | None = None
    lines: tuple[str, ...] = ()
    duration: float = 0.0
    artifact: Any = None
    metrics: tuple[tuple[str, float, int | None, float], ...] = ()
    stored: bool = False

    @property
    def ok(self) -> bool:
        """True when the attempt returned a value."""
        return self.error is None


class Executor(Protocol):
    """Runs attempts; ``workers`` is how many it runs at once.

    ``submit`` and ``shutdown`` are what every executor must do. The rest are capabilities with
    defaults here, so an executor that subclasses ``Executor`` declares only what it does
    differently, and the runner asks for them by name, never with ``getattr``:

    - ``remote``: attempts run in other processes. The runner then passes stored inputs as
      ``Deferred`` loads, and outcomes may be ``stored`` (the value stayed in the worker).
    - ``runs_inline``: ``submit`` itself runs the attempt in the caller's thread, so only a
      stop request raised into that thread can interrupt it (see ``Cancellation.interruptible``).
    - ``run_here(work)``: run the attempt in the caller's thread and return its outcome, or None
      to have it submitted. The runner asks only when that attempt is all it could do until it
      ends (see ``ThreadExecutor.run_here``), and never an executor that ``runs_inline``.
    - ``cancel()``, called from any thread when the run is cancelled: kill the worker processes
      now, drop attempts not yet started, and stop waiting for threads; outcomes that come after
      it are ignored. After ``cancel`` the executor runs nothing more.

    Every executor must pass ``tests/integration/test_executor_conformance.py``.
    """

    name: str
    workers: int
    remote: bool = False
    runs_inline: bool = False

    def submit(self, work: Work) -> Future[Outcome]:
        """Start ``work``; the future resolves to its ``Outcome`` (it never raises)."""
        ...

    def shutdown(self) -> None:
        """Stop worker threads/processes; running attempts are stopped or awaited."""
        ...

    def run_here(self, work: Work) -> Outcome | None:
        """Run ``work`` in the calling thread, or return None (the default): then it is submitted."""
        return None

    def cancel(self) -> None:
        """Kill what runs and drop what waits (the default: nothing to kill)."""
        return None


def execute(work: Work) -> Outcome:
    """Run one attempt here, in this thread: context set, output captured, errors kept.

    A process the task forked that comes back here (its function returned, raised or called
    ``sys.exit`` in the child) ends at once: only the process that started the attempt
    reports it (see ``_end_forked_child``).
    """
    capture = Capture(work.log_path)
    start = time.perf_counter()
    try:
        args, kwargs = _load_deferred(work)
    except Exception as exc:
        return Outcome(
            error=input_error(work, exc), lines=capture.close(), duration=time.perf_counter() - start
        )
    try:
        value = _call(work, capture, args, kwargs)
        if work.outputs or isinstance(value, File):
            value = files.returned(value, work.label()) if isinstance(value, File) else value
            produced = value
            artifact = work.finalize(value, work.serializer) if work.finalize is not None else None
            value = produced.result if work.finalize is not None else produced.unstored()
        else:
            artifact = work.finalize(value, work.serializer) if work.finalize is not None else None
    except KeyboardInterrupt:  # Ctrl-C, or a cancel reaching a task in the runner's thread
        capture.close()
        raise
    except BaseException as exc:  # every task error, sys.exit() included, becomes an outcome
        return Outcome(
            error=error_info(exc, retry_on=work.retry_on),
            lines=capture.close(),
            duration=time.perf_counter() - start,
            metrics=tuple(capture.metrics),
        )
    return Outcome(
        value=value,
        lines=capture.close(),
        duration=time.perf_counter() - start,
        artifact=artifact,
        metrics=tuple(capture.metrics),
    )


def _call(work: Work, capture: Capture, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call the task's function in its context; a process it forked never gets past here."""
    pid = os.getpid()
    try:
        with task_scope(work.context(), capture):
            if work.outputs:
                value = files.call(work.fn, work.outputs, args, kwargs, work.label())
            else:
                value = work.fn(*args, **kwargs)
            if isinstance(value, types.CoroutineType):  # an ``async def`` task: awaited here
                from suiro.executors.awaiting import await_here

                value = await_here(value)
    except BaseException as exc:
        if os.getpid() != pid:
            _end_forked_child(capture, exc)
        raise
    if os.getpid() != pid:
        _end_forked_child(capture, None)
    return value


def _load_deferred(work: Work) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The attempt's arguments, with every ``Deferred`` one loaded here."""
    if not _has_deferred(work.args) and not _has_deferred(work.kwargs.values()):
        return work.args, work.kwargs
    args = tuple(v.load() if isinstance(v, Deferred) else v for v in work.args)
    kwargs = {k: v.load() if isinstance(v, Deferred) else v for k, v in work.kwargs.items()}
    return args, kwargs


def _has_deferred(values: Iterable[Any]) -> bool:
    """Whether one of ``values`` is ``Deferred``: a plain loop, 3x faster than ``any`` over a
    generator, since every attempt asks."""
    for value in values:  # noqa: SIM110
        if isinstance(value, Deferred):
            return True
    return False


def input_error(work: Work, exc: BaseException) -> ErrorInfo:
    """The error of an attempt whose input could not be loaded (e.g. corrupt): not retried,
    as when the runner fails to load it."""
    info = error_info(exc, retry_on=())
    message = f"task {work.label()} could not get its inputs: {info}"
    return ErrorInfo(type=info.type, message=message, traceback=info.traceback, retryable=False)


def _end_forked_child(capture: Capture, exc: BaseException | None) -> NoReturn:
    """End a process forked by a task that came back into suiro, as ``multiprocessing`` ends its children.

    It is a copy of whatever ran the attempt (on the sequential and threads executors, of the
    runner itself): were it to go on, its outcome would be taken for the attempt's and the copy
    would run the rest of the pipeline and record the run. So it reports nothing and leaves with
    ``os._exit``: no ``atexit`` handler, no inherited buffer or database connection is flushed or
    closed. Its exit status tells its parent what happened: 0 when the function returned or called
    ``sys.exit()``/``sys.exit(0)``, the ``SystemExit`` code, or 1 after an exception, whose
    traceback goes to the attempt's log with what the child printed.
    """
    code = 0
    try:
        if isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if not isinstance(exc.code, int) and exc.code is not None:
                capture.write("stderr", f"{exc.code}\n")
        elif exc is not None:
            code = 1
            capture.write("stderr", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        capture.close()
    except BaseException:
        code = code or 1
    finally:
        os._exit(code)


def error_info(exc: BaseException, *, retry_on: tuple[type[BaseException], ...] | None) -> ErrorInfo:
    """Reduce an exception to a picklable record, deciding now whether it may be retried.

    A sensor's ``SensorNotReady`` is no failure: its record carries how the sensor waits (``poke``)
    and no traceback.
    """
    if isinstance(exc, SensorNotReady):
        poke = Poke(float(exc.poke_interval), float(exc.timeout), bool(exc.soft_fail))
        return ErrorInfo(type=_qualified(type(exc)), message=mask(str(exc)), traceback="", poke=poke)
    tb = mask("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    retryable = retry_on is None or isinstance(exc, retry_on)
    return ErrorInfo(type=_qualified(type(exc)), message=mask(str(exc)), traceback=tb, retryable=retryable)


def timeout_outcome(work: Work, duration: float) -> Outcome:
    """The outcome of an attempt stopped at its timeout."""
    exc = TaskTimeoutError(
        f"task {work.label()} ran past its timeout of {work.timeout:g} s and was stopped; "
        "raise timeout= or make the task faster."
    )
    info = error_info(exc, retry_on=work.retry_on)
    return Outcome(
        error=ErrorInfo(type=info.type, message=info.message, traceback="", retryable=info.retryable),
        duration=duration,
    )


def cancelled_outcome(work: Work) -> Outcome:
    """The outcome of an attempt that was not run, or not waited for, because its run was cancelled."""
    message = f"the run was cancelled before task {work.label()} ended; resume it to run the task."
    return Outcome(error=cancelled_error(message))


def cancelled_error(message: str) -> ErrorInfo:
    """The error of an attempt ended by its run's cancel (never retried; ``resume`` runs it again)."""
    return ErrorInfo(type="suiro.errors.RunCancelledError", message=message, traceback="", retryable=False)


def unpicklable_error(work: Work, exc: Exception, what: str = "function or arguments") -> ErrorInfo:
    """The error of an attempt whose work or output cannot cross to/from a worker process."""
    return ErrorInfo(
        type="suiro.errors.SuiroError",
        message=(
            f"the {what} of task {work.label()} cannot be pickled to cross between processes "
            f"({type(exc).__name__}: {exc}); return plain data, or use --executor threads."
        ),
        traceback="",
        retryable=False,
    )


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def done_future(outcome: Outcome) -> Future[Outcome]:
    """A future that already holds ``outcome``."""
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future
