"""``suiro server`` as a user starts it: the scheduler and the web UI in one process.

A deployment runs on its schedule with nothing else running, a run triggered through the API is
left to the server's own scheduler (which starts it), SIGTERM or Ctrl-C stops both and gives the
lease up,
and a second server on the same home stands by until the first one is gone (the lease rules of
``suiro scheduler``).
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request

from pipelines.cli_harness import Cli
from pipelines.ui_harness import ui_server

from suiro.scheduler import manual
from suiro.store import leases
from suiro.store.home import Store

TOKEN = "server-test-token-0123456789abcdef"
TICK = """
    from suiro import pipeline, task


    @task
    def one(n: int) -> int:
        return n


    @pipeline
    def tick(n: int = 1):
        return one(n)
"""


def _call(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=5) as answer:
        return json.loads(answer.read())


def _wait(check, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def test_server_runs_schedules_serves_the_ui_and_sigterm_stops_both(tmp_path):
    cli = Cli(tmp_path)
    cli.ok("deploy", f"{cli.write('tick.py', TICK)}:tick", "--name", "often", "--every", "2s")
    with ui_server(cli, command="server", env={"SUIRO_UI_TOKEN": TOKEN}) as server:
        scheduled = _wait(
            lambda: [
                r
                for r in _call(server.url + "api/v1/runs?deployment=often")["runs"]
                if r["state"] == "success"
            ],
            "a scheduled run",
        )
        assert scheduled[0]["trigger"] == "schedule"
        started = _call(server.url + "api/v1/trigger", {"deployment": "often", "params": {"n": "5"}})
        assert started["waiting"] == "queued: the scheduler starts it"  # the server's own scheduler
        run = _wait(lambda: _ended(server.url, started["run_id"]), "the triggered run")
        assert run["state"] == "success" and run["params"] == {"n": 5} and run["trigger"] == "manual"
        server.proc.send_signal(signal.SIGTERM)  # as systemd stops it; Ctrl-C below
        assert server.proc.wait(timeout=10) == 0
        assert "suiro server stopped; runs it started go on" in server.proc.stderr.read()
    store = Store(cli.home)
    assert manual.why_waiting(store, "often") == (
        "no scheduler is running: the run waits until one starts (suiro scheduler)"
    )  # the lease was given up
    store.close()


def _ended(url: str, run_id: str) -> dict | None:
    try:
        run = _call(url + f"api/v1/runs/{run_id}")
    except urllib.error.HTTPError:
        return None  # not recorded yet
    return run if run["state"] != "running" else None


def test_a_second_server_on_the_same_home_stands_by_until_the_first_is_gone(tmp_path):
    cli = Cli(tmp_path)
    store = Store(cli.home)
    with ui_server(cli, command="server") as first, ui_server(cli, command="server") as second:
        holder = leases.current(store.reader).holder
        assert f":{first.proc.pid}:" in holder and "; scheduler leading;" in first.line
        assert f"; scheduler standing by: {holder} holds the lease;" in second.line
        first.proc.send_signal(signal.SIGINT)
        assert first.proc.wait(timeout=10) in (0, 130)
        _wait(lambda: f":{second.proc.pid}:" in leases.current(store.reader).holder, "the takeover")
    store.close()
