"""Which threads of this process a test left behind: abandoned attempts on the threads executor."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any


def threads_running(code: Any) -> list[threading.Thread]:
    """Threads of this process whose stack is inside ``code`` right now."""
    frames = sys._current_frames()
    found = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        while frame is not None:
            if frame.f_code is code:
                found.append(thread)
                break
            frame = frame.f_back
    return found


def new_threads_left(before: set[threading.Thread], grace: float = 2.0) -> list[threading.Thread]:
    """Threads started since ``before`` that are still alive after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)
