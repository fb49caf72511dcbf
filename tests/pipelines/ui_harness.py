"""Start ``suiro ui`` in a real subprocess (port 0: the OS picks a free one) and find its address.

The address is read from the line the command prints once it listens; the process is stopped
(SIGINT, then SIGKILL) when the context ends. ``listening`` lists the addresses a process
listens on, from /proc (no psutil needed).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.cli_harness import Cli

ADDRESS = re.compile(r"suiro (?:ui|server) on (http://\S+/)")


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    seconds: float  # from starting the process to its address printed
    line: str = ""  # the line it printed its address in


@contextlib.contextmanager
def ui_server(
    cli: Cli, *args: str, env: dict[str, str] | None = None, command: str = "ui"
) -> Iterator[Server]:
    """``suiro ui --port 0 *args`` (or ``command``: ``server``) running over ``cli``'s home."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cli.argv(command, "--port", "0", *args),
        env=cli.env(env),
        cwd=cli.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        line = proc.stdout.readline()
        match = ADDRESS.search(line)
        assert match, f"no address printed: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield Server(proc, match.group(1), time.monotonic() - started, line)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def listening(pid: int) -> list[str]:
    """The ``host:port`` addresses (IPv4 and IPv6, hex host as in /proc) process ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1])
    return found
