"""Notifications through the command line: a failed run e-mails the project's address (``SUIRO_NOTIFY_EMAIL``
and ``SUIRO_SMTP_*`` only, as the README shows), ``suiro show`` and ``suiro notifications`` list
what was sent and what failed, and a bad setting is one sentence before anything runs."""

from __future__ import annotations

import pytest
from pipelines.cli_harness import Cli
from pipelines.smtp_stub import SmtpServer, free_port

FAILING = """
from suiro import pipeline, task

@task
def train(rows: int) -> float:
    raise ValueError(f"only {rows} rows: not enough to train")

@pipeline
def nightly(rows: int = 3):
    return train(rows)
"""


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


def test_a_failed_run_mails_the_project_address_and_show_lists_it(tmp_path, smtp):
    cli = Cli(tmp_path)
    cli.write("nightly.py", FAILING)
    env = {**smtp.env(), "SUIRO_NOTIFY_EMAIL": "ops@example.com"}
    run = cli.expect(1, "run", "nightly.py", env=env).run_id
    (mail,) = smtp.mailbox.messages
    assert mail["To"] == "ops@example.com"
    assert f"logs:        suiro logs {run} train" in mail.get_content()
    shown = cli.ok("show", run).stdout
    assert "notifications:" in shown and "ops@example.com" in shown and "sent" in shown
    listed = cli.ok("notifications").stdout
    assert run in listed and "failed" in listed and "email" in listed
    assert "no notifications failed" in cli.ok("notifications", "--failed").stdout
    (row,) = cli.json("notifications", run)
    assert (row["event"], row["channel"], row["target"], row["state"]) == (
        "failed",
        "email",
        "ops@example.com",
        "sent",
    )


def test_an_unreachable_server_is_visible_and_the_exit_code_is_the_runs(tmp_path):
    cli = Cli(tmp_path)
    cli.write("nightly.py", FAILING)
    env = {
        "SUIRO_SMTP_HOST": "127.0.0.1",
        "SUIRO_SMTP_PORT": str(free_port()),
        "SUIRO_NOTIFY_EMAIL": "o@x.io",
    }
    env["SUIRO_NOTIFY_TIMEOUT"] = "1"
    cli.expect(1, "run", "nightly.py", env=env)
    failed = cli.ok("notifications", "--failed").stdout
    assert "ConnectionRefusedError" in failed and "o@x.io" in failed


def test_a_bad_notify_setting_is_one_sentence_before_the_run(tmp_path):
    cli = Cli(tmp_path)
    cli.write("nightly.py", FAILING)
    line = cli.error(2, "run", "nightly.py", env={"SUIRO_NOTIFY_EMAIL": "ops", "SUIRO_NOTIFY_ON": "failed"})
    assert "'ops' is not an e-mail address" in line
    assert cli.ok("runs").stdout.count("nightly") == 0, "nothing ran"
    assert cli.error(2, "notifications", "nosuchrun").startswith("error: no run")


def test_the_readme_e_mail_example_as_written(tmp_path):
    """README "Get an e-mail when a run fails": `python -m aiosmtpd -n -l 127.0.0.1:PORT`, two variables."""
    import socket
    import subprocess
    import sys
    import time

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until it listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        cli = Cli(tmp_path)
        cli.write("nightly.py", FAILING)
        env = {
            "SUIRO_SMTP_HOST": "127.0.0.1",
            "SUIRO_SMTP_PORT": str(port),
            "SUIRO_NOTIFY_EMAIL": "ops@example.com",
        }
        run = cli.expect(1, "run", "nightly.py", env=env).run_id
    finally:
        server.terminate()
        printed, _ = server.communicate(timeout=10)
    assert f"Subject: [suiro] run {run} of nightly failed" in printed, printed
    assert "error:       ValueError: only 3 rows: not enough to train" in printed
    assert f"logs:        suiro logs {run} train" in printed
