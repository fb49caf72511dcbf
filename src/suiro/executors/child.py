"""A worker process that runs attempts and can be killed: how timeouts really stop work.

A thread cannot be stopped from outside, so an attempt with a ``timeout`` runs in
a process, on every executor; the process executor runs all its attempts this way.
Workers are fresh interpreters (see ``worker.py``) and work travels with
cloudpickle, so functions defined in the user's pipeline file work.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
from concurrent.futures import Future

import cloudpickle

from suiro.errors import WorkerCrashedError
from suiro.executors.base import Outcome, Work, error_info, timeout_outcome, unpicklable_error
from suiro.executors.worker import read_frame, write_frame

#: Seconds a new worker interpreter may take to import suiro and report ready.
_STARTUP_TIMEOUT = 60.0


class WorkerProcess:
    """One worker interpreter, used by one thread at a time; restarted after a kill.

    Long-lived pool workers (``preload=True``) import the parent's heavy libraries
    before their first task; one-shot children for timed tasks import only what
    their task needs.
    """

    def __init__(self, *, preload: bool = False) -> None:
        self.preload = preload
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_child = self._from_child = -1

    def _start(self) -> subprocess.Popen[bytes]:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        proc = subprocess.Popen(
            [sys.executable, "-m", "suiro.executors.worker", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._proc = proc
        preload = preload_modules() if self.preload else []
        write_frame(self._to_child, cloudpickle.dumps((list(sys.path), preload, os.getpid())))
        # Wait until the interpreter is up, so a task's timeout never counts its start-up.
        ready, _, _ = select.select([self._from_child], [], [], _STARTUP_TIMEOUT)
        if not ready or read_frame(self._from_child) != b"ready":
            self.close(kill=True)
            raise WorkerCrashedError(
                f"a worker process did not start within {_STARTUP_TIMEOUT:g} s; check that "
                f"{sys.executable} can import suiro."
            )
        return proc

    def ensure_started(self) -> None:
        """Start the worker now (ahead of its first task), unless it is already running."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    def call(self, work: Work) -> Outcome:
        """Run ``work`` in the worker and wait for it, killing the worker at the timeout."""
        try:
            payload = cloudpickle.dumps(work)
        except Exception as exc:
            return Outcome(error=unpicklable_error(work, exc))
        try:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        except (WorkerCrashedError, OSError) as exc:
            return Outcome(error=error_info(exc, retry_on=None))
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
        return Outcome(error=error_info(exc, retry_on=None))

    def close(self, *, kill: bool = False) -> None:
        """Stop the worker: ask it to exit (closing its input), or kill it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        if kill:
            proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: Libraries worth importing in a new worker before its first task, if the parent uses them.
_PRELOAD = ("numpy", "pandas", "scipy", "sklearn", "lightgbm", "xgboost")


def preload_modules() -> list[str]:
    """The heavy libraries the parent process has imported (so its tasks will need them)."""
    return [name for name in _PRELOAD if name in sys.modules]


def run_in_child(work: Work) -> Future[Outcome]:
    """Run ``work`` in a worker process of its own; the future resolves when it ends."""
    future: Future[Outcome] = Future()

    def target() -> None:
        worker = WorkerProcess()
        try:
            future.set_result(worker.call(work))
        finally:
            worker.close()

    threading.Thread(target=target, name=f"suiro-child-{work.label()}", daemon=True).start()
    return future
