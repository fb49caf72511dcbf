"""The scheduler inside ``suiro server``: ``Scheduler.serve`` in a thread beside the web server.

The web server (uvicorn) keeps the main thread, where signals arrive; this thread runs the same
loop as ``suiro scheduler`` (lease, ticks, children), so every rule of the scheduler holds: of
two ``suiro server`` (or a server and a ``suiro scheduler``) on one database only the holder of
the lease acts, the other stands by and takes over within the lease's time once it is gone.
``stop`` ends the loop, which gives the lease up (a standby takes over at once); runs started
go on in their own processes.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from suiro.cancel import sigterm_as_ctrl_c

#: Seconds ``stop`` waits for the loop to end (a pass in progress, children taking their ticks over).
STOP_WAIT = 15.0


class SchedulerThread:
    """The scheduler of the home ``home`` (default ``$SUIRO_HOME``), looping in a thread of its own."""

    def __init__(self, home: str | Path | None = None, *, ttl: float = 30.0):
        from suiro.scheduler import Scheduler

        self.scheduler = Scheduler(home, ttl=ttl)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.scheduler.serve, args=(self._stop,), name="suiro-scheduler", daemon=True
        )

    def start(self) -> str:
        """Do a first pass here (a database problem is an error now, not a log line later), then
        loop in the thread; what this scheduler is: ``leading`` or ``standing by (...)``."""
        from suiro.store import leases

        report = self.scheduler.run_pass()
        self._thread.start()
        if report.leader:
            return "scheduler leading"
        holder = leases.current(self.scheduler.db)
        return f"scheduler standing by: {holder.holder if holder else 'another'} holds the lease"

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """End the loop and wait for it (it releases the lease and closes its database)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self.scheduler.close()


def serve_beside(
    server: Any, sock: socket.socket, *, banner: str, home: str | Path | None, lease_ttl: float
) -> None:
    """Run the web server ``server`` (uvicorn's, on ``sock``) with the scheduler beside it until
    Ctrl-C or SIGTERM, then stop both: the web server first, then the scheduler."""
    background = SchedulerThread(home, ttl=lease_ttl)
    role = background.start()
    print(f"suiro server on {banner}; {role}; Ctrl-C stops both", flush=True)
    sigterm_as_ctrl_c()  # uvicorn raises the signal again once stopped; SIGTERM's default would
    # end the process before the scheduler gives its lease up
    try:
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn stops, then raises the signal again
            server.run(sockets=[sock])
    finally:
        try:
            background.stop()
        except KeyboardInterrupt:  # a second Ctrl-C: no waiting for the scheduler
            print(
                f"suiro server stopped at once; its lease expires by itself ({lease_ttl:g} s).",
                file=sys.stderr,
            )
            return
    print("suiro server stopped; runs it started go on in their own processes.", file=sys.stderr, flush=True)
