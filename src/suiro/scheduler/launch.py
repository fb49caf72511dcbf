"""Start the child process that runs one claimed tick, its output captured to a file.

The child is a fresh interpreter (``python -m suiro.scheduler.child``), not a fork of the
scheduler: it never inherits the scheduler's database connections (G7), loads the pipeline's
current code, and whatever it does to itself (a crash in native code, a leak, ``os._exit``)
stays in it. It runs in a session of its own, so Ctrl-C on the scheduler's terminal stops the
scheduler and leaves running runs to finish.

Starting Python and importing suiro takes a few hundred milliseconds on a busy machine, most of
the delay between a tick and its first task (the issue bounds it at 1 s, p99). So ``Launcher``
keeps one child started ahead, its imports done, waiting on its stdin for a run id ("warm");
a launch hands the run to it and starts the next one. A warm child whose launcher goes away
reads end-of-file and exits without doing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The file, in a run's log folder, that receives its child process's stdout and stderr.
OUTPUT = "scheduler-child.log"


def output_file(home: Path, run_id: str) -> Path:
    """Where the child of ``run_id`` writes (its log folder is created)."""
    folder = home / "logs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder / OUTPUT


def launch(home: Path, run_id: str, *, launcher: int) -> subprocess.Popen[bytes]:
    """Start a new child that runs tick ``run_id`` of the home ``home``, claimed by pid ``launcher``.

    Its stdout and stderr go to ``<home>/logs/<run_id>/scheduler-child.log`` (appended, so a
    relaunch keeps what the first child wrote).
    """
    with open(output_file(home, run_id), "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "suiro.scheduler.child", run_id, str(launcher)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SUIRO_HOME": str(home)},
            start_new_session=True,
        )


class Launcher:
    """Launches children for the home ``home``, keeping one warm child ready (``warm=True``)."""

    def __init__(self, home: Path, *, warm: bool = True):
        self.home = home
        self.warm = warm
        self._ready: subprocess.Popen[bytes] | None = None

    def launch(self, run_id: str, *, launcher: int) -> subprocess.Popen[bytes]:
        """Run tick ``run_id`` (claimed by pid ``launcher``) in a child: the warm one if it is ready."""
        ready, self._ready = self._ready, None
        child = None
        if ready is not None and ready.poll() is None and ready.stdin is not None:
            try:
                ready.stdin.write(f"{run_id} {launcher}\n".encode())
                ready.stdin.close()
                child = ready
            except OSError:  # it died meanwhile: start one the slow way
                ready.wait()
        if child is None:
            child = launch(self.home, run_id, launcher=launcher)
        self.prepare()
        return child

    def prepare(self) -> None:
        """Start the warm child if there is none (nothing when ``warm`` is off)."""
        if not self.warm or (self._ready is not None and self._ready.poll() is None):
            return
        self._ready = subprocess.Popen(
            [sys.executable, "-m", "suiro.scheduler.child", "--warm"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "SUIRO_HOME": str(self.home)},
            start_new_session=True,
        )

    def close(self) -> None:
        """Let the warm child go: it was handed no run, so it is stopped at once rather than waited
        for until its imports end and it reads end-of-file (seconds on a busy machine)."""
        ready, self._ready = self._ready, None
        if ready is not None:
            if ready.stdin is not None:
                ready.stdin.close()
            ready.kill()
            ready.wait()
