"""Alerts against a real HTTP server on 127.0.0.1: delivery, retries, refusal, redaction."""

from __future__ import annotations

import pytest
from pipelines.webhook_stub import Hook

from suiro.alerts import AlertDeliveryError, send_alert


@pytest.fixture
def hook(request):
    made = []

    def make(*statuses):
        made.append(Hook(list(statuses)))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_an_alert_is_posted_as_a_slack_compatible_message(hook):
    h = hook(200)
    result = send_alert("model failed the gate", details={"metric": "roc_auc"}, webhook=h.url)
    assert result.delivered and result.attempts == 1 and result.status == 200
    (request,) = h.requests
    assert request["body"]["text"] == "model failed the gate"
    assert request["body"]["suiro"] == {"level": "warning", "metric": "roc_auc"}
    assert request["path"] == "/services/T000/SECRET"


def test_a_failing_webhook_is_retried_with_the_same_idempotency_key(hook):
    h = hook(500, 503, 200)
    result = send_alert("flaky", webhook=h.url, retry_delay=0.01)
    assert result.delivered and result.attempts == 3
    assert len({r["key"] for r in h.requests}) == 1


def test_a_webhook_that_keeps_failing_raises_after_bounded_retries_without_leaking_its_token(hook):
    h = hook(500)
    with pytest.raises(
        AlertDeliveryError, match=r"could not be delivered to http://127\.0\.0\.1:\d+/\.\.\. \(HTTP 500\)"
    ) as info:
        send_alert("down", webhook=h.url, retries=2, retry_delay=0.01)
    assert len(h.requests) == 3  # the first attempt and two retries, no more
    assert "SECRET" not in str(info.value)


def test_a_webhook_that_rejects_the_payload_is_not_retried(hook):
    h = hook(400)
    with pytest.raises(AlertDeliveryError, match="HTTP 400"):
        send_alert("bad", webhook=h.url, retries=3, retry_delay=0.01)
    assert len(h.requests) == 1


def test_an_unreachable_webhook_fails_with_the_reason(unused_port=None):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(AlertDeliveryError, match="ConnectionRefusedError"):
        send_alert("nobody home", webhook=f"http://127.0.0.1:{port}/x", retries=1, retry_delay=0.01)


def test_without_a_webhook_the_alert_is_only_logged(monkeypatch, caplog):
    monkeypatch.delenv("SUIRO_ALERT_WEBHOOK", raising=False)
    with caplog.at_level("WARNING", logger="suiro.alerts"):
        result = send_alert("just a log line")
    assert not result.delivered and result.attempts == 0
    assert "just a log line" in caplog.text


def test_the_webhook_can_come_from_the_environment(hook, monkeypatch):
    h = hook(204)
    monkeypatch.setenv("SUIRO_ALERT_WEBHOOK", h.url)
    assert send_alert("from env").delivered
    assert h.requests[0]["body"]["text"] == "from env"


def test_secrets_in_the_details_are_masked_and_the_body_stays_valid_json(hook, monkeypatch):
    from suiro import secrets

    monkeypatch.setenv("SUIRO_SECRET_TOKEN", 'tok-"ab\\')  # a quote and a final backslash
    secrets.reload()
    try:
        h = hook(200)
        send_alert(
            'token tok-"ab\\ expired', details={"token": 'tok-"ab\\', "why": ['x tok-"ab\\']}, webhook=h.url
        )
    finally:
        monkeypatch.undo()
        secrets.reload()
    (request,) = h.requests
    assert request["body"]["text"] == "token *** expired"
    assert request["body"]["suiro"] == {"level": "warning", "token": "***", "why": ["x ***"]}
    assert "tok-" not in request["raw"]


def test_a_webhook_variable_that_is_no_url_fails_at_once_naming_it(monkeypatch):
    monkeypatch.setenv("SUIRO_ALERT_WEBHOOK", "hooks.example/x?token=t0k")
    with pytest.raises(
        AlertDeliveryError, match=r"^SUIRO_ALERT_WEBHOOK='hooks.example/x\?\*\*\*' is not usable"
    ) as caught:
        send_alert("nowhere to go", retry_delay=5)  # no retry waits: they could never help
    assert "t0k" not in str(caught.value)
