"""The child processes one scheduler started, one per run: started, collected, started again.

A child that exits before it took its tick over (the tick still names the scheduler) never ran
anything, so it is started again, at most ``RESTARTS`` times; then its tick is marked failed. A
tick no process could be started for goes back to the queue. Closing waits a moment until each
child has taken its tick over, so a scheduler that exits right after launching (``--once``)
leaves no tick that the next one would take for an orphan.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from suiro.scheduler.launch import Launcher

if TYPE_CHECKING:
    from suiro.store.db import Database

log = logging.getLogger("suiro.scheduler")

#: How often a child that dies before taking its tick over is started again.
RESTARTS = 3


class Children:
    """The children of this process (a scheduler), by run id; ``warm``: keep one started ahead."""

    def __init__(self, db: Database, home: Path, *, warm: bool = True):
        self.db = db
        self._launcher = Launcher(home, warm=warm)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._restarts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._procs)

    def start(self, run_id: str) -> bool:
        """Start the child of a tick this process claimed; False (the tick back in the queue) if
        no process can be started now."""
        from suiro.store import ticks

        try:
            self._procs[run_id] = self._launcher.launch(run_id, launcher=os.getpid())
        except OSError as exc:
            log.error("could not start a process for run %s (%s); it stays queued", run_id, exc)
            ticks.unclaim(self.db, run_id, pid=os.getpid())
            return False
        return True

    def prepare(self) -> None:
        """Have a warm child ready for the next tick."""
        self._launcher.prepare()

    def poll(self) -> bool:
        """Collect exited children (no zombies), starting again those that died before taking
        their tick over; whether any exited."""
        from suiro.store import ticks

        exited = [run_id for run_id, proc in self._procs.items() if proc.poll() is not None]
        for run_id in exited:
            proc = self._procs.pop(run_id)
            tick = ticks.get(self.db, run_id)
            if tick is None or tick.state != "launched" or tick.pid != os.getpid():
                continue
            if ticks.run_exists(self.db, run_id):
                continue
            tries = self._restarts[run_id] = self._restarts.get(run_id, 0) + 1
            if tries > RESTARTS:
                log.error(
                    "run %s: its process kept dying before it started (exit %s); failed",
                    run_id,
                    proc.returncode,
                )
                ticks.fail(self.db, run_id, pid=os.getpid())
            else:
                log.warning(
                    "run %s: its process died before it started (exit %s); starting it again",
                    run_id,
                    proc.returncode,
                )
                self.start(run_id)
        return bool(exited)

    def running(self) -> dict[str, int]:
        """The children still running: pid by run id."""
        self.poll()
        return {run_id: proc.pid for run_id, proc in self._procs.items()}

    def close(self, timeout: float = 10.0) -> None:
        """Let the warm child go, and wait (at most ``timeout`` s) until each child has taken its
        tick over or exited; running children are left to finish."""
        from suiro.store import ticks

        self._launcher.close()
        deadline = time.monotonic() + timeout
        for run_id, proc in list(self._procs.items()):
            while proc.poll() is None and time.monotonic() < deadline:
                tick = ticks.get(self.db, run_id)
                if tick is None or tick.pid != os.getpid():
                    break
                time.sleep(0.02)
        self.poll()
