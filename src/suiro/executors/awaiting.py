"""Run an ``async def`` task's coroutine to its end, where its attempt runs.

A task function defined with ``async def`` returns a coroutine when called; ``execute`` hands it
here, inside the attempt's context, so it is awaited like any other task's body: its output is
what the coroutine returns, its exception fails the attempt (and is retried), and a timeout stops
it as any task (an attempt with a timeout runs in a killable worker process, which awaits it
there). Each thread that awaits keeps one event loop (an ``asyncio.Runner``) for all its
attempts: reused, it costs ~50 µs an attempt, where ``asyncio.run`` costs ~210 µs.

Must not decide anything about the attempt: it only turns a coroutine into its value.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Coroutine
from typing import Any

_local = threading.local()


class _Loop:
    """This thread's event loop, closed when the thread ends (its ``threading.local`` goes)."""

    def __init__(self) -> None:
        import asyncio

        self.pid = os.getpid()
        self.runner = asyncio.Runner()

    def __del__(self) -> None:
        if self.pid == os.getpid():  # a forked child's copy shares the parent's selector: leave it
            try:
                self.runner.get_loop().close()
            except Exception:  # the interpreter is going away; nothing to keep tidy
                pass


def await_here(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to its end in this thread and return its value (or raise its exception).

    It sees the caller's context (``suiro.context()``, the attempt's captured output). When this
    thread already runs an event loop (a notebook, an async caller of ``suiro.run`` on the
    sequential executor) it cannot be awaited here, so it runs in a thread of its own.
    """
    import asyncio

    context = contextvars.copy_context()
    if asyncio._get_running_loop() is not None:
        return _await_in_a_thread(coroutine, context)
    loop = getattr(_local, "loop", None)
    if loop is None or loop.pid != os.getpid():
        loop = _local.loop = _Loop()
    return loop.runner.run(coroutine, context=context)


def _await_in_a_thread(coroutine: Coroutine[Any, Any, Any], context: contextvars.Context) -> Any:
    import asyncio

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = context.run(asyncio.run, coroutine)
        except BaseException as exc:  # carried back to the attempt's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="suiro-await")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
