"""S8: inputs too large or too deep are refused cleanly, and big pipelines run in bounded memory.

A 10,000-item fan-out runs in the default tier (100,000 items and 100,000 traced tasks in the
slow tier) in a subprocess whose peak RSS is bounded; parameters nested thousands of levels deep
are a parameter error, not a crash; the model server answers ``/health`` while a client trickles
an oversized body at it, refuses that body with 413, and its memory stays bounded.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipelines.serve_harness import serving

from suiro import api
from suiro.errors import ParameterError

FAN_OUT = """
import os

from suiro import pipeline, task

N = int(os.environ["REL_N"])


@task
def ident(i: int) -> int:
    return i


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def items(n: int) -> list[int]:
    return list(range(n))


@pipeline
def mapped(n: int = 10):
    return total(ident.map(items(n)))


if os.environ.get("REL_WIDE"):

    @pipeline
    def wide():
        return total([ident(i) for i in range(N)])
"""
# Peak RSS from VmHWM: ru_maxrss would carry the forking parent's peak across exec on Linux.
MEASURE = """
import json, sys, time
from suiro import api
start = time.monotonic()
pipe = api.load_pipeline(sys.argv[1])
traced = time.monotonic() - start
result = api.run(pipe, params=json.loads(sys.argv[2]), executor="sequential")
print(json.dumps({
    "ok": result.ok, "output": result.output, "traced": traced, "seconds": time.monotonic() - start,
    "max_rss_mb": next(int(line.split()[1]) for line in open("/proc/self/status")
                       if line.startswith("VmHWM:")) / 1024,
}))
"""


def _measure(tmp_path: Path, target: str, params: dict[str, Any], n: int, *, wide: bool = False) -> dict:
    (tmp_path / "fan_out.py").write_text(FAN_OUT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env |= {"SUIRO_HOME": str(tmp_path / "home"), "REL_N": str(n)}
    if wide:
        env["REL_WIDE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / f"fan_out.py:{target}"), json.dumps(params)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_ten_thousand_item_fan_out_runs_in_bounded_memory(tmp_path):
    found = _measure(tmp_path, "mapped", {"n": 10_000}, 10)
    assert found["ok"] and found["output"] == sum(range(10_000))
    assert found["max_rss_mb"] < 250, found


@pytest.mark.slow
def test_a_hundred_thousand_item_fan_out_runs_in_bounded_memory(tmp_path):
    found = _measure(tmp_path, "mapped", {"n": 100_000}, 10)
    assert found["ok"] and found["output"] == sum(range(100_000))
    assert found["max_rss_mb"] < 800, found  # about 2 KB per item, linear: no blow-up


@pytest.mark.slow
def test_a_hundred_thousand_traced_tasks_run_in_bounded_memory(tmp_path):
    found = _measure(tmp_path, "wide", {}, 100_000, wide=True)
    assert found["ok"] and found["output"] == sum(range(100_000))
    assert found["traced"] < 30, found
    assert found["max_rss_mb"] < 1200, found


# -- deep parameters ----------------------------------------------------------------------------

DEEP = """
from typing import Any

from suiro import pipeline, task


@task
def use(cfg: Any) -> int:
    return 1


@pipeline
def deep(cfg: Any = None):
    return use(cfg)
"""


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
def deep(tmp_path) -> Path:
    path = tmp_path / "deep.py"
    path.write_text(DEEP)
    return path


def test_moderately_nested_parameters_are_accepted(deep, suiro_home):
    result = api.run(str(deep), params={"cfg": _nested(50)}, executor="sequential")
    assert result.ok


def test_a_deeply_nested_parameter_from_python_is_a_parameter_error(deep, suiro_home):
    with pytest.raises(ParameterError, match="cfg"):
        api.run(str(deep), params={"cfg": _nested(100_000)}, executor="sequential")


def test_a_deeply_nested_config_file_is_one_error_line(deep, tmp_path):
    (tmp_path / "deep.yaml").write_text("cfg: " + "[" * 100_000 + "]" * 100_000 + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env["SUIRO_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-m", "suiro", "run", "deep.py", "-c", "deep.yaml"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "deep.yaml" in line


# -- the model server under an oversized request ----------------------------------------------------


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``suiro serve tiny@1`` in a subprocess: its URL, port and process."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from suiro.registry import Registry

    tmp_path = tmp_path_factory.mktemp("serve")
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 5, "b": [1.0, 0.0, 1.0, 0.0] * 5})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1] * 5)
    registry = Registry(tmp_path / "home")
    registry.register("tiny", model, input_schema=frame)
    registry.close()
    with serving(tmp_path / "home", "tiny@1", tmp_path / "server.log") as server:
        yield server


def _trickle(port: int, *, chunked: bool, replies: list[bytes]) -> None:
    """Send an oversized body 1 MB at a time until the server answers; keep its reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {100 * 2**20}"
        sock.sendall(f"POST /predict HTTP/1.1\r\nHost: localhost\r\n{length}\r\n\r\n".encode())
        chunk = b" " * 2**20
        for _ in range(40):
            ready, _, _ = select.select([sock], [], [], 0.05)
            if ready:
                break
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            except OSError:  # the server answered and closed; read what it said
                break
        replies.append(sock.recv(65536))


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_an_oversized_request_gets_413_while_health_keeps_answering(server, chunked):
    url, port, proc = server
    before = _rss_mb(proc.pid)
    replies: list[bytes] = []
    sender = threading.Thread(target=_trickle, args=(port,), kwargs={"chunked": chunked, "replies": replies})
    sender.start()
    answered = []
    while sender.is_alive() or not answered:
        start = time.monotonic()
        response = httpx.get(f"{url}/health", timeout=1)
        answered.append((response.status_code, time.monotonic() - start))
        time.sleep(0.05)
    sender.join(timeout=30)
    assert replies and replies[0].startswith(b"HTTP/1.1 413 "), replies
    assert all(status == 200 and took < 1.0 for status, took in answered), answered
    assert _rss_mb(proc.pid) - before < 50, "the server buffered more than the body limit allows"
