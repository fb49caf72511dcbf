"""Several "machines" on one host, for the multi-machine test (``tests/e2e/test_cluster.py``).

A machine here is a folder of its own (the working directory), a ``SUIRO_HOME`` of its own and an
environment holding only what it is given: no variable of the test process leaks in except
``PATH``, ``PYTHONPATH`` (the code under test, as a deployment installs it on every machine) and
a locale. ``HOME`` is the machine's folder, so no ``~/.aws`` or ``~/.config/dask`` is shared.

A Dask scheduler and worker are started with Dask's own command line (``dask scheduler``,
``dask worker``) as separate processes, bound to 127.0.0.1. A worker may be started with some
folders hidden from it (``hide``): it then runs in a mount namespace of its own where an empty
read-only tmpfs covers them, so it cannot read or write the runner's home even by its absolute
path, as a worker on another machine could not (a write there fails: "Read-only file system").
That needs root and ``unshare``; ``can_hide`` says whether this host allows it.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pipelines.cli_harness import Cli, absolute_path_list


def base_env(home: Path) -> dict[str, str]:
    """What every machine's processes get besides their own settings."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(home)}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = absolute_path_list(os.environ["PYTHONPATH"])
    return env


class Machine(Cli):
    """Runs ``suiro`` in ``root`` with ``SUIRO_HOME=<root>/home`` (empty at first) and only ``settings``."""

    def __init__(self, root: Path, settings: dict[str, str]):
        root.mkdir(parents=True)
        super().__init__(root, new_home=True)
        self.home.mkdir()
        self.settings = dict(settings)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**base_env(self.root), "SUIRO_HOME": str(self.home), **self.settings, **(extra or {})}


@functools.cache
def can_hide() -> bool:
    """Whether a process can be started with folders hidden from it (root, and ``unshare`` works)."""
    if os.geteuid() != 0:
        return False
    try:
        probe = ["unshare", "--mount", "--propagation", "private", "true"]
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _hidden(argv: list[str], hide: Sequence[Path]) -> list[str]:
    """``argv`` run in a mount namespace of its own with an empty tmpfs over each of ``hide``."""
    mounts = " && ".join(f'mount -t tmpfs -o ro,size=64k suiro-hidden "${i + 1}"' for i in range(len(hide)))
    script = f'{mounts} && shift {len(hide)} && exec "$@"'
    unshare = ["unshare", "--mount", "--propagation", "private"]
    return [*unshare, "sh", "-c", script, "sh", *map(str, hide), *argv]


class Daemon:
    """A long-running process started here, in a session of its own; ``stop`` ends it and its children."""

    def __init__(self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str]):
        self.name = name
        self.log = cwd / f"{name}.log"
        with self.log.open("wb") as log:
            streams = {"stdin": subprocess.DEVNULL, "stdout": log, "stderr": log}
            self.process = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True, **streams)

    def wait_for(self, ready, what: str, timeout: float = 30) -> None:
        """Poll ``ready()`` until true; fail with the process's log if it exits or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name}: {what} did not happen; its log:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to the process group (the process and what it started), SIGKILL after 10 s."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        try:  # children left behind in the group (a suiro worker process of a Dask worker)
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


#: Dask's own re-runs of a task whose worker died are off, as docs/dask.md tells users.
_DASK_SETTINGS = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}


def start_scheduler(root: Path) -> tuple[str, Daemon]:
    """``dask scheduler`` on 127.0.0.1 (a free port, no dashboard), in ``root``; its address."""
    root.mkdir(parents=True)
    port = free_port()
    argv = [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    argv.append("--no-dashboard")
    daemon = Daemon("dask-scheduler", argv, cwd=root, env={**base_env(root), **_DASK_SETTINGS})
    daemon.wait_for(lambda: _listening(port), f"listening on 127.0.0.1:{port}")
    return f"tcp://127.0.0.1:{port}", daemon


def start_worker(
    root: Path, scheduler: str, settings: dict[str, str], *, nthreads: int = 2, hide: Sequence[Path] = ()
) -> Daemon:
    """``dask worker`` (one process, ``nthreads`` threads) for ``scheduler``, in ``root``, with only
    ``settings``; returns once the scheduler has registered it. ``hide``: folders it must not see."""
    root.mkdir(parents=True)
    argv = [
        sys.executable, "-m", "dask", "worker", scheduler, "--host", "127.0.0.1", "--nworkers", "1",
        "--nthreads", str(nthreads), "--no-dashboard", "--local-directory", str(root / "dask"),
    ]  # fmt: skip
    if hide:
        argv = _hidden(argv, hide)
    daemon = Daemon("dask-worker", argv, cwd=root, env={**base_env(root), **_DASK_SETTINGS, **settings})
    daemon.wait_for(lambda: "Registered to:" in daemon.log.read_text(errors="replace"), "registering")
    return daemon
