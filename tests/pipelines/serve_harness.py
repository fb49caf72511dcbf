"""``suiro serve`` in a subprocess on a free 127.0.0.1 port, for tests that call it over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

#: Seconds a server may take to answer ``/health`` (importing scikit-learn on a busy machine).
STARTUP_TIMEOUT = 60.0


@contextlib.contextmanager
def serving(
    home: Path, ref: str, log: Path, *args: str
) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    """Run ``suiro serve REF *args`` until ``/health`` answers; yield its URL, port and process.

    Its output goes to ``log``; it is terminated (killed if it must be) on exit.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env["SUIRO_HOME"] = str(home)
    argv = [sys.executable, "-m", "suiro", "serve", ref, "--port", str(port), *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log)
        yield url, port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"the server did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()}")
