"""S7: a secret reaches no sink — logs, records, errors, tracebacks, alerts, CLI output."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from pipelines.webhook_stub import Hook

from suiro import secrets

CANARY = "hunter2-CANARY-7f3a/?&="  # with characters that URL quoting changes

PIPELINE = """
import suiro
from suiro import get_logger, pipeline, task, when
from suiro.alerts import send_alert


@task
def use_secret() -> int:
    token = suiro.secret("api_token")
    print(f"calling the API with {token}")
    get_logger().info("token is %s", token)
    return len(token)


@task
def leak_in_error(n: int) -> int:
    raise RuntimeError(f"request failed with token {suiro.secret('api_token')}")


@task
def alert(n: int, hook: str) -> str:
    token = suiro.secret("api_token")
    send_alert(f"token {token} expired", webhook=hook, details={"t": token})
    return "alerted"


@pipeline
def leaky(hook: str, passed: str = "none"):
    n = use_secret()
    leak_in_error(n)
    return alert(n, hook), passed
"""


def _all_text(home: Path) -> str:
    chunks = []
    for path in home.rglob("*"):
        if path.is_file():
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    db = home / "suiro.db"
    if db.exists():
        conn = sqlite3.connect(db)
        chunks.extend(conn.iterdump())
        conn.close()
    return "\n".join(chunks)


@pytest.fixture(autouse=True)
def _fresh_secrets():
    secrets.reload()
    yield
    secrets.reload()


def test_a_secret_used_printed_raised_passed_and_alerted_appears_in_no_sink(tmp_path):
    (tmp_path / "leaky.py").write_text(PIPELINE)
    home = tmp_path / "home"
    hook = Hook([200])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env.update(SUIRO_HOME=str(home), SUIRO_SECRET_API_TOKEN=CANARY)
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "suiro",
                "run",
                "leaky.py",
                "--set",
                f"hook={hook.url}",
                "--set",
                f"passed={CANARY}",
                "-v",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        shown = [
            subprocess.run(
                [sys.executable, "-m", "suiro", *args],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            for args in (["show", "last", "--json"], ["logs", "last"], ["runs", "--json"])
        ]
    finally:
        hook.close()
    assert run.returncode == 1  # leak_in_error failed on purpose
    assert "***" in run.stdout + run.stderr  # the masked forms are there
    sinks = [
        run.stdout,
        run.stderr,
        _all_text(home),
        *(s.stdout + s.stderr for s in shown),
        *(str(r) for r in hook.requests),
    ]
    forms = {CANARY, urllib.parse.quote(CANARY, safe=""), urllib.parse.quote_plus(CANARY)}
    for sink in sinks:
        for form in forms:
            assert form not in sink
    assert hook.requests and "***" in hook.requests[0]["body"]["text"]


def test_secret_reads_the_environment_and_a_secrets_file(tmp_path, monkeypatch):
    file = tmp_path / "secrets.yaml"
    file.write_text("db_password: s3cret-from-file\n")
    monkeypatch.setenv("SUIRO_SECRETS_FILE", str(file))
    monkeypatch.setenv("SUIRO_SECRET_API_TOKEN", "from-env-123")
    secrets.reload()
    assert secrets.secret("db_password") == "s3cret-from-file"
    assert secrets.secret("API_TOKEN") == "from-env-123"
    assert secrets.mask("pw=s3cret-from-file&t=from-env-123") == "pw=***&t=***"
    with pytest.raises(secrets.SuiroError, match=r"no secret 'api_tokn' \(did you mean \"api_token\"\?\)"):
        secrets.secret("api_tokn")
