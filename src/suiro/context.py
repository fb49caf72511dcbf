"""What a running task can ask about itself, and where its output lines go.

Owns the task context (``suiro.context()``), the tagged logger (``suiro.get_logger()``)
and the per-attempt capture of stdout, stderr and log records. Executors set the
context around each call; nothing here knows about graphs, runners or storage.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from suiro.errors import SuiroError
from suiro.labels import task_label
from suiro.secrets import mask


@dataclass(frozen=True, slots=True)
class TaskContext:
    """Who is running: the run, the task (and mapped item), the attempt, the parameters, the home.

    ``task_run_key`` is stable across attempts and resumes of the same task in the
    same run, so tasks can use it as an idempotency key when writing elsewhere.
    """

    run_id: str
    task_key: str
    attempt: int
    map_index: int = -1
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The suiro home the run records into (None for a run kept in memory).
    home: str | None = None
    #: The first run of a chain of resumes (None: this run is the first).
    root_run_id: str | None = None
    #: The deployment and logical time of a scheduled run (a ``suiro.runinfo.Scheduled``; None
    #: for a run started by hand).
    scheduled: Any = None
    #: The database the run records into, without its password (and not shown in the repr).
    db_url: str | None = field(default=None, repr=False)
    #: Where the run's outputs are stored: a folder or an object-store URL.
    artifacts: str | None = None

    @property
    def deployment(self) -> str | None:
        """The deployment that started this run (None: started by hand)."""
        return self.scheduled.deployment if self.scheduled is not None else None

    @property
    def logical_time(self) -> datetime | None:
        """The tick this run is for, in the deployment's time zone (None: started by hand).

        A backfilled or caught-up run sees the tick it stands for, not the time it runs.
        """
        return self._local(self.scheduled.logical_time) if self.scheduled is not None else None

    @property
    def interval_start(self) -> datetime | None:
        """Start of the run's data interval (the previous tick), as Airflow's ``data_interval_start``."""
        return self._local(self.scheduled.interval_start) if self.scheduled is not None else None

    @property
    def interval_end(self) -> datetime | None:
        """End of the run's data interval (the tick), as Airflow's ``data_interval_end``."""
        return self._local(self.scheduled.interval_end) if self.scheduled is not None else None

    def _local(self, epoch: float | None) -> datetime | None:
        if epoch is None:
            return None
        from zoneinfo import ZoneInfo

        return datetime.fromtimestamp(epoch, ZoneInfo(self.scheduled.timezone))

    @property
    def task_run_key(self) -> str:
        """``run/task[index]``: the same for every attempt, in this run and in its resumes.

        A task may run again after a crash (at least once); use this key to make what it
        writes elsewhere idempotent.
        """
        return f"{self.root_run_id or self.run_id}/{task_label(self.task_key, self.map_index)}"


_context: ContextVar[TaskContext | None] = ContextVar("suiro_task_context", default=None)
_capture: ContextVar[Capture | None] = ContextVar("suiro_capture", default=None)


def context() -> TaskContext:
    """The context of the task that is running now.

    Raises:
        SuiroError: when called outside a task run by suiro.
    """
    ctx = _context.get()
    if ctx is None:
        raise SuiroError("suiro.context() was called outside a running task; call it inside a @task body.")
    return ctx


def current_context() -> TaskContext | None:
    """The running task's context, or None outside a task (for code that runs in both)."""
    return _context.get()


def run_home(home: str | Path | None = None) -> str | Path | None:
    """``home`` if given, else the home the running task's run records into (None outside a task).

    For the calls above the store (registry, history, ``run``): inside a task, even in a worker
    process, what it reads, registers or runs lands beside its run. The store itself never asks
    the context; given None it takes ``$SUIRO_HOME``.
    """
    if home is not None:
        return home
    ctx = _context.get()
    return ctx.home if ctx is not None and ctx.home else None


def run_locations(home: str | Path | None = None) -> tuple[str | Path | None, str | None, str | None]:
    """``(home, database URL, artifacts location)`` for a call above the store, as ``run_home``.

    Inside a task (and no ``home`` given) the run's own three, so the registry a task uses on a
    Dask worker of another machine is the run's PostgreSQL and bucket, not a home of the worker's;
    otherwise ``(home, None, None)``: the store takes ``$SUIRO_DB`` and ``$SUIRO_ARTIFACTS``.
    """
    if home is not None:
        return home, None, None
    ctx = _context.get()
    if ctx is None or not ctx.home:
        return None, None, None
    return ctx.home, ctx.db_url, ctx.artifacts


def get_logger() -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose records go to the running task's log, tagged with run, task and attempt."""
    ctx = _context.get()
    extra = {"run_id": ctx.run_id, "task": ctx.task_key, "attempt": ctx.attempt} if ctx else {}
    return logging.LoggerAdapter(_task_logger(), extra)


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a metric of the running task (kept with the run, shown by ``suiro metrics``).

    Outside a running task (a task called as a plain function, as a unit test does) the value is
    checked and not recorded: a task stays a function that runs anywhere.

    Raises:
        SuiroError: ``value`` is not a number.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SuiroError(f"metric {name!r} must be a number, got {value!r}; log a float or an int.") from None
    capture = _capture.get()
    if capture is None or _context.get() is None:
        return
    capture.metrics.append((mask(str(name)), number, None if step is None else int(step), time.time()))


class Capture:
    """The lines one task attempt writes, kept in order and, if asked, in a file.

    The file is written line by line and flushed, so lines printed before a crash
    survive it.
    """

    def __init__(self, log_path: str | None = None):
        self.lines: list[str] = []
        self.metrics: list[tuple[str, float, int | None, float]] = []
        self._partial: dict[str, str] = {}
        self._path = log_path
        self._file: TextIO | None = None

    def write(self, stream: str, text: str) -> None:
        """Add text from ``stream``; complete lines are kept, a trailing part waits."""
        text = self._partial.pop(stream, "") + text
        *complete, rest = text.split("\n")
        for line in complete:
            self.add_line(line if stream == "stdout" else f"[{stream}] {line}")
        if rest:
            self._partial[stream] = rest

    def add_line(self, line: str) -> None:
        """Keep one complete line (secrets masked)."""
        line = mask(line)
        self.lines.append(line)
        if self._path is not None:
            if self._file is None:  # opened on the first line: silent attempts leave no file
                self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> tuple[str, ...]:
        """Flush unfinished lines, close the file, and return every line."""
        for stream, rest in list(self._partial.items()):
            self.write(stream, rest + "\n")
        if self._file is not None:
            self._file.close()
        return tuple(self.lines)


def task_scope(ctx: TaskContext, capture: Capture) -> TaskScope:
    """Make ``ctx`` current and send this thread's task output to ``capture``, in a ``with`` block."""
    return TaskScope(ctx, capture)


class TaskScope:
    """The ``with`` block of ``task_scope``: a class, not ``@contextmanager``, since every attempt
    enters one (a generator-based one costs about 0.7 µs more each time)."""

    __slots__ = ("_cap_token", "_capture", "_ctx", "_ctx_token")

    def __init__(self, ctx: TaskContext, capture: Capture):
        self._ctx = ctx
        self._capture = capture

    def __enter__(self) -> None:
        self._ctx_token = _context.set(self._ctx)
        self._cap_token = _capture.set(self._capture)

    def __exit__(self, *exc: object) -> None:
        _capture.reset(self._cap_token)
        _context.reset(self._ctx_token)


class _StreamRouter(io.TextIOBase):
    """Stands in for sys.stdout/stderr: task threads write to their capture, others pass through."""

    def __init__(self, fallback: TextIO, name: str):
        self.fallback = fallback
        self.name = name

    def write(self, text: str) -> int:
        capture = _capture.get()
        if capture is None:
            return self.fallback.write(text)
        capture.write(self.name, text)
        return len(text)

    def flush(self) -> None:
        if _capture.get() is None:
            self.fallback.flush()

    def isatty(self) -> bool:
        return False if _capture.get() is not None else self.fallback.isatty()

    def fileno(self) -> int:
        return self.fallback.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.fallback, "encoding", "utf-8")


@contextmanager
def routed_streams() -> Iterator[None]:
    """Route sys.stdout/stderr through the capture for the duration of a run.

    Nested use (a task that runs a pipeline) keeps the outer routing.
    """
    if isinstance(sys.stdout, _StreamRouter):
        yield
        return
    saved = sys.stdout, sys.stderr
    sys.stdout = _StreamRouter(saved[0], "stdout")  # type: ignore[assignment]
    sys.stderr = _StreamRouter(saved[1], "stderr")  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class _CaptureHandler(logging.Handler):
    """Sends task log records to the running attempt's capture, else to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _capture.get()
        line = f"{record.levelname} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        if capture is None:
            sys.stderr.write(line + "\n")
        else:
            for part in line.split("\n"):
                capture.add_line(part)


def _task_logger() -> logging.Logger:
    logger = logging.getLogger("suiro.task")
    if not any(isinstance(h, _CaptureHandler) for h in logger.handlers):
        logger.addHandler(_CaptureHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
