"""R16 with real servers: every failed run notifies by e-mail (aiosmtpd on 127.0.0.1) and webhook (an
HTTP server on 127.0.0.1), once per (run, event, address), bounded in time, retried, recorded,
and never changing the run: a refusing, a closed and a hanging server leave its outcome and its
recorded duration as they were. A SIGKILLed run is announced ``crashed`` exactly once, by the
reaper, to the addresses its pipeline named (kept with the run when it started). S7: no secret in
a message, a payload or a row."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import time
from collections.abc import Iterator

import pytest
from pipelines.cli_harness import Cli
from pipelines.smtp_stub import Silent, SmtpServer, free_port
from pipelines.webhook_stub import Hook
from reliability.rel_harness import rows

from suiro import Notify, api, history, pipeline, secrets, task
from suiro.delivery import About, deliver, message
from suiro.notify import routes
from suiro.store.db import Database


@pytest.fixture
def smtp(monkeypatch) -> Iterator[SmtpServer]:
    server = SmtpServer()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    yield server
    server.close()


@task
def fine() -> int:
    return 1


@task
def boom(x: int) -> int:
    raise ValueError(f"boom on {x}\nsecond line of the error")


def failing(notify: Notify) -> object:
    @pipeline(name="nightly_model", notify=notify)
    def nightly_model():
        return boom(fine())

    return nightly_model


def deliveries(home) -> list[dict]:
    return rows(
        home, "SELECT run_id, event, channel, target, state, attempts, error FROM deliveries ORDER BY id"
    )


def test_r16_a_failed_run_e_mails_what_failed_and_how_to_see_its_logs(smtp, suiro_home):
    result = api.run(failing(Notify(email=["ops@example.com", "ml@example.com"])), executor="sequential")
    assert result.state.value == "failed"
    assert sorted(m["To"] for m in smtp.mailbox.messages) == ["ml@example.com", "ops@example.com"]
    mail = smtp.mailbox.messages[0]
    run = result.run_id
    assert mail["Subject"] == f"[suiro] run {run} of nightly_model failed"
    body = mail.get_content()
    for line in (
        "pipeline:    nightly_model",
        "deployment:  none (started by hand)",
        f"run:         {run}",
        "failed task: boom",
        "error:       ValueError: boom on 1",
        f"logs:        suiro logs {run} boom",
        f"resume:      suiro resume {run}",
    ):
        assert line in body.splitlines(), body
    assert "second line" not in body, "the error's first line only"
    assert [(d["event"], d["channel"], d["state"], d["attempts"]) for d in deliveries(suiro_home)] == [
        ("failed", "email", "sent", 1),
        ("failed", "email", "sent", 1),
    ]


def test_r16_a_notification_is_sent_once_per_run_event_and_address_whoever_sends_it(smtp, suiro_home):
    result = api.run(failing(Notify(email=["ops@example.com"])), executor="sequential")
    (stored,) = rows(suiro_home, "SELECT notify FROM runs")
    again = message("failed", About(run_id=result.run_id, pipeline="nightly_model"))
    outcome = deliver(again, routes(Notify(email=["ops@example.com"])), db=Database.open())
    assert [(d.state, d.attempts) for d in outcome] == [("skipped", 0)], "claimed before: nothing sent"
    assert len(smtp.mailbox.messages) == 1
    assert json.loads(stored["notify"])["routes"][0]["address"] == "ops@example.com"


@pytest.mark.parametrize("server", ["closed port", "refusing recipients"])
def test_r16_a_refusing_server_is_recorded_and_the_run_is_unchanged(
    monkeypatch, suiro_home, server, manual_clock
):
    refusing = SmtpServer(refuse=True) if server == "refusing recipients" else None
    port = refusing.port if refusing else free_port()
    monkeypatch.setenv("SUIRO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SUIRO_SMTP_PORT", str(port))
    try:
        result = api.run(failing(Notify(email=["ops@example.com"])), executor="sequential")
    finally:
        if refusing:
            refusing.close()
    assert result.state.value == "failed" and result.error.task == "boom"
    (delivery,) = deliveries(suiro_home)
    assert delivery["state"] == "failed"
    if refusing:  # a 550 is final: no retry
        assert delivery["attempts"] == 1 and "550" in delivery["error"], delivery
        assert refusing.mailbox.messages == []
    else:  # nobody listening: retried with backoff, then given up
        assert delivery["attempts"] == 4 and "ConnectionRefusedError" in delivery["error"], delivery
        assert manual_clock.sleeps[-3:] == [0.5, 1.0, 2.0]
    (run,) = rows(suiro_home, "SELECT state FROM runs")
    assert run["state"] == "failed"


def test_r16_a_hanging_server_delays_the_end_of_a_run_by_at_most_its_timeout(monkeypatch, suiro_home):
    silent = Silent()
    monkeypatch.setenv("SUIRO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SUIRO_SMTP_PORT", str(silent.port))
    hook = Hook([200])
    try:
        began = time.monotonic()
        result = api.run(
            failing(Notify(email=["ops@example.com"], webhook=hook.url, timeout=1.0)), executor="threads"
        )
        took = time.monotonic() - began
    finally:
        silent.close()
        hook.close()
    assert result.state.value == "failed"
    assert took < 1.0 + 1.5, f"the run's end waited {took:.2f} s for a server that never answers"
    assert silent.accepted, "the server was reached (and said nothing)"
    by_channel = {d["channel"]: d for d in deliveries(suiro_home)}
    assert by_channel["email"]["state"] == "failed" and "timed out" in by_channel["email"]["error"]
    assert by_channel["webhook"]["state"] == "sent", "a hung address does not hold up the others"
    (run,) = rows(suiro_home, "SELECT state, started, ended FROM runs")
    assert run["state"] == "failed" and run["ended"] - run["started"] < 0.5, (
        "recorded duration is the run's own"
    )


def test_r16_a_webhook_answering_500_is_retried_with_one_idempotency_key(suiro_home, manual_clock):
    flaky = Hook([500, 500, 200])
    try:
        result = api.run(failing(Notify(webhook=flaky.url)), executor="sequential")
    finally:
        flaky.close()
    assert result.state.value == "failed"
    assert [r["key"] for r in flaky.requests] == [f"suiro-run-{result.run_id}-failed"] * 3, (
        "same idempotency key"
    )
    body = flaky.requests[-1]["body"]
    assert body["suiro"]["task"] == "boom" and body["suiro"]["logs"] == f"suiro logs {result.run_id} boom"
    assert f"suiro run {result.run_id} of nightly_model failed: ValueError: boom on 1" in body["text"]
    ((delivery),) = deliveries(suiro_home)
    assert (delivery["state"], delivery["attempts"]) == ("sent", 3)
    assert delivery["target"].startswith("http://127.0.0.1:") and "SECRET" not in delivery["target"]


PIPE = """
from suiro import Notify, pipeline, task

@task
def work(x: int) -> int:
    return x + 1

@pipeline(notify=Notify(webhook="{url}"))
def killed():
    return work(work(1))
"""


def test_r16_a_sigkilled_run_is_announced_crashed_exactly_once_by_the_reaper(tmp_path):
    cli = Cli(tmp_path)
    hook = Hook([200])
    try:
        cli.write("killed.py", textwrap.dedent(PIPE.format(url=hook.url)))
        env = {"SUIRO_FAULTPOINTS": "runner.task_done:kill:1"}
        assert cli("run", "killed.py", env=env).returncode < 0
        assert hook.requests == [], "the dying process sends nothing"
        procs = [subprocess.Popen(cli.argv("runs"), env=cli.env({}), cwd=cli.root) for _ in range(2)]
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
        cli.ok("show", "last")
    finally:
        hook.close()
    (alert,) = hook.requests
    (run,) = rows(cli.home, "SELECT id, state FROM runs")
    assert run["state"] == "crashed" and alert["key"] == f"suiro-run-{run['id']}-crashed"
    assert alert["body"]["suiro"]["event"] == "crashed" and alert["body"]["suiro"]["pipeline"] == "killed"
    assert f"suiro resume {run['id']}" in alert["body"]["text"]
    assert [(d["event"], d["state"]) for d in deliveries(cli.home)] == [("crashed", "sent")]


def test_s7_no_secret_in_a_message_a_payload_or_a_row(monkeypatch, smtp, suiro_home):
    canary = "hunter2-CANARY-7f3a"
    token = "tok-CANARY-webhook-91"
    monkeypatch.setenv("SUIRO_SECRET_API_KEY", canary)
    monkeypatch.setenv("SUIRO_SECRET_SLACK_TOKEN", token)
    monkeypatch.setenv("SUIRO_SECRET_SMTP_PASSWORD", "pw-CANARY-smtp-55")
    monkeypatch.setenv("SUIRO_SMTP_USER", "suiro")
    monkeypatch.setenv("SUIRO_SMTP_PASSWORD_SECRET", "smtp_password")
    secrets.reload()
    hook = Hook([200])
    try:

        @task
        def leaky() -> None:
            raise RuntimeError(f"login failed with {secrets.secret('api_key')}")

        @pipeline(notify=Notify(email="ops@example.com", webhook=hook.url.replace("SECRET", token)))
        def leaking():
            return leaky()

        result = api.run(leaking, executor="sequential")
    finally:
        hook.close()
        secrets.reload()
    assert result.state.value == "failed"
    assert smtp.mailbox.logins == [("suiro", "pw-CANARY-smtp-55")], "the password came from suiro.secret"
    assert hook.requests and hook.requests[0]["path"].endswith(token), "the real URL was used"
    sinks = "\n".join([m.decode() for m in smtp.mailbox.raw] + [r["raw"] for r in hook.requests])
    dump = "\n".join(_dump(suiro_home))
    for value in (canary, token, "pw-CANARY-smtp-55"):
        assert value not in sinks, f"{value} in a message"
        assert value not in dump, f"{value} in the database"
    assert "login failed with ***" in sinks, "the error was masked, not dropped"
    assert "{secret:slack_token}" in dump, "the URL is kept as a reference"


def _dump(home) -> list[str]:
    import sqlite3

    with sqlite3.connect(home / "suiro.db") as conn:
        return list(conn.iterdump())


def test_r16_history_shows_the_deliveries_of_a_run(smtp, suiro_home):
    result = api.run(failing(Notify(email=["ops@example.com"])), executor="sequential")
    shown = history.show(result.run_id)
    assert [(d["event"], d["target"], d["state"]) for d in shown["deliveries"]] == [
        ("failed", "ops@example.com", "sent")
    ]
    assert [d["run_id"] for d in history.notifications()] == [result.run_id]


def test_r16_check_late_sends_one_late_notice_per_run_past_its_sla(suiro_home, manual_clock):
    from suiro.notices import check_late
    from suiro.runinfo import Scheduled
    from suiro.store import deployments

    hook = Hook([200])
    db = Database.open()
    now = manual_clock.time()
    deployments.save(
        db,
        deployments.DeploymentRow(
            name="nightly",
            target="x.py:p",
            pipeline="nightly_model",
            sla=3600.0,
            notify={"webhook": hook.url},
        ),
    )
    on_time = api.run(
        failing(Notify(on=["late"])),
        run_id="on-time",
        scheduled=Scheduled(deployment="nightly", logical_time=now),
    )
    ticks = [("never-started", now - 7200), ("on-time", now), ("not-yet-due", now + 60)]
    # A backfill queued yesterday's tick just now: its time runs from now, not from yesterday
    backfilled = [("yesterday", now - 86400, now), ("stuck", now - 2 * 86400, now - 7200)]
    with db.write() as tx:
        for run_id, logical in ticks:
            tx.execute(
                'INSERT INTO ticks (deployment, logical_time, "trigger", run_id, created)'
                " VALUES ('nightly', :t, 'schedule', :run, :t)",
                {"t": logical, "run": run_id},
            )
        for run_id, logical, queued in backfilled:
            tx.execute(
                'INSERT INTO ticks (deployment, logical_time, "trigger", run_id, created)'
                " VALUES ('nightly', :t, 'backfill', :run, :queued)",
                {"t": logical, "run": run_id, "queued": queued},
            )
    try:
        assert check_late(db, now) == 2, "the ticks past their SLA with no finished run"
        assert check_late(db, now) == 0, "announced once"
        manual_clock.advance(3600 + 120)
        assert check_late(db, manual_clock.time()) == 2, "the last and the backfilled one are late now"
    finally:
        hook.close()
    assert on_time.run_id == "on-time"
    late = [r for r in hook.requests if r["body"]["suiro"]["event"] == "late"]
    assert [r["body"]["suiro"]["run_id"] for r in late] == [
        "stuck",
        "never-started",
        "yesterday",
        "not-yet-due",
    ]
    assert [r["body"]["suiro"]["event"] for r in hook.requests] == ["failed", *["late"] * 4], "and it failed"
    assert (
        "is late: not finished 3600 s after its logical time (it is not started)" in late[1]["body"]["text"]
    )
    assert (
        "not finished 3600 s after it was queued by a backfill (it is not started)" in late[0]["body"]["text"]
    )
    assert [d["event"] for d in deliveries(suiro_home) if d["run_id"] != "on-time"] == ["late"] * 4


def test_r16_starttls_asked_of_a_server_without_it_fails_at_once_and_says_so(smtp, monkeypatch, suiro_home):
    monkeypatch.setenv("SUIRO_SMTP_STARTTLS", "1")
    result = api.run(failing(Notify(email=["ops@example.com"])), executor="sequential")
    assert result.state.value == "failed" and smtp.mailbox.messages == []
    (delivery,) = deliveries(suiro_home)
    assert (delivery["state"], delivery["attempts"]) == ("failed", 1), "retrying cannot add STARTTLS"
    assert "STARTTLS extension not supported by server" in delivery["error"]


def test_r16_a_webhook_that_closes_the_socket_is_retried_then_recorded(suiro_home, manual_clock):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []

    def slam() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()  # before any answer

    threading.Thread(target=slam, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    try:
        result = api.run(failing(Notify(webhook=url, retries=2)), executor="sequential")
    finally:
        listener.close()
    assert result.state.value == "failed"
    (delivery,) = deliveries(suiro_home)
    assert (delivery["state"], delivery["attempts"]) == ("failed", 3) and len(accepted) == 3
    assert re.search(r"(Error|Disconnected)\b", delivery["error"]), delivery  # reset, broken pipe...


def test_r16_a_scheduled_run_tells_its_deployments_addresses_and_names_its_logical_time(smtp, suiro_home):
    from suiro.runinfo import Scheduled
    from suiro.store import deployments

    deployments.save(
        Database.open(),
        deployments.DeploymentRow(
            name="nightly", target="x.py:p", pipeline="nightly_model", notify={"email": "oncall@example.com"}
        ),
    )
    tokyo_2am = 1796058000.0  # 2026-12-01 02:00 in Asia/Tokyo
    scheduled = Scheduled(deployment="nightly", logical_time=tokyo_2am, timezone="Asia/Tokyo")
    result = api.run(failing(None), scheduled=scheduled, executor="sequential")
    (mail,) = smtp.mailbox.messages
    assert mail["To"] == "oncall@example.com", "the deployment's layer, from the database"
    assert mail["Subject"] == f"[suiro] run {result.run_id} of nightly (nightly_model) failed"
    assert "deployment:  nightly (logical time 2026-12-01 02:00+09:00 Asia/Tokyo)" in mail.get_content()


def test_bad_smtp_settings_are_one_sentence_before_a_run_that_would_e_mail(monkeypatch, suiro_home):
    from suiro.notify import NotifyError

    monkeypatch.setenv("SUIRO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SUIRO_SMTP_PORT", "smtp")
    with pytest.raises(
        NotifyError, match=r"^SUIRO_SMTP_PORT='smtp' is not a port number; fix it or unset it\.$"
    ):
        api.run(failing(Notify(email="ops@example.com")), executor="sequential")
    assert rows(suiro_home, "SELECT id FROM runs") == [], "nothing ran"
    assert api.run(
        failing(Notify(webhook="http://127.0.0.1:9/x", retries=0)), executor="sequential"
    ).state.value == ("failed"), "a run that e-mails nobody does not need them"


def test_r16_the_project_files_notify_and_smtp_reach_a_failed_run_started_in_its_folder(
    suiro_home, tmp_path, monkeypatch
):
    """suiro.yaml's project-wide ``notify:`` and ``smtp:`` apply to every run started in its folder
    (the scheduler's working directory): no environment variable, nothing in the pipeline."""
    server = SmtpServer()
    try:
        (tmp_path / "suiro.yaml").write_text(
            textwrap.dedent(f"""\
                notify:
                  email: [team@example.com]
                smtp:
                  host: {server.host}
                  port: {server.port}
                """),
            encoding="utf-8",
        )
        monkeypatch.chdir(tmp_path)
        result = api.run(failing(None), executor="sequential")
        assert result.state.value == "failed"
        assert [m["To"] for m in server.mailbox.messages] == ["team@example.com"]
        assert f"run {result.run_id} of nightly_model failed" in server.mailbox.messages[0]["Subject"]
    finally:
        server.close()
