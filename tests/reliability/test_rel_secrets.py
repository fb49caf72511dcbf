"""S7: a secret reaches no sink — logs, records, errors, tracebacks, alerts, CLI output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml
from pipelines.cli_harness import Cli
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


# --- S7 with hostile secrets: every encoding, every sink -------------------------------------

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7CANARY01\n"
    "pemLINEtwo+Xk3Zq/8Rw1T2yLmN0pQ4sVb6uH9eJ3fG5dC7aB1CANARY02==\n"
    "-----END PRIVATE KEY-----\n"
)
SERVICE_ACCOUNT = json.dumps(
    {
        "type": "service_account",
        "project_id": "canary-project-42",
        "private_key_id": "5f1e0c9aCANARYkeyid",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANsaCANARY03kq\nsaLINEtwoCANARY04==\n"
        "-----END PRIVATE KEY-----\n",
        "client_email": "robot@canary-project-42.iam.gserviceaccount.com",
    },
    indent=2,
)
#: Declared as environment variables.
ENV_SECRETS = {
    "api_token": CANARY,
    "backslash": r"C:\Users\canary\tok\n-BK7",  # backslashes, one before an n
    "quotes": """it's a "QUOTED" canary-QT9""",  # both quotes: repr escapes the single one
    "single": "o'canary-SQ42",  # one kind of quote: repr picks the other
    "unicode": "pässwörd-ÜNI-秘密-canary",  # ascii(), JSON and unicode-escape all change it
}
#: Declared in the secrets file: multi-line values.
FILE_SECRETS = {"pem": PEM, "service_account": SERVICE_ACCOUNT}
NAMES = sorted({**ENV_SECRETS, **FILE_SECRETS})

HOSTILE = f"""
import json
import urllib.parse

import suiro
from suiro import get_logger, log_metric, pipeline, task
from suiro.alerts import send_alert

NAMES = {NAMES!r}


@task
def leak_everywhere(passed: str, passed_too: str) -> int:
    log = get_logger()
    for name in NAMES:
        value = suiro.secret(name)
        print(value)
        print(repr(value))
        print("%r" % value)
        print(ascii(value))
        print(json.dumps(value))
        print(json.dumps({{"value": value}}, ensure_ascii=False))
        print(urllib.parse.quote(value), urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value))
        print(value.encode("unicode_escape").decode("ascii"))
        print({{"nested": [value]}})
        log.info("%s", value)
        log.info("%r", value)
        log.warning("config: %s", json.dumps({{"k": repr(value)}}))
        log_metric(f"loss/{{value}}", 1.0)
        log_metric(value, 2.0)
    credentials = json.loads(suiro.secret("service_account"))
    print(credentials)
    print(credentials["private_key"])
    log.info("signing as %s", credentials["client_email"])
    return len(passed) + len(passed_too)


@task
def raise_it(name: str) -> str:
    value = suiro.secret(name)
    try:
        {{}}[value]
    except KeyError as exc:
        raise RuntimeError(f"lookup failed: {{json.dumps({{'secret': value}})}} {{value!r}}") from exc


@task
def raise_key(name: str) -> str:
    raise KeyError(suiro.secret(name))


@task(trigger_rule="all_done")
def alert_failure(failed, n: int, hook: str) -> str:
    values = [suiro.secret(name) for name in NAMES]
    details = {{"secrets": values, "first": values[0]}}
    send_alert(f"login failed with {{values!r}}", webhook=hook, details=details)
    return "alerted"


@pipeline
def hostile(hook: str, passed: str = "none", passed_too: str = "none"):
    n = leak_everywhere(passed, passed_too)
    failed = raise_it.map(NAMES)
    raise_key.map(NAMES)
    return alert_failure(failed, n, hook)
"""


def encodings(value: str) -> set[str]:
    """Every form of ``value`` a task, a traceback, a JSON record or a URL can put it in."""
    escaped = {
        repr(value)[1:-1],
        repr(value + '"')[1:-2],  # the other quoting: inside a str that has both quotes
        ascii(value)[1:-1],
        ascii(value + '"')[1:-2],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
    }
    twice = {json.dumps(form)[1:-1] for form in escaped} | {repr(form)[1:-1] for form in escaped}
    quoted = {
        urllib.parse.quote(value),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    }
    lines = {line.strip() for line in value.splitlines()} if "\n" in value else set()
    return {value} | escaped | twice | quoted | {line for line in lines if len(line) >= secrets.MIN_LENGTH}


def _every_form() -> dict[str, set[str]]:
    forms = {name: encodings(value) for name, value in {**ENV_SECRETS, **FILE_SECRETS}.items()}
    # The string values inside the service-account JSON are secrets too (a task parses it).
    for field, value in json.loads(SERVICE_ACCOUNT).items():
        forms[f"service_account.{field}"] = encodings(value)
    return forms


def _db_values(db: Path) -> str:
    """Every value of every row of every table, as text (a dump doubles quotes; this does not)."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        chunks = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    chunks.append(str(value))
        return "\n".join(chunks)
    finally:
        conn.close()


def _hostile_run(tmp_path: Path, executor: str):
    cli = Cli(tmp_path)
    cli.write("hostile.py", HOSTILE)
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text(yaml.safe_dump(FILE_SECRETS, allow_unicode=True), encoding="utf-8")
    env = {f"SUIRO_SECRET_{name.upper()}": value for name, value in ENV_SECRETS.items()}
    env["SUIRO_SECRETS_FILE"] = str(secrets_file)
    env["SUIRO_FORK"] = "0"  # process workers are fresh interpreters: they read the secrets themselves
    hook = Hook([200])
    try:
        run = cli(
            "run",
            "hostile.py",
            "-e",
            executor,
            "--set",
            f"hook={hook.url}",
            "--set",
            f"passed={ENV_SECRETS['unicode']}",
            "--set",
            f"passed_too={ENV_SECRETS['quotes']}",
            "-v",
            env=env,
        )
        shown = [
            cli(*args, env=env)
            for args in (
                ["show", "last"],
                ["show", "last", "--json"],
                ["show", "last", "-v"],
                ["logs", "last"],
                ["runs"],
                ["runs", "--json"],
                ["metrics", "last"],
                ["metrics", "last", "--json"],
            )
        ]
    finally:
        hook.close()
    return cli, run, shown, hook.requests


@pytest.mark.parametrize("executor", [pytest.param("threads", marks=pytest.mark.slow), "processes"])
def test_hostile_secrets_in_every_encoding_reach_no_sink(tmp_path, executor):
    cli, run, shown, requests = _hostile_run(tmp_path, executor)
    assert run.returncode == 1, str(run)  # the raise_* tasks failed on purpose
    for result in shown:
        assert result.returncode == 0, str(result)
    assert len(requests) == 1, "the failure alert reached the webhook"
    assert "***" in requests[0]["body"]["text"]
    home_files = {
        str(path.relative_to(cli.home)): path.read_bytes().decode("utf-8", "replace")
        for path in cli.home.rglob("*")
        if path.is_file()
    }
    conn = sqlite3.connect(cli.home / "suiro.db")
    dump = "\n".join(conn.iterdump())
    conn.close()
    sinks = {
        "run stdout": run.stdout,
        "run stderr": run.stderr,
        **{f"home file {name}": text for name, text in home_files.items()},
        "database dump": dump,
        "database values": _db_values(cli.home / "suiro.db"),
        **{f"suiro {' '.join(r.args)}": r.stdout + r.stderr for r in shown},
        **{f"webhook request {i}": json.dumps(r) + r["raw"] for i, r in enumerate(requests)},
    }
    metrics = json.loads(next(r for r in shown if r.args == ("metrics", "last", "--json")).stdout)
    assert metrics, "the metrics named from secrets were recorded (masked)"
    leaks = [
        f"{secret} as {form!r} in {sink}"
        for secret, forms in _every_form().items()
        for form in sorted(forms)
        for sink, text in sinks.items()
        if form in text
    ]
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(leaks[:60])


BAD_PARAMETER = """
from suiro import pipeline, task


@task
def double(count: int) -> int:
    return 2 * count


@pipeline
def counting(count: int = 1):
    return double(count)
"""


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_a_secret_given_as_a_bad_parameter_is_masked_in_the_error_line(tmp_path, verbose):
    cli = Cli(tmp_path)
    cli.write("counting.py", BAD_PARAMETER)
    value = ENV_SECRETS["quotes"]
    result = cli.expect(
        2, "run", "counting.py", "--set", f"count={value}", *verbose, env={"SUIRO_SECRET_QUOTES": value}
    )
    assert "error: pipeline counting: parameter count = " in result.stderr
    assert "is not a valid int" in result.stderr
    leaks = [form for form in encodings(value) if form in result.stdout + result.stderr]
    assert not leaks, str(result)


SHORT = """
import suiro
from suiro import pipeline, task


@task
def use(i: int) -> int:
    return len(suiro.secret("pin")) + len(suiro.secret("pw")) + i


@pipeline
def short(items: tuple[int, ...] = (1, 2, 3)):
    return use.map(items)
"""


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_a_short_secret_is_named_in_one_warning_when_a_run_starts(tmp_path, executor):
    cli = Cli(tmp_path)
    cli.write("short.py", SHORT)
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text("pw: Qx\nlong_enough: fine-value\n", encoding="utf-8")
    env = {"SUIRO_SECRET_PIN": "Zq9", "SUIRO_SECRETS_FILE": str(secrets_file), "SUIRO_FORK": "0"}
    run = cli.ok("run", "short.py", "-e", executor, env=env)
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: secret 'pin' (SUIRO_SECRET_PIN) is shorter than 4 characters, so suiro does not mask it; "
        "give it a longer value.",
        f"warning: secret 'pw' ({secrets_file}) is shorter than 4 characters, so suiro does not mask it; "
        "give it a longer value.",
    ], str(run)
    assert "Zq9" not in run.stdout + run.stderr
    logs = cli.ok("logs", "last", env=env)
    reads = cli.ok("runs", env=env)
    assert "warning" not in logs.stdout + logs.stderr + reads.stderr  # not repeated by workers or reads
