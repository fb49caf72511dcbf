"""The main loop of a suiro worker process: read an attempt, run it, send its outcome.

Started by ``WorkerProcess`` either as ``python -m suiro.executors.worker R W`` (a fresh
interpreter: inherits no threads, locks or connections, never re-imports the user's
``__main__``) or, when the parent is single-threaded, as a fork of it that calls
``serve`` (starts in milliseconds with every library the parent has loaded). Two pipe
file descriptors carry the protocol, so it never mixes with what tasks print.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time
from dataclasses import replace

from suiro.cancel import ignore_stop_signals
from suiro.context import routed_streams
from suiro.executors.base import Outcome, Work, execute, unpicklable_error

_HEADER = struct.Struct("!Q")


def read_frame(fd: int) -> bytearray | None:
    """Read one length-prefixed frame; None at end of file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    return _read_exactly(fd, size)


def write_frame(fd: int, data: bytes) -> None:
    """Write one length-prefixed frame (``data`` is not copied)."""
    for part in (_HEADER.pack(len(data)), data):
        view = memoryview(part)
        while view:
            written = os.write(fd, view)
            view = view[written:]


def _read_exactly(fd: int, size: int) -> bytearray | None:
    """``size`` bytes read straight into one buffer (no chunks joined into a second copy)."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = os.readv(fd, [view[got : got + (1 << 20)]])
        if not n:
            return None
        got += n
    return buf


def encode_outcome(work: Work, outcome: Outcome) -> bytes:
    """Pickle an outcome to send it home; an unpicklable value becomes an error outcome."""
    import cloudpickle  # not at the top: the runner imports this module for its frames only

    try:
        return cloudpickle.dumps(outcome)
    except Exception as exc:
        return cloudpickle.dumps(Outcome(error=unpicklable_error(work, exc, "output"), lines=outcome.lines))


#: Outputs stored from this many bytes on stay here, written in the store (see ``kept``).
KEEP_FROM = 1 << 20


def kept(outcome: Outcome) -> Outcome:
    """The outcome to send home: without its value when the worker stored a large one.

    The value is in the artifact store already (the task's ``finalize`` wrote it here), so
    pickling it across as well would cost the worker and the runner a copy or two of it each;
    the runner loads it from the store only if a task in its own process needs it, and a task
    in a worker process loads it there. Small outputs still travel: that is cheaper than a read.
    """
    artifact = outcome.artifact
    if (
        outcome.ok
        and artifact is not None
        and getattr(artifact, "inline", None) is None
        and getattr(artifact, "size", 0) >= KEEP_FROM
    ):
        return replace(outcome, value=None, stored=True)
    return outcome


def _exit_with_parent(parent: int) -> None:
    """Stop this worker when its runner dies (kill -9 included): no orphan keeps working."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def main(read_fd: int, write_fd: int) -> None:
    """A fresh interpreter's entry: take sys.path from the parent, then serve."""
    import cloudpickle

    init = read_frame(read_fd)
    if init is None:
        return
    sys.path[:], parent = cloudpickle.loads(init)
    serve(read_fd, write_fd, parent)


def serve(read_fd: int, write_fd: int, parent: int) -> None:
    """Serve attempts until the parent closes the pipe (or dies).

    SIGINT and SIGTERM sent to the whole process group (a terminal's Ctrl-C) are let pass: the
    runner cancels the run and kills this worker, so the task never ends as a failure of its own.
    """
    import cloudpickle

    ignore_stop_signals()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    write_frame(write_fd, b"ready")
    with routed_streams():
        while (frame := read_frame(read_fd)) is not None:
            work: Work = cloudpickle.loads(frame)
            write_frame(write_fd, encode_outcome(work, kept(execute(work))))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
