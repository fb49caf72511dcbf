"""A watchdog process that stops a process group when the process that started the group dies.

Owns nothing else. Used by ``suiro.command``, whose commands run in sessions of their own so that
they can be stopped whole: a process killed by SIGKILL (a worker process at a cancel, the runner
at ``kill -9``) runs no code, so without a watchdog such a command would run on. Imports nothing
from suiro.
"""

from __future__ import annotations

import os

#: Seconds between SIGTERM and SIGKILL when a process group is stopped.
GRACE = 2.0


class Watchdog:
    """Stops a command's process group when the process that ran it died first.

    A process killed by SIGKILL (a worker process at a cancel, the runner at ``kill -9``) runs no
    code, so a command it started in a session of its own would run on. The guard is a tiny
    ``/bin/sh`` in a session of its own too, deaf to SIGINT, SIGTERM and SIGHUP, reading a pipe
    that only this process can write: the group's id, then ``done`` once this process stopped the
    group itself. End of file before ``done`` means this process died: the guard stops the group
    (SIGTERM, SIGKILL after the grace) and exits.
    """

    _SCRIPT = (
        'trap "" INT TERM HUP; read group || exit 0; read word; [ "$word" = done ] && exit 0; '
        f'kill -s TERM -- "-$group" 2>/dev/null || exit 0; sleep {GRACE:g}; '
        'kill -s KILL -- "-$group" 2>/dev/null; exit 0'
    )

    def __init__(self) -> None:
        import subprocess  # here: ``import suiro`` stays light

        read_end, self._write_end = os.pipe()  # not inheritable: no command ever holds the write end
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", self._SCRIPT, "suiro-shell-guard"],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    def watch(self, group: int) -> None:
        """Guard the process group ``group``."""
        os.write(self._write_end, f"{group}\n".encode())

    def release(self) -> None:
        """The group is stopped: let the guard end without doing anything."""
        import subprocess

        try:
            os.write(self._write_end, b"done\n")
        except OSError:  # the guard is gone already
            pass
        os.close(self._write_end)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
