"""The run recorder: a ``RunObserver`` that writes every event to the database.

Writes are group-committed: events are buffered in memory and a background thread
commits them every ``interval`` seconds in one short transaction, so recording
costs microseconds per task while SQLite stays ``synchronous=FULL``; with ``quiet``
set it also commits as soon as no event has come for that long (a longer task is
running, wherever it runs). A batch is written in a few statements (``Tx.insert_rows``), and
once it is ``LAG`` intervals old the thread adding events waits for its commit, so the bound
holds while the runner keeps the GIL busy. The run row is written at once when the run starts and
ends. A crash loses at most the last ``LAG`` intervals of records and the commit under way
(the last moment before a quiet spell), never the consistency of what was committed: an output's
artifact is durable before the row that points to it (the worker fsyncs it before
the success event exists). The cache index is the exception to "every batch": finished outputs
are listed in it in bulk, in key order, every ``cache_index.LIST_EVERY`` seconds or
``LIST_SIZE`` tasks and at the run's end (see ``suiro.store.cache_index``). Knows no graph or
runner: only events.

Fencing: every batch first renews the run's heartbeat with a compare-and-set on
``state = 'running'``. A process that was paused long enough for the reaper to declare
its run crashed (and for the run to be resumed elsewhere) finds the set refused when it
comes back: the batch is rolled back, the run is marked as fenced, and the runner stops
at its next event. Its late work can never overwrite the verdict or the resumed run.

A forced stop (a second Ctrl-C) ends the record from another thread with ``finish_now``:
what is buffered and the ``cancelled`` state are written, attempts still open end ``failed``,
and every later event is dropped.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any

from suiro import clock, collector, envvar, graphrecord
from suiro.annotations import to_plain
from suiro.errors import (
    DatabaseDamagedError,
    ResumeConflictError,
    RunCancelledError,
    RunFencedError,
    StoreError,
)
from suiro.events import (
    Event,
    MetricLogged,
    RunFinished,
    RunGraph,
    RunStarted,
    TaskKeyed,
    TaskMapped,
    TaskOutput,
    TaskStateChanged,
)
from suiro.labels import type_name
from suiro.secrets import mask, mask_values
from suiro.states import RunState, TaskState
from suiro.store import cache_index, queries
from suiro.store.artifacts import ArtifactMeta
from suiro.store.db import Database, this_host
from suiro.store.outputs import ARTIFACT_COLUMNS, ARTIFACT_KEEP, artifact_row, kept_on_row
from suiro.store.reaper import fail_unfinished

#: Seconds between group commits, unless ``SUIRO_FLUSH_INTERVAL`` says otherwise.
FLUSH_INTERVAL = 0.05
#: Seconds between heartbeats written for a running run.
HEARTBEAT_INTERVAL = 2.0
#: Seconds without a new event after which a run's recorder commits what it holds.
QUIET = 0.005
#: How many intervals old a batch may grow before the thread adding to it waits for its commit.
LAG = 2
_TASK_COLUMNS = (
    "run_id",
    "task_key",
    "map_index",
    "state",
    "attempts",
    "started",
    "ended",
    "duration",
    "map_size",
    "cache_key",
    "cache_parts",
    "output_digest",
    "cached_from",
    "output_kind",
    "output_inline",
)
#: A batch's row for a task run holds only what its events said: what it leaves NULL (an output or a
#: cache key recorded alone) keeps its recorded value, and attempts never go back. A row whose events
#: said no state is inserted ``pending`` and keeps its recorded state (``_KEEP_STATE``).
_MERGE_TASK = """ON CONFLICT (run_id, task_key, map_index) DO UPDATE SET
    attempts = CASE WHEN task_runs.attempts > excluded.attempts THEN task_runs.attempts
                    ELSE excluded.attempts END,
    started = COALESCE(task_runs.started, excluded.started),
    ended = COALESCE(excluded.ended, task_runs.ended),
    duration = COALESCE(excluded.duration, task_runs.duration),
    map_size = COALESCE(excluded.map_size, task_runs.map_size),
    cache_key = COALESCE(excluded.cache_key, task_runs.cache_key),
    cache_parts = COALESCE(excluded.cache_parts, task_runs.cache_parts),
    output_digest = COALESCE(excluded.output_digest, task_runs.output_digest),
    cached_from = COALESCE(excluded.cached_from, task_runs.cached_from),
    output_kind = COALESCE(excluded.output_kind, task_runs.output_kind),
    output_inline = COALESCE(excluded.output_inline, task_runs.output_inline)"""
_SET_STATE = _MERGE_TASK + ", state = excluded.state"
_KEEP_STATE = _MERGE_TASK
_ATTEMPT_COLUMNS = (
    "run_id",
    "task_key",
    "map_index",
    "attempt",
    "state",
    "ended",
    "duration",
    "error_type",
    "error_message",
    "traceback",
    "log_path",
)
_MERGE_ATTEMPT = """ON CONFLICT (run_id, task_key, map_index, attempt) DO UPDATE SET
    state = excluded.state, ended = excluded.ended, duration = excluded.duration,
    error_type = excluded.error_type, error_message = excluded.error_message,
    traceback = excluded.traceback, log_path = excluded.log_path"""
_INSERT_METRIC = """
INSERT INTO metrics (run_id, task_key, map_index, name, value, step, time)
VALUES (:run_id, :task_key, :map_index, :name, :value, :step, :time)
"""
#: The states of a task run that are also an attempt's (started, retried, ended; ``skipped``: a
#: sensor's last poke when it gave up with ``soft_fail``).
_ATTEMPT_STATES = frozenset(
    {TaskState.RUNNING, TaskState.RETRYING, TaskState.FAILED, TaskState.SUCCESS, TaskState.SKIPPED}
)


class Recorder:
    """Records one run's events in the database (and keeps the run's heartbeat).

    Args:
        db: where to write.
        interval: seconds between group commits (None: ``$SUIRO_FLUSH_INTERVAL``, else
            ``FLUSH_INTERVAL``).
        quiet: if set, also commit once events are buffered and none has come for this
            many seconds: what finished is durable moments after a longer task starts,
            even when the runner runs that task itself and so never waits for it. None
            (for tests that count transactions): commit only every ``interval``.
    """

    def __init__(
        self,
        db: Database,
        *,
        interval: float | None = None,
        quiet: float | None = None,
    ):
        self.db = db
        self.interval = (
            interval
            if interval is not None
            else envvar.seconds(envvar.FLUSH_INTERVAL, FLUSH_INTERVAL, envvar.FLUSH_BOUNDS)
        )
        self.quiet = quiet
        self._buffer: list[Event] = []
        self._lock = threading.Lock()
        self._committed = threading.Condition(self._lock)  # a batch ended
        self._batches = 0  # batches ended so far (written, or failed)
        self._opened = 0.0  # when the buffered batch got its first event (time.monotonic)
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._arrived = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._run_id = ""
        self._finished = False  # the run's end is buffered or written: later events are dropped
        self._last_beat = 0.0
        self._holding = False  # between the run's start and its end: see ``suiro.collector``
        #: The cache index is written in bulk (``suiro.store.cache_index``): the key prefixes of task
        #: runs keyed and not yet ended, and the finished task runs not yet listed (since ``_since``).
        self._keys: dict[tuple[str, int], int] = {}
        self._unlisted: list[tuple[int, str, int]] = []
        self._since = 0.0

    def notify(self, event: Event) -> None:
        """Buffer an event; the run's first and last events are written at once."""
        if self._error is not None:
            self._release()  # the run stops here; the collector must not stay held
            raise self._failure()
        if self._finished:
            return  # ended by ``finish_now``: the runner goes on briefly, unrecorded
        if isinstance(event, RunStarted):
            self._start(event)
            return
        if isinstance(event, RunGraph):
            self._regraph(event)
            return
        now = time.monotonic()
        with self._lock:
            if self._finished:
                return
            self._buffer.append(event)
            self._finished = isinstance(event, RunFinished)
            first = len(self._buffer) == 1
            if first:
                self._opened = now
            lagging = now - self._opened > LAG * self.interval
        if first and self.quiet is not None:
            self._arrived.set()  # once per batch: the recorder thread starts watching for quiet
        if isinstance(event, RunFinished):
            self.close()
        elif lagging:
            self._wait_for_commit()

    def _wait_for_commit(self) -> None:
        """Wait until the recorder thread has written a batch: backpressure on the thread adding events.

        Why: the recorder thread needs the GIL for its Python work and gets it back after each SQLite
        statement; while the runner runs Python without pause (a chain of small tasks it runs itself)
        and lets the GIL go only for moments (a cache look-up per task), CPython hands it back to the
        runner nearly every time. A 10,000-task chain's recorder then wrote once in two seconds, each
        batch bigger and slower than the last, and a 100,000-task chain was committed only at its end:
        a crash would have lost all of it. Waiting here lets the GIL go for the commit, so what was
        recorded is durable within about ``LAG`` intervals, and the buffer stays small.
        """
        with self._committed:
            seen = self._batches
            self._committed.wait_for(
                lambda: self._batches != seen or self._error is not None or self._stop.is_set()
            )

    def _start(self, event: RunStarted) -> None:
        self._run_id = event.run_id
        graph = json.dumps(event.graph, sort_keys=True)
        from suiro.cache import digest

        graph_digest = digest(graph)
        try:
            self._insert_run(event, graph, graph_digest)
        except ResumeConflictError:
            parent = event.parent_run_id or ""
            raise ResumeConflictError(
                queries.resume_conflict(self.db, parent) or f"run {parent} is being resumed; try again."
            ) from None
        self._thread = threading.Thread(target=self._loop, name="suiro-recorder", daemon=True)
        self._thread.start()
        collector.hold()
        self._holding = True

    def _release(self) -> None:
        """End this run's hold on the garbage collector (once)."""
        with self._lock:
            holding, self._holding = self._holding, False
        if holding:
            collector.release()

    def _regraph(self, event: RunGraph) -> None:
        """A dynamic run's graph, known at its end, replaces the empty one it started with."""
        graph = json.dumps(event.graph, sort_keys=True)
        from suiro.cache import digest

        with self.db.write() as tx:
            tx.execute(
                "INSERT INTO pipelines (name, code_digest, graph, created)"
                " VALUES (:name, :digest, :graph, :now) ON CONFLICT (name, code_digest) DO NOTHING",
                {"name": event.graph["name"], "digest": digest(graph), "graph": graph, "now": clock.now()},
            )
            tx.execute(
                "UPDATE runs SET pipeline_id = (SELECT id FROM pipelines WHERE name = :name"
                " AND code_digest = :digest) WHERE id = :id",
                {"name": event.graph["name"], "digest": digest(graph), "id": event.run_id},
            )

    def _insert_run(self, event: RunStarted, graph: str, graph_digest: str) -> None:
        with self.db.write() as tx:
            known = tx.query(
                "SELECT 1 AS known FROM pipelines WHERE name = :name AND code_digest = :digest",
                {"name": event.pipeline, "digest": graph_digest},
            )
            if not known:  # a graph is written once (a 1,000,000-task chain's is 30 MB of JSON)
                tx.execute(
                    "INSERT INTO pipelines (name, code_digest, graph, created)"
                    " VALUES (:name, :digest, :graph, :now) ON CONFLICT (name, code_digest) DO NOTHING",
                    {"name": event.pipeline, "digest": graph_digest, "graph": graph, "now": event.time},
                )
            if event.parent_run_id is not None:
                # Lock the resumed run's row (PostgreSQL; SQLite's write lock already serializes),
                # so two resumes of it cannot both see "no live resume" and both start.
                tx.execute("UPDATE runs SET id = id WHERE id = :id", {"id": event.parent_run_id})
            inserted = tx.execute(
                "INSERT INTO runs (id, pipeline_id, pipeline, target, params, state, started, host, pid,"
                " heartbeat, parent_run_id, executor, deployment, logical_time, interval_start, interval_end,"
                ' "trigger", timezone) SELECT :id, (SELECT id FROM pipelines'
                " WHERE name = :pipeline AND code_digest = :digest), :pipeline, :target, :params, 'running',"
                " :started, :host, :pid, :started, :parent, :executor, :deployment, :logical_time,"
                " :interval_start, :interval_end, :trigger, :timezone"
                # One resume of a run at a time, and none once a resume of it succeeded.
                " WHERE CAST(:parent AS TEXT) IS NULL OR NOT EXISTS (SELECT 1 FROM runs"
                " WHERE parent_run_id = :parent AND state IN ('running', 'success'))",
                {
                    "id": event.run_id,
                    "pipeline": event.pipeline,
                    "digest": graph_digest,
                    "target": event.target,
                    # A dataclass or pydantic parameter as a dict, so a resume can validate it again.
                    "params": mask(json.dumps(mask_values(to_plain(event.params)), default=repr)),
                    "started": event.time,
                    "host": this_host(),
                    "pid": os.getpid(),
                    "parent": event.parent_run_id,
                    "executor": event.executor,
                    **_scheduled_columns(event.scheduled),
                },
            )
            if not inserted:
                raise ResumeConflictError(event.parent_run_id)  # rolls the transaction back
            tx.insert_rows(
                "task_runs",
                ("run_id", "task_key", "state", "attempts"),
                [
                    {"run_id": event.run_id, "task_key": key, "state": "pending", "attempts": 0}
                    for key in graphrecord.node_keys(event.graph)
                ],
                "ON CONFLICT DO NOTHING",  # no row is there yet: only a padding repeat meets its copy
            )

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._wait(time.monotonic() + self.interval)
                try:
                    self.flush()
                except BaseException as exc:  # surfaced to the runner on its next event
                    self._error = exc
                    return
        finally:
            self.db.close_thread()

    def _wait(self, due: float) -> None:
        """Return at ``due``, at close, or (with ``quiet``) once buffered events stopped coming.

        Sleeps while nothing is buffered (the first event of a batch wakes it); while events
        keep coming it looks every ``quiet`` seconds, so a busy run still commits per interval.
        """
        if self.quiet is None:
            self._wake.wait(max(due - time.monotonic(), 0.0))
            return
        while not self._stop.is_set() and (left := due - time.monotonic()) > 0:
            if not self._buffer:
                self._arrived.clear()
                if not self._buffer:  # checked again after clear: an event in between set it anew
                    self._arrived.wait(left)
                continue
            size = len(self._buffer)
            self._wake.wait(min(self.quiet, left))
            if len(self._buffer) == size:
                return  # quiet: nothing new for ``quiet`` seconds

    def flush(self) -> None:
        """Write everything buffered so far in one transaction (batches commit in order)."""
        with self._flush_lock:
            self._flush()

    def _flush(self) -> None:
        try:
            self._flush_buffered()
        finally:
            with self._committed:
                self._batches += 1
                self._committed.notify_all()

    def _flush_buffered(self) -> None:
        with self._lock:
            events, self._buffer = self._buffer, []
        now = clock.now()
        beat = now - self._last_beat >= HEARTBEAT_INTERVAL
        if not events and not beat:
            return
        rows = _Rows(self._run_id, self._keys)
        for event in events:
            rows.add(event)
        listing = self._listing(rows)
        try:
            self._write(rows, now, listing)
        except RunFencedError:
            self._error = exc = RunFencedError(self._fenced_message())  # for good: later events too
            self._mark_fenced()
            raise exc from None
        self._last_beat = now
        if listing:
            self._unlisted = []

    def _listing(self, rows: _Rows) -> list[tuple[int, str, int]]:
        """The task runs this batch lists in the cache index: none until enough are waiting, or one
        has waited ``LIST_EVERY`` seconds, or the run ends (see ``suiro.store.cache_index``)."""
        if rows.listable:
            if not self._unlisted:
                self._since = time.monotonic()
            self._unlisted.extend(rows.listable)
        due = (
            rows.finished is not None
            or len(self._unlisted) >= cache_index.LIST_SIZE
            or time.monotonic() - self._since >= cache_index.LIST_EVERY
        )
        return self._unlisted if due else []

    def _write(self, rows: _Rows, now: float, listing: list[tuple[int, str, int]]) -> None:
        with self.db.write() as tx:
            renewed = tx.execute(
                "UPDATE runs SET heartbeat = :now WHERE id = :id AND state = 'running'",
                {"now": now, "id": self._run_id},
            )
            if not renewed:
                raise RunFencedError(f"run {self._run_id} is no longer running")
            # In digest order: each page of the digests' index is found, changed and left once.
            tx.insert_rows(
                "artifacts", ARTIFACT_COLUMNS, sorted(rows.artifacts, key=_by_digest), ARTIFACT_KEEP
            )
            stated, unstated = rows.task_rows()
            tx.insert_rows("task_runs", _TASK_COLUMNS, stated, _SET_STATE)
            tx.insert_rows("task_runs", _TASK_COLUMNS, unstated, _KEEP_STATE)
            tx.insert_rows("attempts", _ATTEMPT_COLUMNS, list(rows.attempts.values()), _MERGE_ATTEMPT)
            tx.executemany(_INSERT_METRIC, rows.metrics)  # a plain insert: no row may come twice
            cache_index.list_entries(tx, self._run_id, listing, sqlite=self.db.is_sqlite)
            if rows.finished is not None:
                ended = tx.execute(
                    # Compare-and-set: a run the reaper already declared crashed (its heartbeat stopped
                    # long enough, e.g. a stopped process) stays crashed; its resume is what counts.
                    "UPDATE runs SET state = :state, ended = :ended, heartbeat = :ended, error = :error"
                    " WHERE id = :id AND state = 'running'",
                    {
                        "state": rows.finished.state.value,
                        "ended": rows.finished.time,
                        "id": self._run_id,
                        "error": mask(rows.finished.error) if rows.finished.error else None,
                    },
                )
                if ended and rows.finished.state is RunState.CANCELLED:
                    _close_open_attempts(tx, self._run_id, rows.finished)

    def _fenced_message(self) -> str:
        """Why this process stops, and what to do: resume the run, or look at its resume."""
        head = (
            f"run {self._run_id} was declared crashed while this process (pid {os.getpid()}) "
            "was not heartbeating, so it stops without recording more; "
        )
        resumes = self.db.query(
            "SELECT id, state FROM runs WHERE parent_run_id = :id ORDER BY started DESC LIMIT 1",
            {"id": self._run_id},
        )
        if resumes:
            child = resumes[0]
            return head + (
                f"it was already resumed by run {child['id']} ({child['state']}): suiro show {child['id']}"
            )
        return head + f"resume it with: suiro resume {self._run_id}"

    def _mark_fenced(self) -> None:
        """Say on the run's record that its first process came back and stopped (once)."""
        note = f"fenced: its process {os.getpid()} came back after the crash verdict and stopped unrecorded"
        with self.db.write() as tx:  # before the reaper's verdict, which it explains
            tx.execute(
                "UPDATE runs SET error = :note || COALESCE('; ' || error, '')"
                " WHERE id = :id AND state = 'crashed' AND (error IS NULL OR error NOT LIKE 'fenced: %')",
                {"note": note, "id": self._run_id},
            )

    def _failure(self) -> StoreError:
        if isinstance(self._error, RunFencedError | DatabaseDamagedError):
            return self._error  # already one sentence that says what to do
        return StoreError(f"recording run {self._run_id} failed: {self._error}; the run was stopped.")

    def finish_now(self, error: str) -> None:
        """Record the run ``cancelled`` at once, from any thread; drop every later event.

        For a forced stop, when the runner cannot be waited for. What is buffered is written
        with it. Does nothing if the run's end was already recorded (or never began).
        """
        with self._lock:
            if self._finished or not self._run_id:
                return
            self._finished = True
            self._buffer.append(
                RunFinished(run_id=self._run_id, state=RunState.CANCELLED, time=clock.now(), error=error)
            )
        self._stop.set()
        self._wake.set()
        self._arrived.set()
        self._release()
        self.flush()

    def close(self) -> None:
        """Stop the background thread and write what is left (called at the run's end)."""
        self._release()
        self._stop.set()
        self._wake.set()
        self._arrived.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._error is not None:
            raise self._failure()
        self.flush()


def _by_digest(row: dict[str, Any]) -> str:
    return row["digest"]


def _scheduled_columns(scheduled: Any) -> dict[str, Any]:
    """The ``runs`` columns of a run a deployment started (all None for a run started by hand)."""
    if scheduled is None:
        return dict.fromkeys(
            ("deployment", "logical_time", "interval_start", "interval_end", "trigger", "timezone")
        )
    return {
        "deployment": scheduled.deployment,
        "logical_time": scheduled.logical_time,
        "interval_start": scheduled.interval_start,
        "interval_end": scheduled.interval_end,
        "trigger": scheduled.trigger,
        "timezone": scheduled.timezone,
    }


class _Rows:
    """Turns a batch of events into rows, one upsert per task run however many changes it had."""

    def __init__(self, run_id: str, keys: dict[tuple[str, int], int]):
        self.run_id = run_id
        #: The recorder's key prefixes of task runs keyed and not yet ended (across batches).
        self.keys = keys
        #: Task runs this batch ended with an output a cache look-up may find: (prefix, task, index).
        self.listable: list[tuple[int, str, int]] = []
        self.tasks: dict[tuple[str, int], dict[str, Any]] = {}
        self.attempts: dict[tuple[str, int, int], dict[str, Any]] = {}
        self.artifacts: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.finished: RunFinished | None = None

    def task(self, key: str, index: int) -> dict[str, Any]:
        row = self.tasks.get((key, index))
        if row is None:
            row = self.tasks[(key, index)] = {
                "run_id": self.run_id,
                "task_key": key,
                "map_index": index,
                **dict.fromkeys(_TASK_COLUMNS[3:]),
            }
        return row

    def task_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The task runs whose events said a state, and the others (which were inserted ``pending``)."""
        stated: list[dict[str, Any]] = []
        unstated: list[dict[str, Any]] = []
        for row in self.tasks.values():
            if row["attempts"] is None:
                row["attempts"] = 0
            if row["state"] is None:
                row["state"] = TaskState.PENDING.value
                unstated.append(row)
            else:
                stated.append(row)
        return stated, unstated

    def add(self, event: Event) -> None:
        if isinstance(event, TaskStateChanged):
            self._state(event)
        elif isinstance(event, TaskOutput):
            row = self.task(event.task_key, event.map_index)
            meta = event.artifact
            if isinstance(meta, ArtifactMeta):
                row["output_digest"] = meta.digest
                if kept_on_row(meta):  # no row keyed by its digest: see migration 0007
                    row["output_kind"], row["output_inline"] = meta.kind, meta.inline
                else:
                    self.artifacts.append(artifact_row(meta, clock.now()))
            row["cached_from"] = event.cached_from
        elif isinstance(event, TaskKeyed):
            row = self.task(event.task_key, event.map_index)
            row["cache_key"] = event.key
            row["cache_parts"] = json.dumps(event.parts, sort_keys=True)
            if event.key is not None:
                self.keys[(event.task_key, event.map_index)] = cache_index.prefix(event.key)
        elif isinstance(event, TaskMapped):
            self.task(event.task_key, -1)["map_size"] = event.size
        elif isinstance(event, MetricLogged):
            self.metrics.append(
                {
                    "run_id": self.run_id,
                    "task_key": event.task_key,
                    "map_index": event.map_index,
                    "name": mask(event.name),
                    # NULL is a NaN on every database (SQLite stores one so; migration 0009)
                    "value": None if math.isnan(event.value) else event.value,
                    "step": event.step,
                    "time": event.time,
                }
            )
        elif isinstance(event, RunFinished):
            self.finished = event

    def _state(self, event: TaskStateChanged) -> None:
        row = self.task(event.task_key, event.map_index)
        row["state"] = event.state.value
        if event.attempt:
            row["attempts"] = max(row["attempts"] or 0, event.attempt)
        if event.state is TaskState.RUNNING and row["started"] is None:
            row["started"] = event.time
        if event.state.is_terminal:
            row["ended"] = event.time
            row["duration"] = event.duration
            keyed = self.keys.pop((event.task_key, event.map_index), None)
            if keyed is not None and event.state.is_ok:
                self.listable.append((keyed, event.task_key, event.map_index))
        failed_before_running = (
            event.state is TaskState.FAILED and event.error is not None and event.map_index < 0
        )
        if (event.attempt or failed_before_running) and event.state in _ATTEMPT_STATES:
            error = event.error
            ended = event.state is not TaskState.RUNNING
            self.attempts[(event.task_key, event.map_index, event.attempt)] = {
                "run_id": self.run_id,
                "task_key": event.task_key,
                "map_index": event.map_index,
                "attempt": event.attempt,
                "state": event.state.value,
                "ended": event.time if ended else None,
                "duration": event.duration,
                "error_type": error.type if error else None,
                # Masked where the error was made; again here for errors made elsewhere (the runner's).
                "error_message": mask(error.message) if error else None,
                "traceback": mask(error.traceback) if error else None,
                "log_path": event.log_path,  # the runner's: one rule names log files
            }


def _close_open_attempts(tx: Any, run_id: str, finished: RunFinished) -> None:
    """End what a forced stop left open (the runner ends it itself otherwise): attempts that were
    running fail as cancelled, so ``suiro resume`` runs them again."""
    message = (
        f"run {run_id} was cancelled while this attempt ran ({finished.error}); "
        f"resume it to run the task again: suiro resume {run_id}"
    )
    params = {
        "id": run_id,
        "ended": finished.time,
        "message": mask(message),
        "type": type_name(RunCancelledError),
    }
    fail_unfinished(tx, params)
    tx.execute("UPDATE attempts SET state = 'failed' WHERE run_id = :id AND state = 'retrying'", params)
