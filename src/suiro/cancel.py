"""Stopping a run on request: SIGINT, SIGTERM, Ctrl-C, or a call from another thread.

A ``Cancellation`` is handed to the runner. The first ``request`` is cooperative: it records
the reason and wakes the runner, which starts nothing more, asks its executor to kill its
worker processes, ends what was running as cancelled and records the run ``cancelled``.
Only one place cannot be woken that way: a task running *in the runner's own thread* (the
sequential executor, or the threads executor running a lone task). While the runner is in
such a call (``interruptible``), a request made by a signal handler on that thread raises
``Interrupted`` into the task, as Ctrl-C would. Nowhere else is anything raised, so no
bookkeeping or database write is ever cut in half.

A second request means "stop now": the callbacks given to ``on_force`` run at once, in a
thread of their own, the last registered first (the API's "kill the workers, record the run
``cancelled``" before the CLI's "exit 130"), so even a task that swallows
``KeyboardInterrupt`` cannot hold the process.

Imports nothing from suiro: the runner, the API and the CLI all use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

#: The name of the thread that counts signals: it only ever blocks in ``os.read`` or prints
#: (a forked worker opens fresh streams), so forking beside it is safe (see ``child.can_fork``).
WATCHER_THREAD = "suiro-signals"


class Interrupted(KeyboardInterrupt):
    """A stop request reached a task running in the runner's thread.

    A ``KeyboardInterrupt`` so task code treats it as Ctrl-C, and ``except Exception`` in a
    task does not swallow it.
    """


class Cancellation:
    """One run's stop request: who asked, and how to wake and, if asked twice, force the run.

    ``request`` may be called from any thread and from a signal handler: it takes no lock, only
    sets fields and calls the wakers, which must be reentrant themselves (``SimpleQueue.put``).
    """

    def __init__(self) -> None:
        #: Short name of what asked first (``SIGINT``, ``SIGTERM``, ``KeyboardInterrupt``, ...).
        self.reason: str | None = None
        #: The sentence recorded as the run's reason.
        self.detail: str | None = None
        #: The run this cancellation stops (set by the runner when it starts).
        self.run_id: str | None = None
        self._wakers: list[Callable[[], None]] = []
        self._forced: list[Callable[[], None]] = []
        self._forcing = False
        self._blocking: int | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.reason is not None

    def bind(self, run_id: str, wake: Callable[[], None]) -> None:
        """Called by the runner: the run's id, and how to wake its loop."""
        self.run_id = run_id
        _BOUND[run_id] = self
        self._wakers.append(wake)
        if self.reason is not None:
            wake()

    def on_force(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on a second request: in a thread of its own, after the callbacks
        registered later (inner layers clean up before outer ones exit, as with ``atexit``)."""
        self._forced.append(callback)

    def request(self, reason: str, detail: str | None = None) -> None:
        """Ask the run to stop; asked again, stop it now.

        Args:
            reason: what asks, short (``SIGINT``).
            detail: the sentence to record; default ``cancelled by <reason> sent to process <pid>``.

        Raises:
            Interrupted: on the first request, when made from the thread that is running a task
                inside ``interruptible`` (that is, by a signal handler arriving during the task).
        """
        if self.reason is not None:
            self.force()
        else:
            self._ask(reason, detail)

    def force(self) -> None:
        """Stop now: run the ``on_force`` callbacks in a thread of their own (once)."""
        if self._forcing:
            return
        self._forcing = True
        threading.Thread(target=self._run_forced, name="suiro-force-stop", daemon=True).start()

    def _ask(self, reason: str, detail: str | None = None) -> None:
        """The first request's part, idempotent: record the reason, wake the run, interrupt an
        inline task when called on its thread."""
        if self.reason is None:
            self.detail = detail or f"cancelled by {reason} sent to process {os.getpid()}"
            self.reason = reason
            for wake in list(self._wakers):
                wake()
        if self._blocking == threading.get_ident():
            self._blocking = None  # cleared here: a race with the call's own end cannot leave it set
            raise Interrupted(self.reason)

    def interruptible(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` in this thread; a stop request from a signal raises ``Interrupted`` in it.

        Raises:
            Interrupted: the run was asked to stop before or during the call.
        """
        if self.reason is not None:
            raise Interrupted(self.reason)
        self._blocking = threading.get_ident()
        try:
            return fn(*args)
        finally:
            self._blocking = None

    def _run_forced(self) -> None:
        for callback in reversed(self._forced):
            try:
                callback()
            except Exception as exc:  # the next callback (e.g. the exit) must still run
                logging.getLogger("suiro.cancel").error("forced stop: %s", exc)


#: The cancellation of each run bound in this process, by run id (weakly: it goes with its run).
_BOUND: weakref.WeakValueDictionary[str, Cancellation] = weakref.WeakValueDictionary()


def is_requested(run_id: str | None) -> bool:
    """Whether the run ``run_id`` was asked to stop, as seen from a task running in its runner's process.

    For a task that started something the run's cancel cannot reach by itself (a shell command in
    a session of its own) and polls this to stop it. Always False in another process: there the
    runner kills the worker process instead.
    """
    cancel = _BOUND.get(run_id) if run_id is not None else None
    return cancel is not None and cancel.requested


@contextlib.contextmanager
def handling_signals(
    cancel: Cancellation,
    signals: Sequence[signal.Signals],
    *,
    raise_again: bool = False,
    notice: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Turn ``signals`` into ``cancel.request(<name>)`` for the block, then restore the old handlers.

    Python runs a signal's handler in the main thread between two bytecodes, so not while that
    thread is inside a long native call (a model's ``fit`` run inline). The signals are therefore
    counted by a watcher thread, woken by the byte Python's C-level handler writes to a wakeup
    file descriptor at once: a second signal forces the stop even then. (If the wakeup fd is
    already someone else's, the handler counts.) ``notice(name)`` is called by the watcher on
    the first signal, e.g. to say that the run is being cancelled.

    With ``raise_again`` (``suiro.run`` from Python) the handler counts, and a second signal
    also raises ``KeyboardInterrupt`` at once, as Ctrl-C did before the run. Only from the main
    thread (Python installs handlers there); elsewhere it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watched = () if raise_again else tuple(signals)
    watcher = _watch(cancel, watched, notice) if watched else None

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if watcher is not None:
            cancel._ask(name)  # counted by the watcher; here only what needs the main thread
            return
        again = cancel.requested
        cancel.request(name)
        if again and raise_again:
            raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)
        if watcher is not None:
            watcher()


def _watch(
    cancel: Cancellation, signals: Sequence[signal.Signals], notice: Callable[[str], None] | None
) -> Callable[[], None] | None:
    """Start the watcher thread that counts ``signals``; returns how to stop it (None: fd taken)."""
    read_fd, write_fd = os.pipe()
    try:
        os.set_blocking(write_fd, False)
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (OSError, ValueError):  # e.g. Windows, where the wakeup fd must be a socket
        os.close(read_fd)
        os.close(write_fd)
        return None
    if previous != -1:  # someone else's (an event loop): leave it to them
        signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)
        return None
    wanted = {int(sig) for sig in signals}

    def watch() -> None:
        seen = 0
        with contextlib.suppress(OSError):
            while data := os.read(read_fd, 64):
                for signum in data:
                    if signum not in wanted:
                        continue
                    seen += 1
                    name = signal.Signals(signum).name
                    if seen == 1:
                        cancel._ask(name)
                        if notice is not None:
                            notice(name)
                    else:
                        cancel.force()
        os.close(read_fd)

    threading.Thread(target=watch, name=WATCHER_THREAD, daemon=True).start()

    def stop() -> None:
        signal.set_wakeup_fd(-1)
        os.close(write_fd)  # the watcher reads end of file and ends

    return stop


def sigterm_as_ctrl_c() -> None:
    """Make SIGTERM (a service manager's stop, ``kill``) raise ``KeyboardInterrupt`` like Ctrl-C,
    so a long command leaves the same way for both: its cleanup runs and it says how to go on
    (the default SIGTERM action ends the process on the spot). Main thread only."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def is_default_sigint() -> bool:
    """Whether SIGINT still has Python's own handler (raise ``KeyboardInterrupt``) in this thread."""
    return (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )


def ignore_stop_signals() -> None:
    """In a worker process: let SIGINT/SIGTERM sent to the whole process group pass.

    A terminal's Ctrl-C reaches every process of the group; a worker must not turn it into a
    task failure (retried, or recorded as ``failed``). Its runner decides: it kills the
    worker when it cancels. A no-op handler, not ``SIG_IGN``: programs the task starts get the
    default behaviour back when they ``exec``.
    """
    signal.set_wakeup_fd(-1)  # a forked worker must not write to its runner's signal watcher
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _pass)


def _pass(signum: int, frame: FrameType | None) -> None:
    """A signal handler that does nothing."""
