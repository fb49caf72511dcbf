"""A worker process that runs attempts and can be killed: how timeouts really stop work.

A thread cannot be stopped from outside, so an attempt with a ``timeout`` runs in
a process, on every executor; the process executor runs all its attempts this way.
Workers are fresh interpreters (see ``worker.py``) and work travels with
cloudpickle, so functions defined in the user's pipeline file work.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from suiro import envvar
from suiro.cancel import WATCHER_THREAD
from suiro.errors import WorkerCrashedError
from suiro.executors.base import Outcome, Work, error_info, timeout_outcome, unpicklable_error
from suiro.executors.worker import read_frame, serve, write_frame

if TYPE_CHECKING:
    import subprocess

#: Seconds a new worker interpreter may take to import suiro and report ready.
_STARTUP_TIMEOUT = 60.0


#: Parent-side pipe ends of every live worker; a forked child closes the others' ends.
_PARENT_FDS: set[int] = set()


def can_fork() -> bool:
    """Whether forking this process is safe enough to start workers from it.

    Only with no other Python thread (none can hold a lock the child would inherit
    held), but the CLI's signal watcher, which holds none; native pools such as OpenBLAS
    re-create themselves after a fork.
    ``SUIRO_FORK=0`` turns forking off, e.g. for a parent that ran OpenMP-parallel
    code, whose pool does not survive a fork.
    """
    return (
        hasattr(os, "fork")
        and sys.platform == "linux"
        and envvar.flag(envvar.FORK, True)
        and all(t is threading.main_thread() or t.name == WATCHER_THREAD for t in threading.enumerate())
    )


class _Forked:
    """The parts of ``subprocess.Popen`` a worker needs, for a child made with ``os.fork``."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        # Reaping and killing never overlap, so a kill from another thread (a cancel) never
        # hits a reaped pid that the system may already have given to another process.
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                import subprocess

                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        with self._lock:
            if self.returncode is None:
                os.kill(self.pid, signal.SIGKILL)  # a zombie is still ours: it cannot be another process


class WorkerProcess:
    """One worker process, used by one thread at a time; restarted after a kill.

    ``fork=True`` (honoured only when ``can_fork()``) forks this process: the worker
    starts at once with every library already imported here. Otherwise the worker is a
    fresh interpreter that imports what its tasks need.
    """

    def __init__(self, *, fork: bool = False) -> None:
        self._proc: Any = None
        self._to_child = self._from_child = -1
        self._lock = threading.Lock()  # between starting a process and a cancel killing it
        self._killed = False
        if fork and can_fork():
            self._fork()

    def _fork(self) -> None:
        import cloudpickle  # noqa: F401 - loaded before the fork, so no child imports it again

        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 0
            try:
                for fd in (*_PARENT_FDS, self._to_child, self._from_child):
                    os.close(fd)
                # Fresh stream objects: never write through a buffer inherited mid-use.
                sys.stdout = open(1, "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
                sys.stderr = open(2, "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
                serve(to_child_r, from_child_w, parent)
            except BaseException:
                code = 1
            finally:
                os._exit(code)  # no finalizers: nothing inherited (e.g. a DB connection) is closed here
        os.close(to_child_r)
        os.close(from_child_w)
        _PARENT_FDS.update((self._to_child, self._from_child))
        self._proc = _Forked(pid)
        self._await_ready()

    def _start(self) -> Any:
        import subprocess

        import cloudpickle

        with self._lock:
            if self._killed:
                raise WorkerCrashedError("the run was cancelled; no new worker process is started.")
            to_child_r, self._to_child = os.pipe()
            self._from_child, from_child_w = os.pipe()
            proc = subprocess.Popen(
                [sys.executable, "-m", "suiro.executors.worker", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
            )
            os.close(to_child_r)
            os.close(from_child_w)
            _PARENT_FDS.update((self._to_child, self._from_child))
            self._proc = proc
        write_frame(self._to_child, cloudpickle.dumps((list(sys.path), os.getpid())))
        self._await_ready()
        return proc

    def _await_ready(self) -> None:
        # Wait until the interpreter is up, so a task's timeout never counts its start-up.
        ready, _, _ = select.select([self._from_child], [], [], _STARTUP_TIMEOUT)
        if not ready or read_frame(self._from_child) != b"ready":
            self.close(kill=True)
            raise WorkerCrashedError(
                f"a worker process did not start within {_STARTUP_TIMEOUT:g} s; check that "
                f"{sys.executable} can import suiro."
            )

    def call(self, work: Work, payload: bytes | None = None) -> Outcome:
        """Run ``work`` in the worker and wait for it, killing the worker at the timeout.

        ``payload``: ``work`` already pickled (by whoever sent it here), so it is not pickled twice.
        """
        import cloudpickle  # here: a run whose attempts all stay in this process never loads it

        if payload is None:
            try:
                payload = cloudpickle.dumps(work)
            except Exception as exc:
                return Outcome(error=unpicklable_error(work, exc))
        try:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        except (WorkerCrashedError, OSError) as exc:
            return Outcome(error=replace(error_info(exc, retry_on=None), infra=True))
        start = time.perf_counter()
        try:
            write_frame(self._to_child, payload)
        except OSError:
            return self._crashed(work, proc)
        ready, _, _ = select.select([self._from_child], [], [], work.timeout)
        if not ready:
            self.close(kill=True)
            return timeout_outcome(work, time.perf_counter() - start)
        frame = read_frame(self._from_child)
        if frame is None:
            return self._crashed(work, proc)
        return cloudpickle.loads(frame)

    def _crashed(self, work: Work, proc: subprocess.Popen[bytes]) -> Outcome:
        self.close(kill=True)
        exc = WorkerCrashedError(
            f"the process running task {work.label()} died (exit code {proc.returncode}) before it "
            "finished; check the task for crashes or memory use, then rerun it."
        )
        return Outcome(error=replace(error_info(exc, retry_on=None), infra=True))

    @property
    def killed(self) -> bool:
        """Whether ``kill`` was called: this worker never starts another process."""
        return self._killed

    def kill(self) -> None:
        """Kill the process now, from any thread, and never start another (a cancel).

        Closes nothing: the thread using the worker sees its pipe end and cleans up itself.
        """
        with self._lock:
            self._killed = True
            proc = self._proc
        if proc is not None:
            proc.kill()

    def close(self, *, kill: bool = False) -> None:
        """Stop the worker: ask it to exit (closing its input), or kill it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for fd in (self._to_child, self._from_child):
            _PARENT_FDS.discard(fd)
            try:
                os.close(fd)
            except OSError:
                pass
        if kill:
            proc.kill()
        import subprocess

        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Children:
    """The worker processes an executor started for single attempts, so a cancel can kill them."""

    def __init__(self) -> None:
        self._live: set[WorkerProcess] = set()
        self._lock = threading.Lock()
        self._killed = False

    def add(self, worker: WorkerProcess) -> None:
        """Track ``worker``; after ``kill_all`` it is killed before it starts."""
        with self._lock:
            self._live.add(worker)
            if self._killed:
                worker.kill()

    def discard(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._live.discard(worker)

    def kill_all(self) -> None:
        """Kill every tracked worker now, and every one added later."""
        with self._lock:
            self._killed = True
            live = list(self._live)
        for worker in live:
            worker.kill()


def run_in_child(work: Work, children: Children | None = None) -> Future[Outcome]:
    """Run ``work`` in a worker process of its own; the future resolves when it ends.

    ``children`` tracks the worker while it runs, so a cancel can kill it.
    """
    future: Future[Outcome] = Future()

    def target() -> None:
        worker = WorkerProcess()
        if children is not None:
            children.add(worker)
        try:
            outcome = worker.call(work)
        finally:
            worker.close()  # the process is gone before anyone hears the outcome
            if children is not None:
                children.discard(worker)
        future.set_result(outcome)

    threading.Thread(target=target, name=f"suiro-child-{work.label()}", daemon=True).start()
    return future
