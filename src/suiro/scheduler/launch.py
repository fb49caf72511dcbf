"""Start the child process that runs one claimed tick, its output captured to a file.

The child is a fresh interpreter (``python -m suiro.scheduler.child``), not a fork of the
scheduler: it never inherits the scheduler's database connections (G7), loads the pipeline's
current code, and whatever it does to itself (a crash in native code, a leak, ``os._exit``)
stays in it. It runs in a session of its own, so Ctrl-C on the scheduler's terminal stops the
scheduler and leaves running runs to finish.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The file, in a run's log folder, that receives its child process's stdout and stderr.
OUTPUT = "scheduler-child.log"


def launch(home: Path, run_id: str, *, launcher: int) -> subprocess.Popen[bytes]:
    """Start the child that runs tick ``run_id`` of the home ``home``, claimed by pid ``launcher``.

    Its stdout and stderr go to ``<home>/logs/<run_id>/scheduler-child.log`` (appended, so a
    relaunch keeps what the first child wrote).
    """
    folder = home / "logs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SUIRO_HOME": str(home)}
    with open(folder / OUTPUT, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "suiro.scheduler.child", run_id, str(launcher)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
