"""``suiro ui`` as a user starts it: the printed address answers within a second, it listens on
loopback only by default (S1), and it refuses an address other machines can reach without a token."""

from __future__ import annotations

import socket
import time
import urllib.request

from pipelines.cli_harness import Cli
from pipelines.ui_harness import listening, ui_server


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_ui_starts_fast_on_loopback_and_serves_the_recorded_runs(tmp_path):
    cli = Cli(tmp_path)
    run_id = cli.ok("run", cli.write("tiny.py", TINY)).run_id
    with ui_server(cli) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.seconds < 3.0, server.seconds  # the brief asks < 1 s; measured ~0.6 s, slack for CI
        started = time.monotonic()
        status, body = _get(server.url + "api/v1/runs")
        assert status == 200 and run_id in body
        assert time.monotonic() - started < 1.0
        addresses = listening(server.proc.pid)
        assert addresses and all(a.startswith("0100007F:") for a in addresses), addresses  # 127.0.0.1
        status, page = _get(server.url + f"runs/{run_id}")
        assert status == 200 and "tiny" in page


def test_ui_with_a_token_refuses_requests_without_it(tmp_path):
    cli = Cli(tmp_path)
    token = "a-long-enough-test-token-123456"
    with ui_server(cli, env={"SUIRO_UI_TOKEN": token}) as server:
        assert _get(server.url + "api/v1/runs")[0] == 401
        assert _get(server.url + "api/v1/runs", token)[0] == 200
        assert _get(server.url + "health")[0] == 200


def test_a_remote_address_without_a_token_is_refused(tmp_path):
    line = Cli(tmp_path).error(2, "ui", "--host", "0.0.0.0", "--port", "0")
    assert line == (
        "error: suiro ui will not listen on 0.0.0.0 without a token: anyone who can reach this machine"
        " could read every run; set SUIRO_UI_TOKEN or --token-file, or pass --insecure-allow-remote."
    )


def test_a_port_in_use_is_one_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = Cli(tmp_path).error(2, "ui", "--port", str(port))
    assert line.startswith(f"error: suiro ui cannot listen on 127.0.0.1:{port} (")
    assert line.endswith("pick another port with --port.")


TINY = """
    from suiro import pipeline, task


    @task
    def one() -> int:
        return 1


    @pipeline
    def tiny():
        return one()
"""
